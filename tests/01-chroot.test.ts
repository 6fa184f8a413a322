/** Chapter 01 · chroot: the command sees the rootfs as "/", exit codes come back, bad input
 *  is one line — and a root process escapes a bare chroot. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { assertOneLineError, ROOTFS, run } from './helpers/chapter.ts';

const CH = '01';

test('ls / inside lists the rootfs, not the host', async () => {
  const r = await run(CH, ['run', ROOTFS, 'ls', '-1a', '/']);
  assert.equal(r.code, 0, r.stderr);
  const inside = r.stdout.split('\n').filter((n) => n && n !== '.' && n !== '..').sort();
  assert.deepEqual(inside, readdirSync(ROOTFS).sort());
  assert.notDeepEqual(inside, readdirSync('/').sort());
});

test('stdin and stdout are passed through', async () => {
  const r = await run(CH, ['run', ROOTFS, 'tr', 'a-z', 'A-Z'], { input: 'hello\n' });
  assert.equal(r.stdout, 'HELLO\n');
});

test('exit codes pass through: 0, 3, and 137 for SIGKILL', async () => {
  assert.equal((await run(CH, ['run', ROOTFS, 'true'])).code, 0);
  assert.equal((await run(CH, ['run', ROOTFS, 'sh', '-c', 'exit 3'])).code, 3);
  assert.equal((await run(CH, ['run', ROOTFS, 'sh', '-c', 'kill -KILL $$'])).code, 137);
});

test('options of the command are not taken for ours', async () => {
  const r = await run(CH, ['run', ROOTFS, 'sh', '-c', 'echo "$0 $1"', '--trace', '-x']);
  assert.equal(r.stdout, '--trace -x\n');
  assert.equal(r.stderr, '');
});

test('--trace prints chroot, chdir and execve with their reasons', async () => {
  const r = await run(CH, ['run', '--trace', ROOTFS, 'true']);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /chroot\(".*rootfs"\) = 0 .*#/);
  assert.match(r.stderr, /chdir\("\/"\) = 0/);
  assert.match(r.stderr, /execve\("\/bin\/true"/);
});

test('the chroot shares the host hostname: chroot hides files, not names', async () => {
  const r = await run(CH, ['run', ROOTFS, 'hostname']);
  assert.equal(r.stdout.trim(), (await import('node:os')).hostname());
});

test('escape: root breaks out of a bare chroot and reaches the host root', async () => {
  const r = await run(CH, ['escape', ROOTFS]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ESCAPED/);
  const listed = r.stdout.match(/ESCAPED.*\n\s+\/ lists (.*)/)?.[1]?.split(' ');
  assert.deepEqual(listed, readdirSync('/').sort());
  assert.ok(!readdirSync(ROOTFS).includes('.nutshell-escape'), 'the escape hatch is cleaned up');
});

test('bad input: one line on stderr and a non-zero exit', async () => {
  assertOneLineError(await run(CH, ['run', '/no/such/rootfs', 'sh']), /rootfs not found/);
  const notFound = await run(CH, ['run', ROOTFS, 'no-such-command']);
  assertOneLineError(notFound, /command not found in the rootfs: no-such-command/);
  assert.equal(notFound.code, 127);
  assertOneLineError(await run(CH, ['frobnicate']), /unknown verb "frobnicate"/);
  assertOneLineError(await run(CH, ['run', '--bogus', ROOTFS, 'sh']), /Unknown option '--bogus'/);
  assertOneLineError(await run(CH, ['run', ROOTFS]), /run needs a rootfs and a command/);
});

test('not root: chroot fails with EPERM, named in one line', async () => {
  const r = await run(CH, ['run', ROOTFS, 'true'], { uid: 65534, gid: 65534 });
  assertOneLineError(r, /chroot\(".*"\): EPERM .*are you root\?/);
});
