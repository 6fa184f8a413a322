/** The workshop kit (scripts/starter.ts, scripts/workshop.ts): each chapter's starter code has
 *  holes where its lesson is, `workshop start` copies it (or the finished chapter) where a
 *  learner's copy can run, and `npm run check` fails on the starter.
 *
 *  That the finished chapter passes `npm run check` is what the rest of the suite shows: it
 *  runs every test against chapters/NN-name, and `check` runs the same tests against a copy
 *  (tests/helpers/ladder.ts swaps the folder, nothing else). So it is not run again here. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { CHAPTERS_DIR, listChapters } from '../scripts/chapters.ts';
import { starterOf } from '../scripts/starter.ts';
import { WORK_DIR } from '../scripts/workshop.ts';

/** `npm run -s <script> -- args`, without npm: the same program, from the checkout. */
function npmRun(script: 'workshop' | 'check', args: string[], timeout = 10 * 60_000) {
  const program = script === 'workshop' ? ['scripts/workshop.ts'] : ['scripts/test.ts', '--check'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...program, ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout,
    // A wrong answer fails at its first test; a limit keeps a hung one from holding the suite.
    env: { ...process.env, NUTSHELL_TEST_TIMEOUT: '120', INIT_CWD: PROJECT_ROOT },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh place for a copy, two levels below the checkout as a copy must be; removed after. */
function copyDir(name: string): string {
  const dir = join(WORK_DIR, `test-${process.pid}-${name}`);
  after(() => rmSync(dir, { recursive: true, force: true }));
  return relative(PROJECT_ROOT, dir);
}

/** Every file under `dir`, path → content. */
function readTree(dir: string): Record<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return Object.fromEntries(files.map((e) => [relative(dir, join(e.parentPath, e.name)), readFileSync(join(e.parentPath, e.name), 'utf8')]));
}

test('starter: a new function keeps its comment and signature, new lines in an old one become one TODO line', () => {
  const lines = [
    "import { a } from './a.ts';",
    '/** Old, with a new line. */',
    'export function old(x: number): number {',
    '  const y = x + 1;',
    "  log('new');", // new
    '  return y;',
    '}',
    '/** Brand new: says what it does. */', // new
    'export function fresh(x: number): string {', // new
    '  return String(x);', // new
    '}', // new
    '/** Old, but its result now comes from a new line. */',
    'function changed(): number {',
    '  const z = 1;',
    '  const w = compute(z);', // new: declares a name used below
    '  return w;', // new
    '}',
    'class Child extends Base {',
    '  constructor() {', // new
    '    super();', // new
    '    this.x = 1;', // new
    '  }', // new
    '}',
  ];
  const isNew = lines.map((_, i) => [4, 7, 8, 9, 10, 14, 15, 18, 19, 20, 21].includes(i));
  const out = starterOf('f.ts', lines, isNew, '02').split('\n');
  assert.ok(out.includes("  // TODO (02): call log() (1 line in the chapter)"), out.join('\n'));
  assert.ok(out.includes('  return y;'), 'the old lines stay');
  assert.ok(out.includes('/** Brand new: says what it does. */') && out.includes('export function fresh(x: number): string {'));
  assert.ok(out.includes("  throw new Error('TODO (chapter 02): write fresh(), as the comment above it says');"), out.join('\n'));
  assert.ok(!out.includes('  return String(x);'), 'the new body is gone');
  assert.ok(out.includes("  throw new Error('TODO (chapter 02): changed() changes in this chapter: write it again, as the comment above it says');"), out.join('\n'));
  assert.ok(out.includes('    super();') && !out.includes('    this.x = 1;'), 'a derived constructor keeps its super() call');
  assert.equal(starterOf('f.ts', lines, lines.map(() => false), '02'), lines.map((l) => `${l}\n`).join(''), 'no new line: no change');
});

test('workshop start and check refuse a copy that is not two levels below the checkout; start refuses one that exists', () => {
  const outside = npmRun('workshop', ['start', '02', '/tmp/nutshell-elsewhere']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr.trim(), /^nutshell: \/tmp\/nutshell-elsewhere is not two levels below the checkout .* imports \.\.\/\.\.\/lib/);
  assert.equal(outside.stderr.trim().split('\n').length, 1, outside.stderr);
  assert.ok(!existsSync('/tmp/nutshell-elsewhere'));
  const deep = npmRun('workshop', ['start', '02', 'work/a/b']);
  assert.equal(deep.code, 2, deep.stderr);
  const check = npmRun('check', ['02', '--dir', '/tmp']);
  assert.equal(check.code, 2, check.stderr);
  assert.match(check.stderr, /^nutshell: \/tmp is not two levels below the checkout/);
  const dir = copyDir('exists');
  assert.equal(npmRun('workshop', ['start', '01', dir]).code, 0);
  const again = npmRun('workshop', ['start', '01', dir]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists/);
});

for (const chapter of listChapters()) {
  const number = chapter.slice(0, 2);
  test(`${number}: start --solved copies the chapter as it is`, () => {
    const dir = copyDir(`solved-${chapter}`);
    const r = npmRun('workshop', ['start', number, dir, '--solved']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`npm run -s check -- ${number} --dir ${dir}`));
    assert.deepEqual(readTree(join(PROJECT_ROOT, dir)), readTree(join(CHAPTERS_DIR, chapter)));
  });

  test(`${number}: the starter code fails npm run check, in plain words`, () => {
    const dir = copyDir(`starter-${chapter}`);
    const started = npmRun('workshop', ['start', number, dir]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(readTree(join(PROJECT_ROOT, dir))['main.ts'] ?? '', /./);
    // --bail: the first failure is enough, and keeps this to seconds per chapter.
    const r = npmRun('check', [number, '--dir', dir, '--bail']);
    assert.notEqual(r.code, 0, `the starter of ${chapter} passed its check:\n${r.stdout}`);
    assert.match(r.stdout, /^✗ /m, r.stdout + r.stderr);
    assert.match(r.stdout, /^some tests failed: \d+ passed, [1-9]\d* failed/m);
    assert.doesNotMatch(r.stdout, /^TAP version|^(not )?ok \d/m);
  });
}
