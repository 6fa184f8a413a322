/** Tooling: the test command. Tests follow the ladder: a test of chapter NN also runs on each
 *  later chapter that still has its behaviour (tests/helpers/ladder.ts).
 *    npm test                         check chapters/ against ladder/, type-check, then every
 *                                     test on every chapter
 *    npm test -- 02 03                every test that holds for chapter 02 or 03: theirs, and
 *                                     those of earlier chapters that still hold there
 *    npm run -s check -- 02 [--dir <dir>] [--all] [--bail]
 *                                     chapter 02's own tests against a learner's copy (default
 *                                     work/02-namespaces), one plain line per test, each with a
 *                                     time limit (scripts/check-reporter.ts,
 *                                     tests/helpers/test-timeout.ts); --all adds the tests of
 *                                     earlier chapters that still hold for 02; --bail stops at
 *                                     the first failure */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { buildRootfs, PROJECT_ROOT } from './build-rootfs.ts';
import { chapterProgram, findChapter } from './chapters.ts';
import { defaultCopyOf, misplacedCopy } from './workshop.ts';

const { values, positionals } = parseArgs({
  options: { check: { type: 'boolean' }, dir: { type: 'string' }, all: { type: 'boolean' }, bail: { type: 'boolean' } },
  allowPositionals: true,
});

/** scripts/check-reporter.ts compiled to a .mjs file in `dir` (it imports only Node's modules). */
function reporterAsJavaScript(dir: string): string {
  const source = readFileSync(join(PROJECT_ROOT, 'scripts', 'check-reporter.ts'), 'utf8');
  const compiled = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  writeFileSync(join(dir, 'check-reporter.mjs'), compiled.outputText);
  return join(dir, 'check-reporter.mjs');
}

function fail(message: string): never {
  console.error(`nutshell: ${message}`);
  process.exit(2);
}

const testsDir = join(PROJECT_ROOT, 'tests');
const chapters = positionals.map((id) => findChapter(id));
const env: NodeJS.ProcessEnv = { ...process.env };
// Set when this runs inside a test (tests/check.test.ts): node --test would then report to that
// test's runner instead of printing.
delete env.NODE_TEST_CONTEXT;
if (values.check) {
  if (chapters.length !== 1) fail('usage: npm run -s check -- <chapter> [--dir <your copy of it>] [--all] [--bail]');
  // npm runs scripts from the checkout; a --dir the learner typed is relative to where they were.
  const dir = values.dir ? resolve(process.env.INIT_CWD ?? process.cwd(), values.dir) : defaultCopyOf(chapters[0]!);
  if (!existsSync(dir)) fail(`no copy of chapter ${chapters[0]} at ${relative(PROJECT_ROOT, dir)}: make one with npm run -s workshop -- start ${chapters[0]!.slice(0, 2)}`);
  const misplaced = misplacedCopy(dir);
  if (misplaced) fail(misplaced);
  try {
    chapterProgram(chapters[0]!, dir); // fails early, in one line, when there is no main.ts
  } catch (err) {
    fail((err as Error).message);
  }
  env.NUTSHELL_CHAPTER_DIR = dir;
} else if (values.dir || values.all || values.bail) {
  fail('--dir, --all and --bail are options of npm run check');
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
// A check runs the chapter's own files: they test what the learner wrote. --all adds the files
// of earlier chapters that still hold for it (what the learner might have broken), and time.
const ownOnly = values.check && !values.all;
// The lessons and the exercises' checks register one test per chapter too, so `npm test -- 03`
// runs lesson 03 and its exercises; a check leaves them out: they run our chapters, not the copy.
const PER_CHAPTER_FILES = ['lessons.test.ts', 'exercises.test.ts'];
// The guest's runs of the cgroup tests (a kernel with cgroup v2 only, tests/helpers/guest.ts)
// test our chapters, not a learner's copy, and take minutes: checks leave them out.
const OURS_ONLY = /^\d\d-cgroups-v2-guest\.test\.ts$/;
const files = last
  ? allTests.filter((f) => (chapterOf(f) !== undefined ? (ownOnly ? chapterOf(f) === last : chapterOf(f)! <= last) && !(values.check && OURS_ONLY.test(f)) : !values.check && PER_CHAPTER_FILES.includes(f)))
  : allTests;
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

// A check reports in plain words, and limits each test (a wrong answer often hangs). node --test
// loads a reporter before tsx can compile it, so it gets the reporter as plain JavaScript.
const scratch = values.check ? mkdtempSync(join(tmpdir(), 'nutshell-check-')) : undefined;
const checkFlags = scratch ? ['--import', join(testsDir, 'helpers', 'test-timeout.ts'), `--test-reporter=${reporterAsJavaScript(scratch)}`] : [];
if (scratch && values.bail) env.NUTSHELL_CHECK_BAIL = join(scratch, 'failed');
// One file at a time: the tests share the host's cgroups and measure CPU time. A file that
// hangs fails after 20 minutes instead of holding the whole run.
// In a network namespace of its own, with only `lo` (brought up): the registries the tests start
// on 127.0.0.1, and the bridges, veths and nftables tables of chapter 10, live there and vanish
// with it, so no test touches the host's network configuration. IP forwarding is on there from
// the start: chapter 10's engine would otherwise turn it on, and say so, in whichever test ran
// the first container (tests/10-network.test.ts checks that line in namespaces of its own).
const inPrivateNetwork = ['--net', '--', 'sh', '-c', 'ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward && exec "$@"', 'sh', process.execPath];
const result = spawnSync('unshare', [...inPrivateNetwork, '--import', 'tsx', ...checkFlags, '--test', '--test-concurrency=1', '--test-timeout=1200000', ...files.map((f) => join(testsDir, f))], {
  stdio: 'inherit',
  env,
  cwd: PROJECT_ROOT,
});
if (scratch) rmSync(scratch, { recursive: true, force: true });
if (result.error) fail(`cannot start the tests in a network namespace of their own: ${result.error.message} (unshare, from util-linux)`);
process.exitCode = result.status ?? 1;
