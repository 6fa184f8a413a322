/** Chapter 04 · overlayfs, for real (as root): writes through the merged view land in upper
 *  and never in the layers; readChanges() lists them like `docker diff`; writeLayerTar() makes
 *  a layer that GNU tar, applied with OCI whiteout rules, turns back into the merged view;
 *  bad setups are refused in one line, with no mount left behind. overlay.ts is tested in
 *  every chapter from 04 on. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../lib/errors.ts';
import type { Change } from '../chapters/04-unionfs/overlay.ts';
import { hostOnlyDir, startSwapper } from './helpers/hostile.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';
import { CAP_NET_RAW_EP, getXattr, setXattr } from './helpers/xattrs.ts';

type Overlay = typeof import('../chapters/04-unionfs/overlay.ts');

const scratchRoots: string[] = [];

/** A temp dir for one test. At the end, anything still mounted under it is detached before the
 *  directory is removed: removing through a live overlay would delete files of the layers. */
function scratch(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'nutshell-overlay-')));
  scratchRoots.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratchRoots) {
    for (const point of mountPointsUnder(dir).reverse()) execFileSync('umount', ['--lazy', point]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Mount points below `dir`, read straight from the kernel's table. */
function mountPointsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${dir}/`));
}

/** Create files from `{ 'etc/hostname': 'text' }`, with their parent directories. */
function makeTree(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** Every name below `dir` with its type, mode, owner and content (and mtime if asked):
 *  two equal snapshots mean two trees that nobody could tell apart by reading them. */
function snapshot(dir: string, withTimes = false): Record<string, string> {
  const result: Record<string, string> = {};
  const visit = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, path);
      const st = lstatSync(full);
      let what = `${st.mode.toString(8)} ${st.uid}:${st.gid}${withTimes ? ` ${st.mtimeMs}` : ''}`;
      if (st.isFile()) what += ` ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(full)}`;
      result[path] = what;
      if (st.isDirectory()) visit(path);
    }
  };
  visit('');
  return result;
}

interface Scene {
  root: string;
  lowerDirs: string[];
  upper: string;
  merged: string;
  /** snapshot() of each lower dir, taken before the mount. */
  layersBefore: Record<string, string>[];
}

/** Two layers (bottom, top) stacked under a fresh upper. */
function mountTwoLayers({ mountOverlay }: Overlay, bottomFiles: Record<string, string>, topFiles: Record<string, string>): Scene {
  const root = scratch();
  const lowerDirs = [makeTree(join(root, 'bottom'), bottomFiles), makeTree(join(root, 'top'), topFiles)];
  const layersBefore = lowerDirs.map((dir) => snapshot(dir, true));
  const scene = { root, lowerDirs, upper: join(root, 'upper'), merged: join(root, 'merged'), layersBefore };
  mountOverlay({ lowerDirs, upperDir: scene.upper, workDir: join(root, 'work'), target: scene.merged });
  return scene;
}

/** The usual things a container does to its rootfs, done through the merged view. */
function changeThroughMerged(m: string): void {
  writeFileSync(join(m, 'etc/new.conf'), 'new\n');
  linkSync(join(m, 'etc/new.conf'), join(m, 'etc/new.link'));
  symlinkSync('new.conf', join(m, 'etc/new.sym'));
  appendFileSync(join(m, 'etc/hostname'), 'more\n');
  chmodSync(join(m, 'etc/passwd'), 0o600);
  rmSync(join(m, 'bin/sh'));
  renameSync(join(m, 'data/a.txt'), join(m, 'data/b.txt'));
  rmSync(join(m, 'olddir'), { recursive: true });
  mkdirSync(join(m, 'newdir'));
  writeFileSync(join(m, 'newdir/x'), 'x\n');
  chownSync(join(m, 'newdir/x'), 1234, 5678);
  utimesSync(join(m, 'newdir/x'), 1e9, 1e9);
}

const BOTTOM = {
  'etc/hostname': 'bottom\n',
  'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
  'bin/sh': '#!fake shell\n',
  'olddir/inner/file': 'old\n',
  'data/a.txt': 'a from bottom\n',
};
const TOP = { 'etc/hostname': 'top\n', 'data/a.txt': 'a from top\n' };

function mountChangedScene(overlay: Overlay): Scene {
  const scene = mountTwoLayers(overlay, BOTTOM, TOP);
  changeThroughMerged(scene.merged);
  return scene;
}

/** Apply layer tars onto `dir` the way an OCI runtime does, with GNU tar for the unpacking:
 *  before each layer, delete what its `.wh.` files name and empty what `.wh..wh..opq` marks;
 *  then extract the layer without the markers. */
function applyLayers(dir: string, layerTars: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const layer of layerTars) {
    for (const name of execFileSync('tar', ['-tf', layer], { encoding: 'utf8' }).split('\n')) {
      const base = name.split('/').pop()!;
      const parent = join(dir, dirname(name));
      if (base === '.wh..wh..opq') {
        for (const child of readdirSync(parent)) rmSync(join(parent, child), { recursive: true });
      } else if (base.startsWith('.wh.')) {
        rmSync(join(parent, base.slice('.wh.'.length)), { recursive: true });
      }
    }
    execFileSync('tar', ['-C', dir, '-xf', layer, '--exclude=.wh.*']);
  }
}

/** Pack each lower dir with GNU tar, apply those and then `layer` onto a fresh directory, and
 *  return its snapshot: what a runtime would show for the committed image. */
function rebuildFromLayers(root: string, lowerDirs: string[], layer: string): Record<string, string> {
  const lowerTars = lowerDirs.map((dir, i) => {
    execFileSync('tar', ['-C', dir, '-cf', join(root, `lower${i}.tar`), '.']);
    return join(root, `lower${i}.tar`);
  });
  applyLayers(join(root, 'applied'), [...lowerTars, layer]);
  return snapshot(join(root, 'applied'));
}

function assertOneLineUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), `one line expected: ${err.message}`);
    return true;
  });
}

for (const ch of chaptersFrom('04')) {
  const overlay = await chapterModule<Overlay>(ch, 'overlay.ts');
  const { mountOverlay, readChanges, unmountOverlay, writeLayerTar } = overlay;
  const { mount, umount2 } = await chapterModule<typeof import('../chapters/04-unionfs/syscalls.ts')>(ch, 'syscalls.ts');

  describe(`chapter ${ch}`, () => {
    test('overlay: through the merged view, changes land in upper and the layers never change', () => {
      const { root, lowerDirs, upper, merged, layersBefore } = mountTwoLayers(overlay, BOTTOM, TOP);
      // The top layer wins a name both layers have; the bottom one shows where the top has none.
      assert.equal(readFileSync(join(merged, 'etc/hostname'), 'utf8'), 'top\n');
      assert.equal(readFileSync(join(merged, 'etc/passwd'), 'utf8'), BOTTOM['etc/passwd']);
      changeThroughMerged(merged);
      assert.equal(readFileSync(join(merged, 'etc/hostname'), 'utf8'), 'top\nmore\n');
      assert.ok(!existsSync(join(merged, 'bin/sh')) && !existsSync(join(merged, 'olddir')));

      assert.deepEqual(lowerDirs.map((dir) => snapshot(dir, true)), layersBefore, 'the lower dirs were not written');
      assert.equal(readFileSync(join(upper, 'etc/new.conf'), 'utf8'), 'new\n');
      for (const deleted of ['bin/sh', 'data/a.txt', 'olddir']) {
        const st = lstatSync(join(upper, deleted));
        assert.ok(st.isCharacterDevice() && st.rdev === 0, `${deleted} is a 0/0 whiteout in upper`);
      }
      assert.deepEqual(readdirSync(upper).sort(), ['bin', 'data', 'etc', 'newdir', 'olddir'], 'nothing untouched is copied up');

      const expected: Change[] = [
        { kind: 'C', path: '/bin' },
        { kind: 'D', path: '/bin/sh' },
        { kind: 'C', path: '/data' },
        { kind: 'D', path: '/data/a.txt' },
        { kind: 'A', path: '/data/b.txt' },
        { kind: 'C', path: '/etc' },
        { kind: 'C', path: '/etc/hostname' },
        { kind: 'A', path: '/etc/new.conf' },
        { kind: 'A', path: '/etc/new.link' },
        { kind: 'A', path: '/etc/new.sym' },
        { kind: 'C', path: '/etc/passwd' },
        { kind: 'A', path: '/newdir' },
        { kind: 'A', path: '/newdir/x' },
        { kind: 'D', path: '/olddir' },
      ];
      assert.deepEqual(readChanges(upper, lowerDirs), expected);

      unmountOverlay(merged);
      assert.deepEqual(mountPointsUnder(root), [], 'no mount left under the temp dir');
      assert.deepEqual(lowerDirs.map((dir) => snapshot(dir, true)), layersBefore);
    });

    test('writeLayerTar: whiteouts become .wh. files, and the layer applied by GNU tar gives the merged view', () => {
      const { root, lowerDirs, upper, merged } = mountChangedScene(overlay);
      const seen = snapshot(merged);
      const layer = join(root, 'layer.tar');
      const diffId = writeLayerTar(upper, layer);

      const bytes = readFileSync(layer);
      assert.equal(diffId, `sha256:${createHash('sha256').update(bytes).digest('hex')}`, 'the diff id is the tar digest');
      assert.ok(!existsSync(`${layer}.tmp`), 'the partial file was renamed away');
      assert.equal(writeLayerTar(upper, join(root, 'again.tar')), diffId, 'same upper, same bytes');

      // GNU tar's verbose listing: the first letter is the entry type ("-" file, "c" char device).
      const listing = execFileSync('tar', ['--full-time', '-tvf', layer], { encoding: 'utf8', env: { TZ: 'UTC' } }).trimEnd().split('\n');
      const entry = (name: string) => listing.find((line) => line.split(/\s+/)[5] === name);
      for (const whiteout of ['bin/.wh.sh', 'data/.wh.a.txt', '.wh.olddir']) {
        assert.match(entry(whiteout) ?? `${whiteout} missing`, /^-/, `${whiteout} is an empty regular file`);
      }
      assert.ok(!listing.some((line) => line.startsWith('c')), 'no character device in the layer');
      assert.match(entry('etc/new.link') ?? 'missing', /^h.* link to etc\/new\.conf$/);
      assert.match(entry('etc/new.sym') ?? 'missing', /^l.* -> new\.conf$/);
      assert.match(entry('etc/passwd') ?? 'missing', /^-rw------- 0\/0 /);
      assert.match(entry('newdir/x') ?? 'missing', /^-rw-r--r-- 1234\/5678 +2 2001-09-09 01:46:40 /, 'owner and mtime kept');
      // Sorted as the upper dir's names are, each whiteout in the place of the name it deletes.
      const upperNames = listing.map((line) => line.split(/\s+/)[5]!.replace('.wh.', ''));
      assert.deepEqual(upperNames, [...upperNames].sort(), 'entries in sorted order');

      assert.deepEqual(rebuildFromLayers(root, lowerDirs, layer), seen, 'the layers applied by GNU tar look like the merged view');

      unmountOverlay(merged);
    });

    test('names that are not UTF-8 and xattrs (file capabilities too) go into the layer as they are; overlay\'s trusted.* do not', () => {
      const latin1 = (text: string) => Buffer.from(text, 'latin1'); // 0xE9 alone is not UTF-8
      const { root, lowerDirs, upper, merged } = mountTwoLayers(overlay, BOTTOM, TOP);
      const at = (base: string, ...parts: (string | Buffer)[]) => Buffer.concat([Buffer.from(base), ...parts.flatMap((part) => [Buffer.from('/'), Buffer.from(part)])]);
      // A capability set on a lower file before the mount: touching the file copies it up, with
      // its xattrs. (A write would drop the capability: the kernel clears it on a changed binary.)
      setXattr(at(lowerDirs[0]!, 'bin/sh'), 'security.capability', CAP_NET_RAW_EP);
      utimesSync(join(merged, 'bin/sh'), 1e9, 1e9);
      mkdirSync(at(merged, latin1('d\xe9j\xe0')));
      writeFileSync(at(merged, latin1('d\xe9j\xe0'), latin1('caf\xe9')), 'latin-1\n');
      writeFileSync(at(merged, 'café'), 'utf-8\n');
      linkSync(at(merged, 'café'), at(merged, latin1('caf\xe9-link')));
      symlinkSync(latin1('d\xe9j\xe0/caf\xe9'), at(merged, latin1('s\xefm')));
      setXattr(at(merged, 'café'), 'user.binary', Buffer.from([0, 0xff, 0]));
      setXattr(at(merged, latin1('d\xe9j\xe0')), 'user.dir', 'yes');
      // What no ustar field holds goes into PAX records: a path over 255 bytes, an id past 07777777.
      const deep = `${'d'.repeat(120)}/${'e'.repeat(120)}/${'f'.repeat(60)}`;
      mkdirSync(join(merged, deep), { recursive: true });
      writeFileSync(join(merged, deep, 'file'), 'deep\n');
      chownSync(join(merged, deep, 'file'), 3_000_000, 3_000_001);
      rmSync(join(merged, 'olddir'), { recursive: true });
      mkdirSync(join(merged, 'olddir')); // an opaque directory: overlay marks it trusted.overlay.opaque
      assert.deepEqual(getXattr(join(upper, 'olddir'), 'trusted.overlay.opaque'), Buffer.from('y'), 'overlay\'s own mark is there to leave out');

      const changes = readChanges(upper, lowerDirs).map(({ kind, path }) => `${kind} ${path}`);
      for (const line of ['A "/caf\\xe9-link"', 'A /café', 'A "/d\\xe9j\\xe0"', 'A "/d\\xe9j\\xe0/caf\\xe9"', 'A "/s\\xefm"', 'C /bin/sh']) {
        assert.ok(changes.includes(line), `docker diff shows ${line}: ${changes.join(', ')}`);
      }

      const layer = join(root, 'layer.tar');
      writeLayerTar(upper, layer);
      const bytes = readFileSync(layer);
      assert.ok(!bytes.includes('trusted.'), 'no trusted.* record in the layer');
      // GNU tar, the reference, reads the layer back: the same names, links and xattrs.
      const out = join(root, 'extracted');
      mkdirSync(out);
      execFileSync('tar', ['-C', out, '--xattrs', '--xattrs-include=*', '--numeric-owner', '-xf', layer]);
      const names = (dir: Buffer) => readdirSync(dir, { encoding: 'buffer' }).map((name) => name.toString('hex')).sort();
      assert.deepEqual(names(at(out, latin1('d\xe9j\xe0'))), names(at(upper, latin1('d\xe9j\xe0'))));
      assert.equal(readFileSync(at(out, latin1('d\xe9j\xe0'), latin1('caf\xe9')), 'utf8'), 'latin-1\n');
      assert.equal(readFileSync(at(out, 'café'), 'utf8'), 'utf-8\n');
      assert.equal(lstatSync(at(out, latin1('caf\xe9-link'))).ino, lstatSync(at(out, 'café')).ino, 'the hard link');
      assert.deepEqual(readlinkSync(at(out, latin1('s\xefm')), { encoding: 'buffer' }), latin1('d\xe9j\xe0/caf\xe9'));
      assert.deepEqual(getXattr(at(out, 'bin/sh'), 'security.capability'), CAP_NET_RAW_EP, 'the copied-up file kept its capability');
      assert.deepEqual(getXattr(at(out, 'café'), 'user.binary'), Buffer.from([0, 0xff, 0]));
      assert.deepEqual(getXattr(at(out, latin1('d\xe9j\xe0')), 'user.dir'), Buffer.from('yes'));
      assert.equal(readFileSync(join(out, deep, 'file'), 'utf8'), 'deep\n', 'the long path');
      assert.deepEqual([lstatSync(join(out, deep, 'file')).uid, lstatSync(join(out, deep, 'file')).gid], [3_000_000, 3_000_001], 'the big ids');
      unmountOverlay(merged);
    });

    test('an opaque directory: rm -rf + mkdir of a lower dir, listed as C with D for what is gone, and .wh..wh..opq in the layer', () => {
      const { root, lowerDirs, upper, merged } = mountTwoLayers(
        overlay,
        { 'dir/a': 'a\n', 'dir/sub/b': 'b\n', 'dir/kept': 'old\n' },
        { 'dir/top': 'top\n', 'other': 'other\n' },
      );
      rmSync(join(merged, 'dir'), { recursive: true });
      mkdirSync(join(merged, 'dir'));
      writeFileSync(join(merged, 'dir/kept'), 'new\n');
      writeFileSync(join(merged, 'dir/fresh'), 'fresh\n');
      assert.deepEqual(readdirSync(join(merged, 'dir')).sort(), ['fresh', 'kept']);

      // Read overlay's mark with another tool than ours.
      const xattr = execFileSync('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())', join(upper, 'dir')]);
      assert.equal(xattr.toString().trim(), 'y');

      assert.deepEqual(readChanges(upper, lowerDirs), [
        { kind: 'C', path: '/dir' },
        { kind: 'D', path: '/dir/a' },
        { kind: 'A', path: '/dir/fresh' },
        { kind: 'C', path: '/dir/kept' },
        { kind: 'D', path: '/dir/sub' },
        { kind: 'D', path: '/dir/top' },
      ]);

      const layer = join(root, 'layer.tar');
      writeLayerTar(upper, layer);
      const names = execFileSync('tar', ['-tf', layer], { encoding: 'utf8' }).trimEnd().split('\n');
      assert.deepEqual(names, ['dir/', 'dir/.wh..wh..opq', 'dir/fresh', 'dir/kept']);
      const seen = snapshot(merged);
      assert.deepEqual(rebuildFromLayers(root, lowerDirs, layer), seen, 'the layers applied by GNU tar look like the merged view');

      unmountOverlay(merged);
      assert.deepEqual(mountPointsUnder(root), []);
    });

    test('bad setups: one line each, and no mount left behind', () => {
      const root = scratch();
      const lower = makeTree(join(root, 'lower'), { file: 'x\n' });
      const dirsIn = (name: string) => ({ upperDir: join(root, name, 'upper'), workDir: join(root, name, 'work'), target: join(root, name, 'merged') });

      assertOneLineUserError(() => mountOverlay({ lowerDirs: [join(root, 'no-such-layer')], ...dirsIn('a') }), /lower dir not found: .*no-such-layer/);

      // An upper inside an overlay, as when the engine itself runs in a docker container.
      const outer = dirsIn('outer');
      mountOverlay({ lowerDirs: [lower], ...outer });
      assertOneLineUserError(
        () => mountOverlay({ lowerDirs: [lower], upperDir: join(outer.target, 'upper'), workDir: join(outer.target, 'work'), target: join(root, 'inner') }),
        /upper dir .* is on an overlay/,
      );
      assert.deepEqual(mountPointsUnder(root), [outer.target], 'only the outer overlay is mounted');
      unmountOverlay(outer.target);

      // Work and upper on two mounts: a tmpfs holds the work dir.
      const tmpfs = join(root, 'tmpfs');
      mkdirSync(tmpfs);
      mount('tmpfs', tmpfs, 'tmpfs', 0, 'size=1m', 'test: a second filesystem');
      assertOneLineUserError(
        () => mountOverlay({ lowerDirs: [lower], upperDir: join(root, 'b/upper'), workDir: join(tmpfs, 'work'), target: join(root, 'b/merged') }),
        /must be on the same mount/,
      );
      umount2(tmpfs, 0, 'test cleanup');

      // 300 layers: even as short /proc/self/fd/N names, more than the one page mount(2) takes.
      const many = Array.from({ length: 300 }, (_, i) => makeTree(join(root, `layer-${String(i).padStart(3, '0')}`), {}));
      assertOneLineUserError(() => mountOverlay({ lowerDirs: many, ...dirsIn('c') }), /too many layers.*4096 bytes/);

      // The kernel's own refusal (a work dir inside the upper dir) comes back as one helpful line.
      const d = dirsIn('d');
      assertOneLineUserError(() => mountOverlay({ lowerDirs: [lower], ...d, workDir: join(d.upperDir, 'work') }), /EINVAL .*dmesg/);

      assert.deepEqual(mountPointsUnder(root), []);
    });

    test('128 layers with long paths, as an image store has them, mount in one page of options', () => {
      // Paths as long as the store's (…/layers/sha256/<64 hex>): ~90 bytes each, 11 KB spelled out.
      const root = join(scratch(), 'nutshell-root', 'layers', 'sha256');
      const lowerDirs = Array.from({ length: 128 }, (_, i) =>
        makeTree(join(root, createHash('sha256').update(String(i)).digest('hex')), { [`layer-${i}.txt`]: `${i}\n`, 'top.txt': `${i}\n` }));
      const d = { upperDir: join(root, '..', 'upper'), workDir: join(root, '..', 'work'), target: join(root, '..', 'merged') };
      mountOverlay({ lowerDirs, ...d });
      try {
        for (let i = 0; i < 128; i++) assert.equal(readFileSync(join(d.target, `layer-${i}.txt`), 'utf8'), `${i}\n`);
        assert.equal(readFileSync(join(d.target, 'top.txt'), 'utf8'), '127\n', 'the last layer is the top one');
        writeFileSync(join(d.target, 'layer-0.txt'), 'changed\n');
        assert.equal(readFileSync(join(d.upperDir, 'layer-0.txt'), 'utf8'), 'changed\n', 'writes land in upper');
        assert.equal(readFileSync(join(lowerDirs[0]!, 'layer-0.txt'), 'utf8'), '0\n', 'the layer is untouched');
      } finally {
        unmountOverlay(d.target);
      }
    });

    test('readChanges looks through the lowers as overlay does: their own whiteouts and opaque dirs hide what is below', () => {
      const root = scratch();
      const bottom = makeTree(join(root, 'bottom'), { 'gone.txt': 'old\n', 'odir/old': 'old\n', 'keep/x': 'x\n' });
      const top = makeTree(join(root, 'top'), { 'odir/new': 'new\n' });
      // An unpacked layer in overlay's format: a 0/0 device deletes gone.txt, odir replaces the bottom's.
      execFileSync('mknod', [join(top, 'gone.txt'), 'c', '0', '0']);
      execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "trusted.overlay.opaque", b"y")', join(top, 'odir')]);
      const merged = join(root, 'merged');
      const upper = join(root, 'upper');
      mountOverlay({ lowerDirs: [bottom, top], upperDir: upper, workDir: join(root, 'work'), target: merged });
      assert.ok(!existsSync(join(merged, 'gone.txt')) && !existsSync(join(merged, 'odir/old')), 'hidden by the top layer');

      writeFileSync(join(merged, 'gone.txt'), 'back\n');
      writeFileSync(join(merged, 'odir/old'), 'back\n');
      appendFileSync(join(merged, 'keep/x'), 'more\n');
      assert.deepEqual(readChanges(upper, [bottom, top]), [
        { kind: 'A', path: '/gone.txt' },
        { kind: 'C', path: '/keep' },
        { kind: 'C', path: '/keep/x' },
        { kind: 'C', path: '/odir' },
        { kind: 'A', path: '/odir/old' },
      ]);
      unmountOverlay(merged);
    });

    test('a symlink in the upper dir goes into the layer as a symlink, never as the host file it points to', () => {
      const host = hostOnlyDir();
      const upper = join(scratch(), 'upper');
      mkdirSync(join(upper, 'srv'), { recursive: true });
      symlinkSync(join(host.dir, 'secret'), join(upper, 'srv/to-file'));
      symlinkSync(host.dir, join(upper, 'srv/to-dir'));
      const layer = join(scratch(), 'layer.tar');
      writeLayerTar(upper, layer);
      const listing = execFileSync('tar', ['-tvf', layer], { encoding: 'utf8' });
      assert.match(listing, new RegExp(`^l.* srv/to-file -> ${join(host.dir, 'secret')}$`, 'm'));
      assert.match(listing, new RegExp(`^l.* srv/to-dir -> ${host.dir}$`, 'm'));
      assert.ok(!readFileSync(layer).includes(host.secret), 'the host file is in the layer');
    });

    test('a directory swapped for a symlink to the host while the upper dir is read: no host file gets into the layer', async () => {
      // The upper dir of a running container that keeps swapping d0…d7 (a directory holding a
      // file "secret") with d0.swap…d7.swap (a symlink to a host directory holding its own
      // "secret"). Read by path, "d3" can be a directory when listed and a symlink when
      // d3/secret is opened: the engine would then read the host's file.
      const host = hostOnlyDir();
      const upper = join(scratch(), 'upper');
      const names = Array.from({ length: 8 }, (_, i) => `d${i}`);
      for (const name of names) {
        mkdirSync(join(upper, name), { recursive: true });
        writeFileSync(join(upper, name, 'secret'), 'x'.repeat(Buffer.byteLength(host.secret))); // the same size
        symlinkSync(host.dir, join(upper, `${name}.swap`));
      }
      const swapper = startSwapper(upper, names);
      const leaks: number[] = [];
      const errors: string[] = [];
      try {
        await sleep(200);
        for (let i = 0; i < 10; i++) {
          const layer = join(scratch(), `layer-${i}.tar`);
          try {
            writeLayerTar(upper, layer);
            if (readFileSync(layer).includes(host.secret)) leaks.push(i);
          } catch (err) {
            errors.push((err as Error).message);
          }
        }
      } finally {
        swapper.kill('SIGKILL');
      }
      assert.deepEqual(leaks, [], `the host file is in layers ${leaks.join(', ')} (${errors.length} of 10 reads failed)`);
      assert.deepEqual(errors, [], 'held by descriptors, nothing the swap does can trip the walk up');
    });
  });
}
