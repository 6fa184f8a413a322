/** `npm run check` on a plausible wrong answer: chapter 02 without the parent-death signal.
 *  A killed engine then leaves its container running, holding the engine's output open, and a
 *  test that waits for that output to close used to wait forever, printing nothing. The check
 *  must instead fail within minutes, say why in plain words, and print no raw TAP. And run(),
 *  which every test uses, gives up in words too, killing what it waited on. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { CHAPTERS_DIR } from '../scripts/chapters.ts';
import { WORK_DIR } from '../scripts/workshop.ts';
import { ROOTFS, run } from './helpers/chapter.ts';

/** The per-test limit of this check: short, so that the test takes a few minutes. */
const LIMIT_SECONDS = 60;

test('chapter 02 without the parent-death signal fails npm run check in plain words, in minutes', () => {
  const dir = join(WORK_DIR, `test-${process.pid}-02-no-pdeathsig`);
  after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(CHAPTERS_DIR, '02-namespaces'), dir, { recursive: true });
  const container = join(dir, 'container.ts');
  const code = readFileSync(container, 'utf8');
  const withoutSignal = code.replace(/^\s*dieWithParent\(.*\n/m, '');
  assert.notEqual(withoutSignal, code, 'chapter 02 sets the parent-death signal with dieWithParent()');
  writeFileSync(container, withoutSignal);

  const began = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test.ts', '--check', '02', '--dir', relative(PROJECT_ROOT, dir), '--bail'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 15 * 60_000,
    env: { ...process.env, NUTSHELL_TEST_TIMEOUT: String(LIMIT_SECONDS), INIT_CWD: PROJECT_ROOT },
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.signal, null, `the check itself hung (killed after 15 minutes):\n${output}`);
  assert.notEqual(r.status, 0, output);
  assert.match(r.stdout, /^✓ chapter 02 › /m, 'the tests that still hold pass, one line each');
  assert.match(r.stdout, /^✗ chapter 02 › a container does not outlive a killed engine/m, output);
  assert.match(r.stdout, new RegExp(`did not finish within ${LIMIT_SECONDS} s: the engine exited, but a process it started still held its output open \\(a container outlived its engine\\?\\)`), output);
  assert.match(r.stdout, /^some tests failed: /m);
  assert.match(r.stdout, /^the first failure: chapter 02 › a container does not outlive a killed engine/m);
  assert.doesNotMatch(output, /TAP version|^\s*(not )?ok \d|^\s*# Subtest/m, 'no raw TAP');
  assert.ok(Date.now() - began < 10 * 60_000, `took ${Math.round((Date.now() - began) / 1000)} s`);
});

/** Whether a process lives (a zombie, killed but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('run() gives up on an engine that does not exit, and kills it with the container', async () => {
  // Chapter 01 has no PID namespace: $$ is the host's PID of the container's shell.
  let shell = 0;
  await assert.rejects(
    run('01', ['run', ROOTFS, 'sh', '-c', 'echo $$; exec sleep 1000'], { timeout: 5000 }),
    (err: Error) => {
      assert.match(err.message, /^the engine did not exit within 5 s \(a container kept it alive\?\): run .* sh -c/);
      shell = Number(err.message.match(/its last output:\n(\d+)/)?.[1]);
      return true;
    },
  );
  assert.ok(shell > 0, 'the container printed its PID');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(!alive(shell), `the container (PID ${shell}) was killed`);
});
