/** Tooling: the test command.
 *    npm test                         type-check, then every test
 *    npm test -- 02 03                only those chapters' tests
 *    npm run check -- 02 --dir <dir>  chapter 02's tests against a learner's copy of it */
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

const allTests = readdirSync(testsDir).filter((f) => f.endsWith('.test.ts')).sort();
const files = chapters.length
  ? allTests.filter((f) => chapters.some((c) => f.startsWith(c.slice(0, 3))))
  : allTests;
if (files.length === 0) fail(`no tests for ${positionals.join(' ')}`);

if (chapters.length === 0) {
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

const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files.map((f) => join(testsDir, f))], {
  stdio: 'inherit',
  env,
  cwd: PROJECT_ROOT,
});
process.exitCode = result.status ?? 1;
