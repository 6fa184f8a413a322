/** Test helper: cgroup v2 for real. This project's machines mount cgroup v1, and most
 *  learners' (Debian 12, Ubuntu 22.04, Fedora) mount cgroup v2 only: so every chapter's cgroup
 *  tests run twice. Natively, in their own files, on whatever the host mounts; and in a guest
 *  whose kernel mounts cgroup2 alone (`npm run vm`, scripts/vm.ts): the same files, which name
 *  the version they ran on in their suites' names. Also run there: tests/guest/, the tests that
 *  need a kernel of their own (one whose modules are not loaded yet).
 *  One guest per chapter, so that a failure names its chapter; its boot costs about 20 s, and a
 *  chapter's tests minutes. tests/NN-cgroups-v2-guest.test.ts each take a range of chapters, so
 *  that no file comes near the 20 minutes a test file may take (scripts/test.ts). The guest sees
 *  the checkout read-only: the chapters' bundles and the test rootfs are made here first. Not
 *  part of a workshop check (scripts/test.ts): these test our chapters on two kernels. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRootfs, PROJECT_ROOT } from '../../scripts/build-rootfs.ts';
import { compiledProgram } from '../../scripts/compiled.mjs';
import { chapterProgram, listChapters } from '../../scripts/project.mjs';
import { ROOTFS } from './chapter.ts';
import { chaptersFrom, isFrom } from './ladder.ts';

const TESTS = join(PROJECT_ROOT, 'tests');
/** The files that test cgroups against the kernel, with the first chapter each one tests. */
const CGROUP_FILES: [file: string, from: string][] = [
  ['03-cgroups.test.ts', '03'],
  ['03-cgroup-drivers.test.ts', '03'],
  ['09-devices.test.ts', '08'],
];
/** tests/guest/NN-*.test.ts: for chapter NN on, in the guest only. */
const GUEST_ONLY: [file: string, from: string][] = existsSync(join(TESTS, 'guest'))
  ? readdirSync(join(TESTS, 'guest')).filter((f) => /^\d\d-.*\.test\.ts$/.test(f)).sort().map((f) => [join('guest', f), f.slice(0, 2)])
  : [];
/** A chapter's tests in the guest may take this long (emulated, each Node start takes seconds). */
const GUEST_TIMEOUT_S = 1200;

/** The arguments of `node` that run `argv` in the guest (scripts/vm.ts), for at most `seconds`. */
export function vmArguments(seconds: number, argv: string[]): string[] {
  return ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'vm.ts'), '--timeout', String(seconds), ...argv];
}

/** `npm run vm -- node --test …` for one chapter: its exit code and its TAP report. */
function runInGuest(chapter: string, files: string[]): Promise<{ code: number | null; tap: string; stderr: string }> {
  const guestCommand = [process.execPath, '--import', 'tsx', '--test', '--test-reporter=tap', '--test-concurrency=1', ...files.map((f) => join(TESTS, f))];
  const child = spawn(process.execPath, vmArguments(GUEST_TIMEOUT_S, guestCommand), {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NUTSHELL_CHAPTERS: chapter, NODE_TEST_CONTEXT: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tap = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (tap += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, tap, stderr })));
}

/** The failed tests of a TAP report, with the lines that say why: what an assertion shows. */
function failures(tap: string): string {
  const lines = tap.split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (/^\s*not ok /.test(line)) out.push(...lines.slice(i, i + 25));
  });
  return out.join('\n').slice(0, 12_000) || tap.slice(-4000);
}

/** A summary count of a TAP report ("# pass 42"). */
function count(tap: string, what: string): number | undefined {
  const found = new RegExp(`^# ${what} (\\d+)$`, 'm').exec(tap);
  return found ? Number(found[1]) : undefined;
}

/** One test per chapter from `first` to `last`: its cgroup tests pass in the guest. */
export function testCgroupsInGuest(first: string, last?: string): void {
  // The guest's checkout is read-only: what the tests would build on first use is built now,
  // the bundle of every chapter included (chapters 05–07 make their test images with the last
  // chapter's `import`, tests/helpers/chapter.ts).
  const chapters = chaptersFrom(first, last);
  if (chapters.length === 0) return;
  buildRootfs(ROOTFS);
  for (const chapter of listChapters()) compiledProgram(chapterProgram(chapter));

  for (const ch of chapters) {
    test(`chapter ${ch}: the cgroup tests pass in a guest that mounts cgroup v2 only`, { timeout: (GUEST_TIMEOUT_S + 120) * 1000 }, async () => {
      const files = [...CGROUP_FILES, ...GUEST_ONLY].filter(([, from]) => isFrom(ch, from)).map(([file]) => file);
      const { code, tap, stderr } = await runInGuest(ch, files);
      assert.equal(code, 0, `the guest's tests failed (exit ${code}):\n${failures(tap)}\n${stderr.slice(-2000)}`);
      assert.deepEqual(
        { fail: count(tap, 'fail'), skipped: count(tap, 'skipped'), todo: count(tap, 'todo'), cancelled: count(tap, 'cancelled') },
        { fail: 0, skipped: 0, todo: 0, cancelled: 0 },
        'nothing failed, was skipped or left undone in the guest',
      );
      assert.ok((count(tap, 'pass') ?? 0) > 0, `tests ran in the guest:\n${tap.slice(-2000)}`);
      // Each file names the version it found in its suites' names: v2, never v1.
      assert.match(tap, new RegExp(`# Subtest: chapter ${ch}, on cgroup v2\\n`), 'the command-line tests ran on v2');
      assert.match(tap, /# Subtest: cgroup v2, for real on this host\n/, 'the driver ran against the v2 kernel');
      assert.doesNotMatch(tap, /cgroup v1/, 'nothing in the guest ran on v1');
    });
  }
}
