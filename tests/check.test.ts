/** `npm run check` on a plausible wrong answer: chapter 02 without the parent-death signal.
 *  A killed engine then leaves its container running, holding the engine's output open, and a
 *  test that waits for that output to close used to wait forever, printing nothing. The check
 *  must instead fail within minutes, say why in plain words, and print no raw TAP. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { CHAPTERS_DIR } from '../scripts/chapters.ts';
import { WORK_DIR } from '../scripts/workshop.ts';

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
