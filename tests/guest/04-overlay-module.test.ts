/** Chapter 04 on · overlay on a distribution's kernel, where overlay is a module and the root of
 *  the layers may be a filesystem without extended attributes. Runs only as root inside the
 *  guest of `npm run vm` (a Debian kernel, booted fresh, its root the host's over 9p):
 *
 *    npm run -s vm -- npx tsx --test tests/guest/04-overlay-module.test.ts
 *
 *  - With overlay's module unloaded and the kernel unable to load it, `run` fails with one line
 *    that says ENODEV and what to do (modprobe overlay, CONFIG_OVERLAY_FS).
 *  - With modprobe back, the same `run` works: mount(2) made the kernel load the module, which
 *    is why the engine never reads /proc/filesystems first.
 *  - A layer on the 9p share (build/rootfs), whose getxattr(2) says EOPNOTSUPP, has no opaque
 *    marks and no attributes, and a container runs on it.
 *  It unloads a module and rewrites /proc/sys/kernel/modprobe, so it refuses to run anywhere
 *  else (scripts/test.ts picks only tests/*.test.ts: this folder runs in the VM batch). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { koffi, libc } from '../../lib/libc.ts';
import { assertOneLineError, engineFor, ROOTFS } from '../helpers/chapter.ts';
import { chaptersFrom, isFrom } from '../helpers/ladder.ts';

const MODPROBE = '/proc/sys/kernel/modprobe';
/** A container's run under emulation takes seconds; the helpers' default limit is 60 s. */
const RUN = { timeout: 300_000 };
const lgetxattr_ = libc.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)'); // man 2 lgetxattr
const EOPNOTSUPP = 95; // ENOTSUP: the same number on Linux

/** The filesystem type of the mount that holds `path` (the longest mount point containing it). */
function fstypeOf(path: string): string {
  let best = { point: '', type: '' };
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n')) {
    const fields = line.split(' ');
    const point = fields[4]!;
    const inside = path === point || path.startsWith(point === '/' ? '/' : `${point}/`);
    if (inside && point.length >= best.point.length) best = { point, type: fields[fields.indexOf('-') + 1]! };
  }
  return best.type;
}

/** Why this is not the guest of `npm run vm`, or null when it is. */
function notInGuest(): string | null {
  if (!existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'no cgroup2 on /sys/fs/cgroup';
  if (fstypeOf('/') !== '9p') return '"/" is not the host\'s root shared over 9p';
  if (process.getuid?.() !== 0) return 'not root';
  return null;
}

const overlayListed = () => /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));

/** Unload overlay's module, so that the next overlay mount has to load it. A container's mount
 *  goes when its mount namespace dies, and the module's count drops a moment later: retry. */
async function unloadOverlay(): Promise<void> {
  for (let attempt = 0; overlayListed(); attempt++) {
    const line = readFileSync('/proc/modules', 'utf8').split('\n').find((l) => l.startsWith('overlay '));
    if (!line) throw new Error('overlay is listed in /proc/filesystems but is not a module: this kernel has it built in, and the test needs it as a module');
    const users = Number(line.split(' ')[2]);
    if (users === 0 && spawnSync('rmmod', ['overlay']).status === 0) continue;
    if (attempt === 50) throw new Error(`cannot unload overlay (${users} users): is an overlay still mounted somewhere?`);
    await sleep(200);
  }
}

/** Run `body` with the kernel unable to load any module: an empty modprobe path makes
 *  request_module() give up at once. The old path is back afterwards, whatever happened. */
async function withoutModprobe<T>(body: () => Promise<T>): Promise<T> {
  const saved = readFileSync(MODPROBE, 'utf8');
  writeFileSync(MODPROBE, '\n');
  try {
    assert.equal(readFileSync(MODPROBE, 'utf8'), '\n', 'the modprobe path should now be empty');
    return await body();
  } finally {
    writeFileSync(MODPROBE, saved);
  }
}

const why = notInGuest();
test('this file runs inside the guest of `npm run vm`', () => {
  assert.equal(why, null, `refusing to run here (${why}): this test unloads the overlay module and rewrites ${MODPROBE}; ` +
    'run it as `npm run -s vm -- npx tsx --test tests/guest/04-overlay-module.test.ts`');
});

if (why === null) {
  for (const ch of chaptersFrom('04')) {
    describe(`chapter ${ch}`, () => {
      const engine = engineFor(ch);
      // No bridge: it would need modules of its own, and the network is not what is tested here.
      const options = isFrom(ch, '10') ? ['--network', 'none'] : [];

      test('without the overlay module and without modprobe, run fails in one line: ENODEV, and what to do', async () => {
        await engine.rootfsArgs(ROOTFS); // from 05, the image is made first: that needs no overlay
        await unloadOverlay();
        assert.equal(overlayListed(), false, 'overlay should be gone from /proc/filesystems');
        const r = await withoutModprobe(() => engine.runContainer(options, ROOTFS, ['true'], RUN));
        assert.equal(r.code, 125, r.stderr);
        assertOneLineError(r, /overlay.*ENODEV.*modprobe overlay.*CONFIG_OVERLAY_FS/);
        assert.equal(overlayListed(), false);
      });

      test('with modprobe back, the same run works: mount(2) made the kernel load overlay', async () => {
        await unloadOverlay();
        const r = await engine.runContainer(options, ROOTFS, ['true'], RUN);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(overlayListed(), true, 'overlay should be in /proc/filesystems now');
      });

      test('a layer on 9p, a filesystem without xattrs, has no opaque marks: a container runs on it', async () => {
        assert.equal(fstypeOf(ROOTFS), '9p');
        const value = Buffer.alloc(8);
        assert.equal(Number(lgetxattr_(`${ROOTFS}/etc`, 'trusted.overlay.opaque', value, value.length)), -1);
        assert.equal(koffi.errno(), EOPNOTSUPP, 'getxattr(2) on the share should say EOPNOTSUPP');
        const r = await engine.runContainer(options, ROOTFS, ['cat', '/etc/passwd'], RUN);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^root:/m);
      });
    });
  }
}
