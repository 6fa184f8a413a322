/** Chapter 02 · namespaces: the container has its own hostname, PID 1, mounts and network;
 *  `exec` enters it; the chroot escape fails; signals and exit codes behave; nothing leaks.
 *  What still holds in later chapters is tested there too, on each chapter's command line. */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, copyOfRootfs, engineFor, ROOTFS as SHARED_ROOTFS, run, tempDir } from './helpers/chapter.ts';
import { chaptersFrom, isFrom } from './helpers/ladder.ts';

// A private copy, so that containers of this file can be told apart from any other on the host.
const ROOTFS = copyOfRootfs();

for (const ch of chaptersFrom('02')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('the hostname inside is --hostname, and the host keeps its own', async () => {
      const r = await engine.runContainer(['--hostname', 'inner-box'], ROOTFS, ['hostname']);
      assert.equal(r.stdout.trim(), 'inner-box', r.stderr);
      assert.equal(hostname(), readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
      assert.notEqual(hostname(), 'inner-box');
    });

    test('without --hostname the container gets a generated one', async () => {
      const r = await engine.runContainer([], ROOTFS, ['hostname']);
      assert.match(r.stdout.trim(), /^[0-9a-f]{12}$/, r.stderr);
    });

    test('the command is PID 1 and no host process is visible', async () => {
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', 'echo $$; ls /proc | grep -c "^[0-9]"']);
      const [pid, count] = r.stdout.trim().split('\n').map(Number);
      assert.equal(pid, 1, r.stderr);
      assert.ok(count! <= 3, `only the container's processes are visible, saw ${count}`);
      const hostCount = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
      assert.ok(hostCount > count!, 'the host has more processes than the container sees');
    });

    test('/proc/self/mountinfo inside lists only the container\'s own mounts', async () => {
      const r = await engine.runContainer([], ROOTFS, ['cat', '/proc/self/mountinfo']);
      const mountPoints = r.stdout.trim().split('\n').map((line) => line.split(' ')[4]!).sort();
      // From chapter 09 on, mounts below /proc and /sys hide and lock the kernel's files, and show
      // the container's cgroups (tests/09-proc-sys.test.ts): the container's own mounts as well.
      // From chapter 10 on, /etc/hosts, /etc/hostname and /etc/resolv.conf are the engine's files
      // bound over the image's (tests/10-network.test.ts).
      const hiding = (path: string) => (isFrom(ch, '09') && /^\/(proc|sys)\/./.test(path)) || (isFrom(ch, '10') && /^\/etc\/(hosts|hostname|resolv\.conf)$/.test(path));
      assert.deepEqual(mountPoints.filter((path) => !hiding(path)), ['/', '/dev', '/dev/pts', '/dev/shm', '/proc', '/sys']);
    });

    test('the network namespace has only lo, and it is up', async () => {
      // From chapter 10 on, that is --network none; the default network adds eth0.
      const r = await engine.runContainer(isFrom(ch, '10') ? ['--network', 'none'] : [], ROOTFS, ['sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/flags']);
      const [interfaces, flags] = r.stdout.trim().split('\n');
      assert.equal(interfaces, 'lo', r.stderr);
      assert.equal(Number(flags) & 0x1, 1, 'IFF_UP is set on lo');
    });

    test('/dev holds only the minimal devices', async () => {
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', 'ls /dev; echo x > /dev/null && head -c 4 /dev/zero | wc -c']);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.pop(), '4', r.stderr);
      assert.deepEqual(lines.sort(), ['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
      assert.ok(!lines.includes('vda') && !lines.includes('sda'));
    });

    test('exec enters a named running container: same hostname, PID namespace and root', async () => {
      const box = await engine.startContainer(['--name', 'exec-box', '--hostname', 'exec-host', '--stop-timeout', '0'], ROOTFS, ['sh', '-c', 'echo started; while sleep 1; do :; done']);
      await new Promise((resolve) => box.stdout!.once('data', resolve));
      try {
        const r = await run(ch, ['exec', 'exec-box', 'sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; readlink /proc/self/ns/pid; readlink /proc/1/ns/pid; cat /etc/hostname'], { env });
        const [name, pid1, nsSelf, nsInit, etcHostname] = r.stdout.trim().split('\n');
        assert.equal(name, 'exec-host', r.stderr);
        assert.equal(pid1!.trim(), 'sh -c echo started; while sleep 1; do :; done');
        assert.equal(nsSelf, nsInit);
        // From chapter 10 on, the engine writes /etc/hostname (the image's says "nutshell").
        assert.equal(etcHostname, isFrom(ch, '10') ? 'exec-host' : 'nutshell', 'exec sees the container\'s files');
        assert.equal((await run(ch, ['exec', 'exec-box', 'sh', '-c', 'exit 5'], { env })).code, 5);
      } finally {
        box.kill('SIGTERM');
        await new Promise((resolve) => box.once('exit', resolve));
      }
    });

    test('a container does not outlive a killed engine', async () => {
      const box = await engine.startContainer([], ROOTFS, ['sh', '-c', 'echo $PPID; while sleep 1; do :; done']);
      await new Promise((resolve) => box.stdout!.once('data', resolve));
      const running = engine.containerProcesses().length;
      box.kill('SIGKILL');
      await new Promise((resolve) => box.once('close', resolve));
      assert.ok(running >= 1, 'the container was running');
      await sleep(300);
      assert.deepEqual(engine.containerProcesses(), [], 'the container died with its engine');
    });

    test('SIGTERM to the engine ends the container and the engine exits 143', async () => {
      // sleep as PID 1 has no SIGTERM handler, so the kernel drops the forwarded signal and the
      // engine must kill it after --stop-timeout.
      const box = await engine.startContainer(['--stop-timeout', '1'], ROOTFS, ['sh', '-c', 'echo started; exec sleep 30']);
      await new Promise((resolve) => box.stdout!.once('data', resolve));
      await sleep(200);
      const began = Date.now();
      box.kill('SIGTERM');
      const code = await new Promise((resolve) => box.once('exit', (c) => resolve(c)));
      assert.equal(code, 143);
      assert.ok(Date.now() - began < 10_000, 'ended within the stop timeout, not after sleep 30');
    });

    test('a PID 1 that handles SIGTERM gets it and its exit code comes back', async () => {
      const box = await engine.startContainer([], ROOTFS, ['sh', '-c', 'trap "exit 7" TERM; echo started; sleep 30 & wait']);
      await new Promise((resolve) => box.stdout!.once('data', resolve));
      box.kill('SIGTERM');
      assert.equal(await new Promise((resolve) => box.once('exit', (c) => resolve(c))), 7);
    });

    test('bad input: one line on stderr and a non-zero exit', async () => {
      const noShell = join(tempDir(), 'rootfs');
      for (const dir of ['proc', 'sys', 'dev']) mkdirSync(join(noShell, dir), { recursive: true });
      const r = await engine.runContainer([], noShell, ['sh']);
      assertOneLineError(r, /command not found in the rootfs: sh/);
      assert.equal(r.code, 127);
      // An empty rootfs gets its mount points (tests/02-mount-points.test.ts), and lacks a shell.
      assertOneLineError(await engine.runContainer([], tempDir(), ['sh']), /command not found in the rootfs: sh/);
      assertOneLineError(await engine.runContainer(['--name', '../evil'], ROOTFS, ['true']), /invalid container name/);
      assertOneLineError(await engine.runContainer(['--stop-timeout', 'soon'], ROOTFS, ['true']), /invalid --stop-timeout/);
      assertOneLineError(await run(ch, ['exec', 'no-such-box', 'true'], { env }), /no (running )?container named "no-such-box"/);
    });
  });
}

// Chapters 02 to 05: a name belongs to a running container, whose record is a file in
// NUTSHELL_STATE_DIR. From chapter 06 on, a container and its name stay until `rm`, and
// its record lives under NUTSHELL_ROOT (tests/06-lifecycle.test.ts).
for (const ch of chaptersFrom('02', '05')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('a name in use is refused; its state file goes when the container exits', async () => {
      const box = await engine.startContainer(['--name', 'twice', '--stop-timeout', '0'], ROOTFS, ['sh', '-c', 'echo started; sleep 30']);
      await new Promise((resolve) => box.stdout!.once('data', resolve));
      assert.ok(readdirSync(engine.stateDir).includes('twice.json'));
      assertOneLineError(await engine.runContainer(['--name', 'twice'], ROOTFS, ['true']), /already running/);
      box.kill('SIGTERM');
      await new Promise((resolve) => box.once('exit', resolve));
      assert.ok(!readdirSync(engine.stateDir).includes('twice.json'));
    });

    test('after 100 runs the host mount table, processes and state dir are as before', async () => {
      const mountsBefore = engine.hostMounts();
      const leakedBefore = engine.containerProcesses();
      const stateBefore = readdirSync(engine.stateDir);
      for (let batch = 0; batch < 25; batch++) {
        const results = await Promise.all([0, 1, 2, 3].map((i) => engine.runContainer(['--name', `loop-${i}`], ROOTFS, ['true'])));
        for (const r of results) assert.equal(r.code, 0, r.stderr);
      }
      assert.deepEqual(engine.hostMounts(), mountsBefore);
      assert.deepEqual(engine.containerProcesses(), leakedBefore);
      assert.deepEqual(readdirSync(engine.stateDir), stateBefore);
    });
  });
}

// From chapter 05 on there is no `escape` verb: the lesson of chapter 02 is learnt.
for (const ch of chaptersFrom('02', '04')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('the chapter 01 escape no longer reaches the host root', async () => {
      const r = await run(ch, ['escape', ...(await engine.rootfsArgs(ROOTFS))], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /ESCAPED/);
      const listed = r.stdout.match(/contained: .* \/ lists (.*)/)?.[1]?.split(' ');
      assert.deepEqual(listed, readdirSync(ROOTFS).sort());
    });
  });
}

// Chapter 02 only: from chapter 03 on, the first step that needs root is a cgroup's creation.
for (const ch of chaptersFrom('02', '02')) {
  test(`chapter ${ch}: not root: unshare fails with EPERM, named in one line`, async () => {
    // (the shared rootfs: this file's private copy is in a directory only root may enter)
    const r = await run(ch, ['run', SHARED_ROOTFS, 'true'], { uid: 65534, gid: 65534, env: engineFor(ch).env });
    assertOneLineError(r, /unshare\(CLONE_NEWPID\): EPERM .*are you root\?/);
  });
}
