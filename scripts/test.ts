/** Tooling: the test command. Tests follow the ladder: a test of chapter NN also runs on each
 *  later chapter that still has its behaviour (tests/helpers/ladder.ts).
 *    npm test                         check chapters/ against ladder/, type-check, then every
 *                                     test on every chapter
 *    npm test -- 02 03                every test that holds for chapter 02 or 03: theirs, and
 *                                     those of earlier chapters that still hold there
 *    npm run check -- 02 --dir <dir>  every test that holds for chapter 02, against a learner's copy */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRootfs, PROJECT_ROOT } from './build-rootfs.ts';
import { chapterProgram, findChapter } from './chapters.ts';

const { values, positionals } = parseArgs({
  options: { check: { type: 'boolean' }, dir: { type: 'string' } },
  allowPositionals: true,
});

function fail(message: string): never {
  console.error(`nutshell: ${message}`);
  process.exit(2);
}

const testsDir = join(PROJECT_ROOT, 'tests');
const chapters = positionals.map((id) => findChapter(id));
const env: NodeJS.ProcessEnv = { ...process.env };
if (values.check) {
  if (chapters.length !== 1 || !values.dir) fail('usage: npm run check -- <chapter> --dir <your copy of the chapter>');
  const dir = resolve(values.dir);
  chapterProgram(chapters[0]!, dir); // fails early, in one line, when there is no main.ts
  env.NUTSHELL_CHAPTER_DIR = dir;
}

// Each test file registers its tests for the chapters named here (every chapter when unset).
// A file of chapter NN holds tests for NN and later chapters only, so the files of chapters
// after the last one named are left out; files of no chapter (docs, ladder) run only when
// every chapter is tested.
const ids = chapters.map((c) => c.slice(0, 2)).sort();
if (ids.length) env.NUTSHELL_CHAPTERS = ids.join(',');
else delete env.NUTSHELL_CHAPTERS;
const last = ids.at(-1);
const allTests = readdirSync(testsDir).filter((f) => f.endsWith('.test.ts')).sort();
const chapterOf = (file: string) => file.match(/^(\d\d)-/)?.[1];
const files = last ? allTests.filter((f) => chapterOf(f) !== undefined && chapterOf(f)! <= last) : allTests;
if (files.length === 0) fail(`no tests for ${positionals.join(' ')}`);

if (chapters.length === 0) {
  // First: the chapters and their diffs must be what ladder/ generates (a hand edit fails here).
  const check = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'generate.ts'), '--check'], { stdio: 'inherit' });
  if (check.status !== 0) fail('chapters/, docs/diffs/ or workshop/ differ from ladder/: edit ladder/source, then npm run generate (docs/MAINTAINING.md)');
  const tsc = spawnSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', PROJECT_ROOT], { stdio: 'inherit' });
  if (tsc.status !== 0) fail('type check failed (tsc --noEmit)');
  console.log('type check: ok');
}
try {
  buildRootfs();
} catch (err) {
  fail((err as Error).message);
}
if (!existsSync('/sys/fs/cgroup')) console.warn('warning: no /sys/fs/cgroup');

// One file at a time: the tests share the host's cgroups and measure CPU time. A file that
// hangs fails after 20 minutes instead of holding the whole run.
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=1200000', ...files.map((f) => join(testsDir, f))], {
  stdio: 'inherit',
  env,
  cwd: PROJECT_ROOT,
});
process.exitCode = result.status ?? 1;
