/** Chapter 02 · namespaces: the container has its own hostname, PID 1, mounts and network;
 *  `exec` enters it; the chroot escape fails; signals and exit codes behave; nothing leaks. */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, copyOfRootfs, ROOTFS as SHARED_ROOTFS, run, start, tempDir } from './helpers/chapter.ts';

const CH = '02';
// A private copy, so that containers of this file can be told apart from any other on the host.
const ROOTFS = copyOfRootfs();
const stateDir = tempDir('nutshell-state-');
const env = { ...process.env, NUTSHELL_STATE_DIR: stateDir };

test('the hostname inside is --hostname, and the host keeps its own', async () => {
  const r = await run(CH, ['run', '--hostname', 'inner-box', ROOTFS, 'hostname'], { env });
  assert.equal(r.stdout.trim(), 'inner-box', r.stderr);
  assert.equal(hostname(), readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
  assert.notEqual(hostname(), 'inner-box');
});

test('without --hostname the container gets a generated one', async () => {
  const r = await run(CH, ['run', ROOTFS, 'hostname'], { env });
  assert.match(r.stdout.trim(), /^[0-9a-f]{12}$/);
});

test('the command is PID 1 and no host process is visible', async () => {
  const r = await run(CH, ['run', ROOTFS, 'sh', '-c', 'echo $$; ls /proc | grep -c "^[0-9]"'], { env });
  const [pid, count] = r.stdout.trim().split('\n').map(Number);
  assert.equal(pid, 1, r.stderr);
  assert.ok(count! <= 3, `only the container's processes are visible, saw ${count}`);
  const hostCount = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  assert.ok(hostCount > count!, 'the host has more processes than the container sees');
});

test('/proc/self/mountinfo inside lists only the container\'s own mounts', async () => {
  const r = await run(CH, ['run', ROOTFS, 'cat', '/proc/self/mountinfo'], { env });
  const mountPoints = r.stdout.trim().split('\n').map((line) => line.split(' ')[4]).sort();
  assert.deepEqual(mountPoints, ['/', '/dev', '/dev/pts', '/dev/shm', '/proc', '/sys']);
});

test('the network namespace has only lo, and it is up', async () => {
  const r = await run(CH, ['run', ROOTFS, 'sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/flags'], { env });
  const [interfaces, flags] = r.stdout.trim().split('\n');
  assert.equal(interfaces, 'lo', r.stderr);
  assert.equal(Number(flags) & 0x1, 1, 'IFF_UP is set on lo');
});

test('/dev holds only the minimal devices', async () => {
  const r = await run(CH, ['run', ROOTFS, 'sh', '-c', 'ls /dev; echo x > /dev/null && head -c 4 /dev/zero | wc -c'], { env });
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.pop(), '4');
  assert.deepEqual(lines.sort(), ['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  assert.ok(!lines.includes('vda') && !lines.includes('sda'));
});

test('exec enters a named running container: same hostname, PID namespace and root', async () => {
  const box = start(CH, ['run', '--name', 'exec-box', '--hostname', 'exec-host', '--stop-timeout', '0', ROOTFS, 'sh', '-c', 'echo started; while sleep 1; do :; done'], { env });
  await new Promise((resolve) => box.stdout!.once('data', resolve));
  try {
    const r = await run(CH, ['exec', 'exec-box', 'sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; readlink /proc/self/ns/pid; readlink /proc/1/ns/pid; cat /etc/hostname'], { env });
    const [name, pid1, nsSelf, nsInit, etcHostname] = r.stdout.trim().split('\n');
    assert.equal(name, 'exec-host', r.stderr);
    assert.equal(pid1!.trim(), 'sh -c echo started; while sleep 1; do :; done');
    assert.equal(nsSelf, nsInit);
    assert.equal(etcHostname, 'nutshell', 'exec sees the container\'s files');
    assert.equal((await run(CH, ['exec', 'exec-box', 'sh', '-c', 'exit 5'], { env })).code, 5);
  } finally {
    box.kill('SIGTERM');
    await new Promise((resolve) => box.once('exit', resolve));
  }
});

test('a container does not outlive a killed engine', async () => {
  const box = start(CH, ['run', ROOTFS, 'sh', '-c', 'echo $PPID; while sleep 1; do :; done'], { env });
  await new Promise((resolve) => box.stdout!.once('data', resolve));
  assert.ok(containerProcesses().length >= 1, 'the container is running');
  box.kill('SIGKILL');
  await new Promise((resolve) => box.once('close', resolve));
  await sleep(300);
  assert.deepEqual(containerProcesses(), [], 'the container died with its engine');
});

test('a name in use is refused; its state file goes when the container exits', async () => {
  const box = start(CH, ['run', '--name', 'twice', ROOTFS, 'sh', '-c', 'echo started; sleep 30'], { env });
  await new Promise((resolve) => box.stdout!.once('data', resolve));
  assert.ok(readdirSync(stateDir).includes('twice.json'));
  assertOneLineError(await run(CH, ['run', '--name', 'twice', ROOTFS, 'true'], { env }), /already running/);
  box.kill('SIGTERM');
  await new Promise((resolve) => box.once('exit', resolve));
  assert.ok(!readdirSync(stateDir).includes('twice.json'));
});

test('the chapter 01 escape no longer reaches the host root', async () => {
  const r = await run(CH, ['escape', ROOTFS], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /ESCAPED/);
  const listed = r.stdout.match(/contained: .* \/ lists (.*)/)?.[1]?.split(' ');
  assert.deepEqual(listed, readdirSync(ROOTFS).sort());
});

test('SIGTERM to the engine ends the container and the engine exits 143', async () => {
  // sleep as PID 1 has no SIGTERM handler, so the kernel drops the forwarded signal and the
  // engine must kill it after --stop-timeout.
  const box = start(CH, ['run', '--stop-timeout', '1', ROOTFS, 'sh', '-c', 'echo started; exec sleep 30'], { env });
  await new Promise((resolve) => box.stdout!.once('data', resolve));
  await sleep(200);
  const began = Date.now();
  box.kill('SIGTERM');
  const code = await new Promise((resolve) => box.once('exit', (c) => resolve(c)));
  assert.equal(code, 143);
  assert.ok(Date.now() - began < 10_000, 'ended within the stop timeout, not after sleep 30');
});

test('a PID 1 that handles SIGTERM gets it and its exit code comes back', async () => {
  const box = start(CH, ['run', ROOTFS, 'sh', '-c', 'trap "exit 7" TERM; echo started; sleep 30 & wait'], { env });
  await new Promise((resolve) => box.stdout!.once('data', resolve));
  box.kill('SIGTERM');
  assert.equal(await new Promise((resolve) => box.once('exit', (c) => resolve(c))), 7);
});

/** Processes whose root is this file's rootfs: our containers, or leaked ones. (readlink of
 *  /proc/PID/root says "/" after pivot_root, but the mount table still names the directory.) */
function containerProcesses(): string[] {
  return readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').some((l) => l.split(' ')[3] === ROOTFS && l.split(' ')[4] === '/');
    } catch {
      return false;
    }
  });
}

/** Host mounts that involve the rootfs: a mount that leaked out of a container shows here. */
function rootfsMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(ROOTFS));
}

test('after 100 runs the host mount table, processes and state dir are as before', async () => {
  const mountsBefore = rootfsMounts();
  const leakedBefore = containerProcesses();
  const stateBefore = readdirSync(stateDir);
  for (let batch = 0; batch < 25; batch++) {
    const results = await Promise.all([0, 1, 2, 3].map((i) => run(CH, ['run', '--name', `loop-${i}`, ROOTFS, 'true'], { env })));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
  }
  assert.deepEqual(rootfsMounts(), mountsBefore);
  assert.deepEqual(containerProcesses(), leakedBefore);
  assert.deepEqual(readdirSync(stateDir), stateBefore);
});

test('bad input: one line on stderr and a non-zero exit', async () => {
  const noShell = join(tempDir(), 'rootfs');
  for (const dir of ['proc', 'sys', 'dev']) mkdirSync(join(noShell, dir), { recursive: true });
  const r = await run(CH, ['run', noShell, 'sh'], { env });
  assertOneLineError(r, /command not found in the rootfs: sh/);
  assert.equal(r.code, 127);
  const empty = tempDir();
  assertOneLineError(await run(CH, ['run', empty, 'sh'], { env }), /mount\("proc" on "\/proc".*ENOENT/);
  assertOneLineError(await run(CH, ['exec', 'no-such-box', 'true'], { env }), /no running container named "no-such-box"/);
  assertOneLineError(await run(CH, ['run', '--name', '../evil', ROOTFS, 'true'], { env }), /invalid container name/);
  assertOneLineError(await run(CH, ['run', '--stop-timeout', 'soon', ROOTFS, 'true'], { env }), /invalid --stop-timeout/);
});

test('not root: unshare fails with EPERM, named in one line', async () => {
  // (the shared rootfs: this file's private copy is in a directory only root may enter)
  const r = await run(CH, ['run', SHARED_ROOTFS, 'true'], { uid: 65534, gid: 65534, env });
  assertOneLineError(r, /unshare\(CLONE_NEWPID\): EPERM .*are you root\?/);
});
