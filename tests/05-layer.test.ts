/** Chapter 05 · unpacking a layer: what GNU tar packed comes back with its modes, owners,
 *  times and links; OCI whiteouts become overlayfs's marks; the diff id is the sha256 of the
 *  uncompressed tar; and hostile archives are refused, one line each, without writing a byte
 *  outside the destination. Hostile tars are written header by header with node-tar's Header,
 *  since no honest archiver produces them. layer.ts is tested in every chapter from 05 on. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import koffi from 'koffi';
import { Header } from 'tar';
import { UserError } from '../lib/errors.ts';
import { tempDir } from './helpers/chapter.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';
import { tarOf, type TarEntry } from './helpers/tar.ts';
import { traceOf } from './helpers/trace.ts';
import { CAP_NET_RAW_EP, getXattr, setXattr } from './helpers/xattrs.ts';

const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const MTIME = new Date('2001-09-09T01:46:40Z');

// Our own reading of xattrs, independent of the code under test.
const libc = koffi.load('libc.so.6');
const lgetxattr = libc.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)');
function xattr(path: string, name: string): string | null {
  const value = Buffer.alloc(64);
  const size = Number(lgetxattr(path, name, value, value.length));
  return size < 0 ? null : value.subarray(0, size).toString();
}

/** Feed bytes in small chunks, the way a network stream arrives. */
function streamOf(bytes: Buffer, chunkSize = 3000): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
  return Readable.from(chunks);
}

/** GNU tar's archive of a directory (the reference archiver). */
function gnuTar(dir: string): Buffer {
  return execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 64 << 20 });
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// ---------------------------------------------------------------- hostile layers

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\n';

/** A pretend host: <host>/etc/passwd to aim at, and the layer unpacked at <host>/var/lib/layer,
 *  so that "../../../etc/passwd" from the layer's root is the host's passwd. */
function makeHost(): { host: string; dest: string } {
  const host = tempDir('nutshell-host-');
  mkdirSync(join(host, 'etc'));
  writeFileSync(join(host, 'etc/passwd'), PASSWD);
  const dest = join(host, 'var/lib/layer');
  mkdirSync(dest, { recursive: true });
  return { host, dest };
}

/** Every path under `host` but outside `dest`, with its content, link count, mode, owner and
 *  mtime: a layer must not write, link, chmod, chown or touch anything there. */
function snapshot(host: string, dest: string): string[] {
  const seen: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (path === dest) continue;
      const stats = lstatSync(path);
      const content = stats.isFile() ? readFileSync(path, 'utf8') : stats.isDirectory() ? 'dir' : 'other';
      const meta = `mode=${stats.mode.toString(8)} owner=${stats.uid}:${stats.gid} mtime=${stats.mtimeMs}`;
      seen.push(`${relative(host, path)} nlink=${stats.nlink} ${meta} ${content}`);
      if (stats.isDirectory()) walk(path);
    }
  };
  walk(host);
  return seen.sort();
}

const PWNED = `nutshell-pwned-${process.pid}`;
after(() => rmSync(join('/tmp', PWNED), { force: true }));

const HOSTILE: { hazard: string; entries: (host: string) => TarEntry[]; error: RegExp }[] = [
  {
    hazard: 'path traversal',
    entries: () => [{ path: '../x', body: 'out' }],
    error: /entry "\.\.\/x" escapes the layer \(path traversal\)/,
  },
  {
    hazard: 'path traversal to a host file',
    entries: () => [{ path: 'a/../../../../etc/passwd', body: 'owned' }],
    error: /entry "a\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" escapes the layer \(path traversal\)/,
  },
  {
    hazard: 'absolute symlink escape to the real root',
    entries: () => [
      { path: 'evil', type: 'SymbolicLink', linkpath: '/' },
      { path: `evil/tmp/${PWNED}`, body: 'pwned' },
    ],
    error: /entry "evil\/tmp\/nutshell-pwned-\d+" goes through the symlink "evil" \(symlink traversal\)/,
  },
  {
    hazard: 'symlink then a write through it',
    entries: (host) => [
      { path: 'link', type: 'SymbolicLink', linkpath: join(host, 'etc') },
      { path: 'link/passwd', body: 'owned' },
    ],
    error: /entry "link\/passwd" goes through the symlink "link" \(symlink traversal\)/,
  },
  {
    hazard: 'relative symlink upwards',
    entries: () => [
      { path: 'up', type: 'SymbolicLink', linkpath: '../../..' },
      { path: 'up/etc/passwd', body: 'owned' },
    ],
    error: /entry "up\/etc\/passwd" goes through the symlink "up" \(symlink traversal\)/,
  },
  {
    hazard: 'symlink nested below a real directory',
    entries: (host) => [
      { path: 'a/', type: 'Directory' },
      { path: 'a/b', type: 'SymbolicLink', linkpath: host },
      { path: 'a/b/c/d', body: 'owned' },
    ],
    error: /entry "a\/b\/c\/d" goes through the symlink "a\/b" \(symlink traversal\)/,
  },
  {
    hazard: 'hardlink to an absolute host path',
    entries: () => [{ path: 'pw', type: 'Link', linkpath: '/etc/passwd' }],
    error: /hardlink "pw" to "\/etc\/passwd": the target is not in the layer/,
  },
  {
    hazard: 'hardlink to a host file after whiteouts that carry link names',
    entries: () => [
      { path: '.wh.a', mode: 0 },
      { path: '.wh.b', mode: 0, linkpath: 'a' },
      { path: 'pw', type: 'Link', linkpath: '/etc/passwd' },
    ],
    error: /hardlink "pw" to "\/etc\/passwd": the target is not in the layer/,
  },
  {
    hazard: 'hardlink with path traversal',
    entries: () => [{ path: 'pw', type: 'Link', linkpath: '../../../etc/passwd' }],
    error: /hardlink "pw" to "\.\.\/\.\.\/\.\.\/etc\/passwd" escapes the layer \(path traversal\)/,
  },
  {
    hazard: 'hardlink through a symlink',
    entries: (host) => [
      { path: 's', type: 'SymbolicLink', linkpath: join(host, 'etc') },
      { path: 'pw', type: 'Link', linkpath: 's/passwd' },
    ],
    error: /hardlink "pw" to "s\/passwd" goes through the symlink "s" \(symlink traversal\)/,
  },
  {
    hazard: 'whiteout through a symlink (it would delete the host file)',
    entries: (host) => [
      { path: 's', type: 'SymbolicLink', linkpath: join(host, 'etc') },
      { path: 's/.wh.passwd', body: '' },
    ],
    error: /whiteout "s\/\.wh\.passwd" goes through the symlink "s" \(symlink traversal\)/,
  },
];

// ---------------------------------------------------------------- late directory metadata

/** What the planted directory entries ask for: nothing a host directory should ever get. */
const LATE = { type: 'Directory', mode: 0o777, uid: 4242, gid: 4343, mtime: new Date('1999-12-31T00:00:00Z') } as const;
/** A directory of the layer's own, after the swap: it must still get its metadata. */
const KEEP: TarEntry = { path: 'keep/', type: 'Directory', mode: 0o750, uid: 1234, gid: 5678 };

/** Directory metadata is applied at the end of the layer, by which time a later entry of the
 *  same layer may have swapped a directory on its path for a symlink to the host. Every case
 *  plants directories below `a` first, then swaps; <host>/victim/b/c is what the swapped
 *  paths would reach. The swap comes through each kind of entry that can put a link there. */
const SWAPPED: { hazard: string; entries: (host: string) => TarEntry[]; refused?: RegExp }[] = [
  {
    hazard: 'the parent replaced by a symlink',
    entries: (host) => [
      { path: 'a/', ...LATE },
      { path: 'a/b/', ...LATE },
      { path: 'a', type: 'SymbolicLink', linkpath: join(host, 'victim') },
    ],
  },
  {
    hazard: 'a grandparent replaced by a symlink',
    entries: (host) => [
      { path: 'a/', ...LATE },
      { path: 'a/b/', ...LATE },
      { path: 'a/b/c/', ...LATE },
      { path: 'a/b/c/file', body: 'inside' },
      { path: 'a', type: 'SymbolicLink', linkpath: join(host, 'victim') },
    ],
  },
  {
    hazard: 'the parent replaced by a relative symlink upwards',
    entries: () => [
      { path: 'a/b/c/', ...LATE }, // "a" and "a/b" are made on the way, without an entry
      { path: 'a', type: 'SymbolicLink', linkpath: '../../../victim' }, // the layer is <host>/var/lib/layer
    ],
  },
  {
    hazard: 'the directory itself replaced by a symlink',
    entries: (host) => [
      { path: 'a/', ...LATE },
      { path: 'a/b/', ...LATE },
      { path: 'a/b', type: 'SymbolicLink', linkpath: join(host, 'victim/b') },
    ],
  },
  {
    hazard: 'the parent replaced by a hardlink to a planted symlink',
    entries: (host) => [
      { path: 's', type: 'SymbolicLink', linkpath: join(host, 'victim') },
      { path: 'a/', ...LATE },
      { path: 'a/b/', ...LATE },
      { path: 'a', type: 'Link', linkpath: 's' }, // link(2) links the symlink itself
    ],
  },
  {
    hazard: 'the parent whited out, then a symlink in its place',
    entries: (host) => [
      { path: 'a/', ...LATE },
      { path: 'a/b/', ...LATE },
      { path: '.wh.a', body: '' },
      { path: 'a', type: 'SymbolicLink', linkpath: join(host, 'victim') },
    ],
  },
  {
    hazard: 'the directory named again after the swap',
    entries: (host) => [
      { path: 'a/b/', ...LATE },
      { path: 'a', type: 'SymbolicLink', linkpath: join(host, 'victim') },
      { path: 'a/b/', ...LATE },
    ],
    refused: /entry "a\/b\/" goes through the symlink "a" \(symlink traversal\)/,
  },
];

for (const ch of chaptersFrom('05')) {
  const { extractLayer } = await chapterModule<typeof import('../chapters/05-images/layer.ts')>(ch, 'layer.ts');

  describe(`chapter ${ch}`, () => {
    test('GNU tar round trip: modes, owners, mtimes, symlinks, hardlinks, FIFOs; devices skipped', async () => {
      const src = join(tempDir(), 'src');
      mkdirSync(join(src, 'bin'), { recursive: true });
      mkdirSync(join(src, 'etc'));
      mkdirSync(join(src, 'private'), { mode: 0o710 });
      writeFileSync(join(src, 'bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o4755 });
      linkSync(join(src, 'bin/tool'), join(src, 'bin/tool-again'));
      writeFileSync(join(src, 'etc/secret'), 'hush\n', { mode: 0o640 });
      chownSync(join(src, 'etc/secret'), 1234, 5678);
      chownSync(join(src, 'bin/tool'), 1234, 0); // setuid and owned: chown must come before chmod
      symlinkSync('/bin/busybox', join(src, 'bin/sh'));
      symlinkSync('bin', join(src, 'sbin'));
      execFileSync('mkfifo', ['-m', '0620', join(src, 'fifo')]);
      execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
      for (const path of ['bin/tool', 'etc/secret', 'bin/sh', 'sbin', 'private', 'fifo', 'bin', 'etc', '.']) {
        lutimesSync(join(src, path), MTIME, MTIME);
      }

      const dest = join(tempDir(), 'layer');
      const { skipped } = await extractLayer(streamOf(gnuTar(src)), OCI_TAR, dest);

      for (const path of ['bin/tool', 'etc/secret', 'private', 'fifo', 'bin/sh', 'sbin', 'bin', 'etc']) {
        const want = lstatSync(join(src, path));
        const got = lstatSync(join(dest, path));
        assert.equal((got.mode & 0o177777).toString(8), (want.mode & 0o177777).toString(8), `mode of ${path}`);
        assert.deepEqual([got.uid, got.gid], [want.uid, want.gid], `owner of ${path}`);
        assert.equal(got.mtimeMs, MTIME.getTime(), `mtime of ${path}`);
      }
      assert.equal(readFileSync(join(dest, 'bin/tool'), 'utf8'), '#!/bin/sh\necho tool\n');
      assert.equal(readlinkSync(join(dest, 'bin/sh')), '/bin/busybox', 'absolute symlinks are kept as they are');
      assert.equal(readlinkSync(join(dest, 'sbin')), 'bin');
      assert.equal(statSync(join(dest, 'bin/tool-again')).ino, statSync(join(dest, 'bin/tool')).ino, 'hardlink');
      assert.ok(lstatSync(join(dest, 'fifo')).isFIFO());
      assert.ok(!existsSync(join(dest, 'null')), 'device nodes are not created');
      assert.deepEqual(skipped, ['"./null": device nodes are not unpacked (the engine creates /dev)']);
    });

    test('OCI whiteouts become overlayfs whiteouts: a 0/0 char device and the opaque xattr', async () => {
      const src = join(tempDir(), 'src');
      mkdirSync(join(src, 'etc'), { recursive: true });
      mkdirSync(join(src, 'var/cache'), { recursive: true });
      writeFileSync(join(src, 'etc/.wh.motd'), '');
      writeFileSync(join(src, 'var/cache/.wh..wh..opq'), '');
      writeFileSync(join(src, 'var/cache/new'), 'kept\n');

      const dest = join(tempDir(), 'layer');
      await extractLayer(streamOf(gnuTar(src)), OCI_TAR, dest);

      const whiteout = lstatSync(join(dest, 'etc/motd'));
      assert.ok(whiteout.isCharacterDevice(), 'etc/motd is a character device');
      assert.equal(whiteout.rdev, 0, 'with device number 0/0');
      assert.deepEqual(readdirSync(join(dest, 'etc')), ['motd'], 'the .wh. file itself is not written');
      assert.equal(xattr(join(dest, 'var/cache'), 'trusted.overlay.opaque'), 'y');
      assert.equal(xattr(join(dest, 'var'), 'trusted.overlay.opaque'), null, 'only the marked directory');
      assert.deepEqual(readdirSync(join(dest, 'var/cache')), ['new'], 'the layer\'s own files stay');
    });

    test('names that are not UTF-8, and xattrs with file capabilities, come back as GNU tar packed them; trusted.* is skipped', async () => {
      const src = join(tempDir(), 'src');
      const latin1 = (text: string) => Buffer.from(text, 'latin1'); // "café" as Latin-1: 0xE9, not UTF-8
      const at = (...parts: (string | Buffer)[]) => Buffer.concat([Buffer.from(src), ...parts.flatMap((part) => [Buffer.from('/'), Buffer.from(part)])]);
      mkdirSync(at(latin1('d\xe9j\xe0')), { recursive: true });
      writeFileSync(at(latin1('caf\xe9')), 'latin-1\n');
      writeFileSync(at('café'), 'utf-8\n');
      writeFileSync(at(latin1('d\xe9j\xe0'), latin1('\xfcber')), 'inside\n');
      linkSync(at(latin1('caf\xe9')), at(latin1('caf\xe9-link')));
      symlinkSync(latin1('d\xe9j\xe0/\xfcber'), at(latin1('s\xefmlink')));
      writeFileSync(at('ping'), 'pretend ping\n', { mode: 0o755 });
      setXattr(at('ping'), 'security.capability', CAP_NET_RAW_EP);
      setXattr(at('café'), 'user.binary', Buffer.from([0, 1, 2, 0xff, 0]));
      setXattr(at('café'), 'user.empty', '');
      setXattr(at(latin1('d\xe9j\xe0')), 'user.on-a-dir', 'yes');
      setXattr(at('ping'), 'trusted.overlay.opaque', 'y'); // what a layer must not be able to set
      // GNU tar writes xattrs only in the POSIX (PAX) format, and only those it is told to.
      const tar = execFileSync('tar', ['-C', src, '--format=posix', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 64 << 20 });
      assert.ok(tar.includes('SCHILY.xattr.security.capability='), 'GNU tar wrote the capability as a PAX record');
      assert.ok(tar.includes(latin1('caf\xe9')), 'and the Latin-1 name as its bytes');

      const dest = join(tempDir(), 'layer');
      const trace = await traceOf(() => extractLayer(streamOf(tar, 100), OCI_TAR, dest));
      const out = (...parts: (string | Buffer)[]) => Buffer.concat([Buffer.from(dest), ...parts.flatMap((part) => [Buffer.from('/'), Buffer.from(part)])]);
      const names = (dir: Buffer) => readdirSync(dir, { encoding: 'buffer' }).map((name) => name.toString('hex')).sort();
      assert.deepEqual(names(out()), names(at()), 'the same names, byte for byte');
      assert.deepEqual(names(out(latin1('d\xe9j\xe0'))), names(at(latin1('d\xe9j\xe0'))));
      assert.equal(readFileSync(out(latin1('caf\xe9')), 'utf8'), 'latin-1\n');
      assert.equal(readFileSync(out('café'), 'utf8'), 'utf-8\n');
      assert.equal(lstatSync(out(latin1('caf\xe9-link'))).ino, lstatSync(out(latin1('caf\xe9'))).ino, 'the hard link');
      assert.deepEqual(readlinkSync(out(latin1('s\xefmlink')), { encoding: 'buffer' }), latin1('d\xe9j\xe0/\xfcber'), 'the symlink target, as bytes');
      assert.deepEqual(getXattr(out('ping'), 'security.capability'), CAP_NET_RAW_EP, 'the file capability');
      assert.deepEqual(getXattr(out('café'), 'user.binary'), Buffer.from([0, 1, 2, 0xff, 0]), 'a binary value, NULs and all');
      assert.deepEqual(getXattr(out('café'), 'user.empty'), Buffer.alloc(0), 'an empty value');
      assert.deepEqual(getXattr(out(latin1('d\xe9j\xe0')), 'user.on-a-dir'), Buffer.from('yes'), 'a directory\'s, set with its late metadata');
      assert.equal(getXattr(out('ping'), 'trusted.overlay.opaque'), null, 'trusted.* never reaches the layer');
      assert.match(trace, /skip the xattr trusted\.overlay\.opaque of "\.\/ping"/);
      assert.equal((lstatSync(out('ping')).mode & 0o7777).toString(8), '755');
    });

    test('GNU and PAX extensions: long names and link targets, ids past 8 octal digits (base-256 in GNU tar)', async () => {
      const src = join(tempDir(), 'src');
      const deep = `${'long-directory-name-'.repeat(8)}/${'x'.repeat(120)}`;
      mkdirSync(join(src, dirname(deep)), { recursive: true });
      writeFileSync(join(src, deep), 'deep\n');
      chownSync(join(src, deep), 3_000_000, 3_000_001); // past 07777777: no room in the ustar field
      symlinkSync(`/${deep}`, join(src, 'to-deep'));
      for (const format of ['gnu', 'posix']) {
        const tar = execFileSync('tar', ['-C', src, `--format=${format}`, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 64 << 20 });
        const dest = join(tempDir(), 'layer');
        await extractLayer(streamOf(tar, 333), OCI_TAR, dest);
        assert.equal(readFileSync(join(dest, deep), 'utf8'), 'deep\n', `${format}: the long path`);
        assert.deepEqual([lstatSync(join(dest, deep)).uid, lstatSync(join(dest, deep)).gid], [3_000_000, 3_000_001], `${format}: the big ids`);
        assert.equal(readlinkSync(join(dest, 'to-deep')), `/${deep}`, `${format}: the long link target`);
      }
    });

    test('a damaged archive is refused in one line: truncated, a bad checksum later on, a malformed or oversized PAX header', async () => {
      const tar = tarOf([{ path: 'first', body: 'a'.repeat(1000) }, { path: 'second', body: 'b' }]);
      const refused = async (bytes: Buffer, pattern: RegExp) => {
        const dest = join(tempDir(), 'layer');
        await assert.rejects(extractLayer(streamOf(bytes), OCI_TAR, dest, 'layer sha256:0123'), (err: Error) => {
          assert.ok(err instanceof UserError, String(err));
          assert.match(err.message, pattern);
          return !err.message.includes('\n');
        });
      };
      await refused(tar.subarray(0, 1000), /^layer sha256:0123: truncated: the archive ends inside the entry "first"$/);
      await refused(tar.subarray(0, 300), /^layer sha256:0123: truncated: the archive ends inside a header block$/);
      const damaged = Buffer.from(tar);
      damaged[1536] = 0x7a; // the second header's name: its checksum no longer holds
      await refused(damaged, /^layer sha256:0123: damaged tar header at byte 1536: its checksum does not hold$/);
      const pax = (records: string) => tarOf([{ path: 'PaxHeader', type: 'ExtendedHeader', body: records }, { path: 'file', body: 'x' }]);
      await refused(pax('99 path=short\n'), /damaged PAX header at byte 0: a record is malformed/);
      await refused(pax('12 noequals\n'), /damaged PAX header at byte 0: a record is malformed/);
      await refused(pax('12 uid=-1x2\n'), /uid="-1x2" is not a number/);
      const huge = tarOf([{ path: 'PaxHeader', type: 'ExtendedHeader', body: Buffer.alloc(2 << 20, 'a') }]);
      await refused(huge, /an extended header of 2097152 bytes \(more than 1048576\)/);
      // A PAX path replaces the header's own name, and is checked like any path.
      await refused(pax('21 path=../../escape\n'), /entry "\.\.\/\.\.\/escape" escapes the layer \(path traversal\)/);
    });

    test('the diff id is the sha256 of the uncompressed tar, gzipped or not, whatever the label says', async () => {
      const tar = tarOf([{ path: 'hello', body: 'hello, layer\n'.repeat(1000) }, { path: 'dir/', type: 'Directory' }]);
      const gzipped = gzipSync(tar);
      const cases: [Buffer, string][] = [
        [tar, OCI_TAR],
        [gzipped, OCI_GZIP],
        [gzipped, DOCKER_GZIP],
        [gzipped, OCI_TAR], // mislabelled: the gzip magic bytes decide
      ];
      for (const [bytes, mediaType] of cases) {
        const dest = join(tempDir(), 'layer');
        const { diffId } = await extractLayer(streamOf(bytes, 7), mediaType, dest);
        assert.equal(diffId, sha256(tar), mediaType);
        assert.notEqual(diffId, sha256(gzipped));
        assert.equal(readFileSync(join(dest, 'hello'), 'utf8'), 'hello, layer\n'.repeat(1000));
      }
    });

    test('an empty layer (only the two zero end blocks) is valid; an empty stream is not', async () => {
      const { diffId } = await extractLayer(streamOf(gzipSync(Buffer.alloc(1024))), DOCKER_GZIP, join(tempDir(), 'layer'));
      // The diff id docker gives every build step that changes no file.
      assert.equal(diffId, 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
      await assert.rejects(extractLayer(Readable.from([]), OCI_TAR, join(tempDir(), 'layer')), /not a tar archive: the stream is empty/);
    });

    test('a layer streams through: a 256 MiB file does not need 256 MiB of memory', async () => {
      const size = 256 << 20;
      async function* hugeLayer() {
        const header = Buffer.alloc(512);
        new Header({ path: 'huge', type: 'File', mode: 0o644, size, mtime: MTIME }).encode(header, 0);
        yield header;
        for (let i = 0; i < size >> 20; i++) yield Buffer.alloc(1 << 20, 'n');
        yield Buffer.alloc(1024);
      }
      const before = process.resourceUsage().maxRSS * 1024;
      const dest = join(tempDir(), 'layer');
      await extractLayer(Readable.from(hugeLayer()), OCI_TAR, dest);
      const grown = process.resourceUsage().maxRSS * 1024 - before;
      assert.equal(statSync(join(dest, 'huge')).size, size);
      assert.ok(grown < size / 2, `peak memory grew by ${grown >> 20} MiB`);
    });

    test('unsupported or broken layers: one line saying what is wrong', async () => {
      const dest = () => join(tempDir(), 'layer');
      const tar = tarOf([{ path: 'a', body: 'a' }]);
      const zstdBytes = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]);
      await assert.rejects(extractLayer(streamOf(tar), 'application/vnd.oci.image.layer.v1.tar+zstd', dest()), /zstd.*not supported/);
      await assert.rejects(extractLayer(streamOf(zstdBytes), OCI_TAR, dest()), /zstd.*not supported/);
      await assert.rejects(extractLayer(streamOf(tar), 'application/json', dest()), /unsupported layer media type "application\/json"/);
      await assert.rejects(extractLayer(streamOf(Buffer.alloc(2000, 'x')), OCI_TAR, dest(), 'layer sha256:abc'), (err: Error) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /^layer sha256:abc: not a tar archive \(the first header block has no valid checksum\)$/);
        return !err.message.includes('\n');
      });
      const truncatedGzip = gzipSync(tar).subarray(0, 30);
      await assert.rejects(extractLayer(streamOf(truncatedGzip), OCI_GZIP, dest()), UserError);
    });

    test('a file entry replaces a symlink of the same name instead of writing through it', async () => {
      const { host, dest } = makeHost();
      const tar = tarOf([
        { path: 'f', type: 'SymbolicLink', linkpath: join(host, 'etc/passwd') },
        { path: 'f', body: 'mine\n' },
        { path: '/abs/file', body: 'a leading "/" means the layer\'s root\n' },
      ]);
      await extractLayer(streamOf(tar), OCI_TAR, dest);
      assert.ok(lstatSync(join(dest, 'f')).isFile());
      assert.equal(readFileSync(join(dest, 'f'), 'utf8'), 'mine\n');
      assert.equal(readFileSync(join(host, 'etc/passwd'), 'utf8'), PASSWD);
      assert.ok(existsSync(join(dest, 'abs/file')), 'absolute entry names are taken from the layer root, as docker does');
    });

    test('a whiteout written as a regular file that carries a link name (buildah\'s second deletion) is applied', async () => {
      // What buildah 1.28 writes for `RUN rm /bin/a /bin/b /bin/c` on overlayfs: the whiteouts
      // are hard links to one inode, and the 2nd and later come out as type '0', mode 0, with
      // the link name of the first deleted file.
      const dest = join(tempDir(), 'layer');
      const tar = tarOf([
        { path: 'bin/', type: 'Directory' },
        { path: 'bin/.wh.a', mode: 0 },
        { path: 'bin/.wh.b', mode: 0, linkpath: 'bin/a' },
        { path: 'bin/.wh.c', mode: 0, linkpath: 'bin/a' },
      ]);
      const trace = await traceOf(() => extractLayer(streamOf(tar), OCI_TAR, dest));
      for (const name of ['a', 'b', 'c']) {
        const whiteout = lstatSync(join(dest, 'bin', name));
        assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0, `bin/${name} is an overlayfs whiteout`);
      }
      assert.deepEqual(readdirSync(join(dest, 'bin')).sort(), ['a', 'b', 'c']);
      assert.match(trace, /ignore the link name "bin\/a" of "bin\/\.wh\.b"/);
    });

    test('a regular file, directory or FIFO with a stray link name is what its type says, the link name ignored', async () => {
      const { host, dest } = makeHost();
      const before = snapshot(host, dest);
      const tar = tarOf([
        { path: 'file', body: 'mine\n', linkpath: '/etc/passwd' },
        { path: 'up', body: 'mine too\n', linkpath: '../../../etc/passwd' },
        { path: 'dir/', type: 'Directory', linkpath: join(host, 'etc') },
        { path: 'dir/inside', body: 'in\n' },
        { path: 'fifo', type: 'FIFO', linkpath: '/etc/passwd' },
      ]);
      await extractLayer(streamOf(tar), OCI_TAR, dest);
      const file = lstatSync(join(dest, 'file'));
      assert.ok(file.isFile() && file.nlink === 1, 'a file of its own, not a link');
      assert.equal(readFileSync(join(dest, 'file'), 'utf8'), 'mine\n');
      assert.equal(readFileSync(join(dest, 'up'), 'utf8'), 'mine too\n');
      assert.ok(lstatSync(join(dest, 'dir')).isDirectory());
      assert.equal(readFileSync(join(dest, 'dir/inside'), 'utf8'), 'in\n');
      assert.ok(lstatSync(join(dest, 'fifo')).isFIFO());
      assert.deepEqual(snapshot(host, dest), before, 'the link names reached nothing on the host');
    });

    test('a damaged header that carries a link name is still refused (its checksum is not remade)', async () => {
      const tar = tarOf([{ path: 'bin/.wh.b', linkpath: 'bin/a' }]);
      tar.writeUInt8(tar[0]! ^ 0x01, 0); // "bin" becomes "cin": the checksum no longer holds
      await assert.rejects(extractLayer(streamOf(tar), OCI_TAR, join(tempDir(), 'layer')), /has no valid checksum/);
    });

    for (const { hazard, entries, error } of HOSTILE) {
      test(`hostile layer refused: ${hazard}`, async () => {
        for (const gzip of [false, true]) {
          const { host, dest } = makeHost();
          const before = snapshot(host, dest);
          const tar = tarOf(entries(host));
          const layer = streamOf(gzip ? gzipSync(tar) : tar);
          await assert.rejects(extractLayer(layer, OCI_GZIP, dest, 'layer sha256:0123456789ab'), (err: Error) => {
            assert.ok(err instanceof UserError, `a UserError, not ${err.constructor.name}: ${err.message}`);
            assert.match(err.message, /^layer sha256:0123456789ab: /);
            assert.match(err.message, error);
            assert.ok(!err.message.includes('\n'), 'one line');
            return true;
          });
          assert.deepEqual(snapshot(host, dest), before, 'nothing was written outside the layer');
          assert.equal(readFileSync(join(host, 'etc/passwd'), 'utf8'), PASSWD);
          assert.ok(!existsSync(join('/tmp', PWNED)), 'nothing reached the real /tmp');
        }
      });
    }

    for (const { hazard, entries, refused } of SWAPPED) {
      test(`late directory metadata never follows a symlink swapped into its path: ${hazard}`, async () => {
        const { host, dest } = makeHost();
        mkdirSync(join(host, 'victim/b/c'), { recursive: true, mode: 0o755 });
        for (const dir of ['victim/b/c', 'victim/b', 'victim']) lutimesSync(join(host, dir), MTIME, MTIME);
        const before = snapshot(host, dest);
        const layer = streamOf(tarOf([...entries(host), KEEP]));
        if (refused) {
          await assert.rejects(extractLayer(layer, OCI_TAR, dest), refused);
        } else {
          await extractLayer(layer, OCI_TAR, dest);
          // The swap is the layer's own business: its metadata is skipped, the rest applied.
          const keep = lstatSync(join(dest, 'keep'));
          assert.equal((keep.mode & 0o7777).toString(8), '750', 'mode of keep/');
          assert.deepEqual([keep.uid, keep.gid], [1234, 5678], 'owner of keep/');
          assert.equal(keep.mtimeMs, MTIME.getTime(), 'mtime of keep/');
        }
        assert.deepEqual(snapshot(host, dest), before, 'no host directory got a mode, owner or mtime');
      });
    }
  });
}
