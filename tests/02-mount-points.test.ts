/** Images without mount points: a FROM scratch image that holds one static binary has no /proc,
 *  /dev or /sys, and mounting on them failed with ENOENT. The child stage makes them in the new
 *  root, as runc does — and refuses one that the image made a symlink, which mount(2) would
 *  follow. From chapter 02 (the first that mounts anything) on: a rootfs in 02 and 03, a layer
 *  in 04, an image from 05. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertOneLineError, engineFor, ROOTFS, tempDir } from './helpers/chapter.ts';
import { chaptersFrom, isFrom } from './helpers/ladder.ts';

/** A root filesystem of one static busybox at /busybox, and nothing else. */
function scratchRootfs(): string {
  const dir = join(tempDir('nutshell-scratch-'), 'rootfs');
  mkdirSync(dir);
  copyFileSync(join(ROOTFS, 'bin', 'busybox'), join(dir, 'busybox'));
  return dir;
}

for (const ch of chaptersFrom('02')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    test('images without mount points: /proc, /dev and /sys are made, and mounted', async () => {
      const r = await engine.runContainer([], scratchRootfs(), ['/busybox', 'sh', '-c', '/busybox ls /proc/1 && /busybox cut -d" " -f5 /proc/self/mountinfo']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.ok(lines.includes('cmdline'), `ls /proc/1 lists PID 1's files: ${r.stdout}`);
      // From chapter 09 on, masks and read-only binds are mounted below /proc and /sys, and the
      // cgroup view at /sys/fs/cgroup (tests/09-proc-sys.test.ts checks those).
      const below = (line: string) => isFrom(ch, '09') && /^\/(proc|sys)\/./.test(line);
      // From chapter 10 on, the engine's /etc/hosts, /etc/hostname and /etc/resolv.conf too: an
      // image without them gets them, as it gets /proc.
      const networkFiles = isFrom(ch, '10') ? ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'] : [];
      assert.deepEqual(lines.filter((line) => line.startsWith('/') && !below(line)).sort(), ['/', '/dev', '/dev/pts', '/dev/shm', ...networkFiles, '/proc', '/sys']);
    });

    test('images without mount points: a /proc that is a symlink is refused, and nothing is mounted through it', async () => {
      const rootfs = scratchRootfs();
      for (const dir of ['dev', 'sys', 'elsewhere']) mkdirSync(join(rootfs, dir)); // only /proc is wrong
      symlinkSync('/elsewhere', join(rootfs, 'proc'));
      const r = await engine.runContainer([], rootfs, ['/busybox', 'ls', '/elsewhere/1']);
      assertOneLineError(r, /\/proc in the container's root is a symlink: refused/);
      assert.deepEqual(readdirSync(join(rootfs, 'elsewhere')), []);
      assert.deepEqual(engine.hostMounts(), []);
    });
  });
}
