/** Chapter 05 · unpacking a layer. A layer is a tar archive of what one build step added,
 *  changed or deleted, usually gzipped. We unpack it in one streaming pass: compressed bytes
 *  come in, are gunzipped, hashed (the sha256 of the *uncompressed* tar is the layer's
 *  "diff id", the name the image config gives it) and written out entry by entry, so a
 *  layer is never held in memory whole. Two things make this more than `tar x`:
 *  - deletions: OCI marks a deleted file with an empty `.wh.<name>` file and an emptied
 *    directory with `.wh..wh..opq`; overlayfs wants a 0/0 character device and the xattr
 *    `trusted.overlay.opaque=y`. We write overlay's marks, so a layer dir is a lower dir as is.
 *  - hostile archives: a layer comes from the network, and a tar entry can be called
 *    `../../etc/cron.d/x`, or go through a symlink the same archive planted a moment earlier.
 *    Before writing anything we walk the entry's path one component at a time with lstat(2)
 *    inside the destination: no "..", no symlink on the way, or the layer is refused.
 *    Directory metadata, set at the very end, goes through openat2(2), which follows no
 *    symlink at all: by then a later entry may have swapped a parent for one.
 *  Lesson: docs/05-images.md */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Header, Parser, type ReadEntry } from 'tar';
import { SyscallError, UserError } from '../../lib/errors.ts';
import { streamed } from '../../lib/memory.ts';
import { traceStep } from '../../lib/trace.ts';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './overlay.ts'; // OCI's whiteout names, which chapter 04's commit writes
import { Digester } from './registry.ts';
import { lsetxattr, mknod, O_CLOEXEC, openat2, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, S_IFCHR, S_IFIFO } from './syscalls.ts';

export interface ExtractedLayer {
  /** `sha256:<hex>` of the uncompressed tar: what the config's `rootfs.diff_ids` must list. */
  diffId: string;
  /** Entries left out, one line each (device nodes, entry types we do not handle). */
  skipped: string[];
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** `…layer.v1.tar`, `…layer.v1.tar+gzip`, docker's `…rootfs.diff.tar.gzip`, `application/x-tar`. */
const TAR_MEDIA_TYPE = /(^|[./-])tar([+.]gzip)?$/;

/** Ownership can be given away only by root; anyone else keeps the files as their own. */
const AS_ROOT = process.getuid?.() === 0;

/** What one extraction carries from entry to entry. */
interface Extraction {
  dest: string;
  /** `layer sha256:1a2b3c…`: how errors name the layer. */
  name: string;
  /** Directory metadata is applied last: writing into a directory changes its mtime, and
   *  a read-only mode would stop a non-root caller from filling it. Keyed by the path inside
   *  the layer ("." for its root), since it is looked up again from the root at the end. */
  directories: Map<string, ReadEntry>;
  skipped: string[];
  /** The file whose body is being written, so that it is closed if extraction stops. */
  openFd?: number;
  /** The first error: node-tar calls us from inside its parser, so we record it and stop. */
  failure?: unknown;
}

/** Unpack the layer tar read from `source` into the directory `dest` (which should be new
 *  and empty: the caller removes it if this throws) and return its diff id. `name` is how
 *  errors name the layer, e.g. `layer sha256:1a2b3c4d5e6f`. */
export async function extractLayer(source: Readable, mediaType: string, dest: string, name = 'layer'): Promise<ExtractedLayer> {
  checkMediaType(mediaType, name);
  const { head, body } = await peek(source, ZSTD_MAGIC.length);
  // The bytes have the last word: a registry may well label a gzipped layer as plain tar.
  if (head.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC)) throw zstdNotSupported(name);
  const gzipped = head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC);

  const extraction: Extraction = { dest, name, directories: new Map(), skipped: [] };
  const diffId = new Digester();
  const untar = (tar: AsyncIterable<Buffer>) => hashAndUntar(tar, diffId, extraction);

  traceStep(
    `unpack ${name} (${gzipped ? 'gzipped' : 'plain'} tar) into ${dest}`,
    `${gzipped ? 'gunzip, hash' : 'hash'} and untar in one pass: the layer is never held in memory whole`,
  );
  mkdirSync(dest, { recursive: true });
  try {
    if (gzipped) await pipeline(body, createGunzip(), untar);
    else await pipeline(body, untar);
    finishDirectories(extraction);
  } catch (caught) {
    // When we stop, pipeline() aborts the streams upstream; our own reason is the one to tell.
    const err = extraction.failure ?? caught;
    if (err instanceof UserError || err instanceof SyscallError) throw err;
    throw new UserError(`${name}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    if (extraction.openFd !== undefined) closeSync(extraction.openFd);
  }
  return { diffId: diffId.digest(), skipped: extraction.skipped };
}

/** The last stage of the pipeline: every byte of the tar goes into the diff id and into
 *  node-tar's parser, whose entries writeEntry() puts on disk as they come. */
async function hashAndUntar(tar: AsyncIterable<Buffer>, diffId: Digester, extraction: Extraction): Promise<void> {
  const parser = new LayerParser((path, linkName) =>
    traceStep(`ignore the link name ${JSON.stringify(linkName)} of ${JSON.stringify(path)}`, 'only hardlinks and symlinks have one (buildah writes it on whiteouts)'),
  );
  let onlyZeros = true;
  let size = 0;
  parser.on('error', (err: Error & { tarCode?: string }) => {
    // Nothing but the zero blocks that end an archive: an empty layer, which is valid (docker
    // writes one for a build step that changes no file), though node-tar calls it unrecognized.
    if (err.tarCode === 'TAR_BAD_ARCHIVE' && onlyZeros && size >= 1024) return;
    extraction.failure ??= err;
  });
  parser.on('entry', (entry: ReadEntry) => {
    guarded(extraction, () => writeEntry(extraction, entry));
    // The parser moves on once an entry's body is consumed: drain whatever we did not read.
    if (!entry.flowing) entry.resume();
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => skip(extraction, entry, `${entry.type} entries are not supported`));
  for await (const chunk of tar) {
    diffId.update(chunk); // every byte of the tar, its padding too, is part of the diff id
    size += chunk.length;
    onlyZeros &&= chunk.every((byte) => byte === 0);
    parser.write(chunk);
    streamed(chunk.length);
    if (extraction.failure) throw extraction.failure;
  }
  parser.end();
  if (extraction.failure) throw extraction.failure;
}

/** Entry types that have no link name: '0' and NUL (regular file), '7' (contiguous file),
 *  '5' (directory), '6' (FIFO), '3' and '4' (devices). A whiteout is a regular file. */
const NO_LINK_NAME_TYPES = new Set(['0', '\0', '7', '5', '6', '3', '4'].map((c) => c.charCodeAt(0)));
/** Where the link name sits in a ustar header block, and its checksum field. */
const LINK_NAME = { start: 157, end: 257 };
const CHECKSUM = { start: 148, end: 156 };

/** node-tar's method that reads one 512-byte header block: private, so found by its name. */
const CONSUME_HEADER = Object.getOwnPropertySymbols(Parser.prototype).find((s) => s.description === 'consumeHeader');
if (CONSUME_HEADER === undefined) throw new Error('node-tar has no Parser consumeHeader method: check layer.ts against this node-tar version');

/** node-tar's parser in strict mode (a damaged header is an error, not a warning), except
 *  for one thing real layers contain: a link name on an entry type that has none. Overlayfs
 *  stores a layer's whiteouts as hard links to one inode, and buildah writes the second and
 *  later `.wh.` entries as regular files that still name the first one; umoci and containerd
 *  ignore that link name, node-tar's strict mode refuses the layer. We blank it in the header
 *  block before node-tar reads it, so that every other check of its still applies. */
class LayerParser extends Parser {
  constructor(onIgnoredLinkName: (path: string, linkName: string) => void) {
    super({ strict: true });
    const consumeHeader = (Parser.prototype as unknown as Record<symbol, (chunk: Buffer, position: number) => void>)[CONSUME_HEADER!]!;
    Object.defineProperty(this, CONSUME_HEADER!, {
      value: (chunk: Buffer, position: number) => {
        const block = chunk.subarray(position, position + 512);
        const header = headerWithStrayLinkName(block);
        if (header === null) return consumeHeader.call(this, chunk, position);
        onIgnoredLinkName(header.path ?? '', header.linkpath ?? '');
        return consumeHeader.call(this, withoutLinkName(block), 0);
      },
    });
  }
}

/** The header in `block` if it is a sound one (its checksum holds) whose type has no link
 *  name yet which carries one; null for anything else, which node-tar judges as usual. */
function headerWithStrayLinkName(block: Buffer): Header | null {
  if (block.length < 512 || !NO_LINK_NAME_TYPES.has(block[156]!) || block[LINK_NAME.start] === 0) return null;
  try {
    const header = new Header(block);
    return header.cksumValid ? header : null;
  } catch {
    return null; // node-tar will say what is wrong with it
  }
}

/** A copy of the header block with its link name zeroed and its checksum made to match: the
 *  checksum is the sum of the block's bytes, its own 8 counted as spaces. */
function withoutLinkName(block: Buffer): Buffer {
  const copy = Buffer.from(block);
  copy.fill(0, LINK_NAME.start, LINK_NAME.end);
  copy.fill(0x20, CHECKSUM.start, CHECKSUM.end);
  const sum = copy.reduce((total, byte) => total + byte, 0);
  copy.write(`${sum.toString(8).padStart(6, '0')}\0 `, CHECKSUM.start, 'latin1');
  return copy;
}

function checkMediaType(mediaType: string, name: string): void {
  if (/zstd$/.test(mediaType)) throw zstdNotSupported(name);
  if (!TAR_MEDIA_TYPE.test(mediaType)) throw new UserError(`${name}: unsupported layer media type "${mediaType}"`);
}

function zstdNotSupported(name: string): UserError {
  return new UserError(`${name}: zstd-compressed layers are not supported (only tar and tar+gzip)`);
}

/** Read the first `n` bytes of a stream without losing them: those bytes, and a stream that
 *  yields everything from the start. */
async function peek(source: Readable, n: number): Promise<{ head: Buffer; body: Readable }> {
  const chunks: AsyncIterator<Buffer> = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let size = 0;
  while (size < n) {
    const next = await chunks.next();
    if (next.done) break;
    seen.push(next.value);
    size += next.value.length;
  }
  async function* everything(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    } finally {
      await chunks.return?.(); // stopped early (an error downstream): let go of the source too
    }
  }
  return { head: Buffer.concat(seen), body: Readable.from(everything(), { objectMode: false }) };
}

/** Run one step of the extraction unless an earlier one failed; keep the first error. */
function guarded(extraction: Extraction, step: () => void): void {
  if (extraction.failure) return;
  try {
    step();
  } catch (err) {
    extraction.failure = err;
  }
}

function skip(extraction: Extraction, entry: ReadEntry, why: string): void {
  const line = `${JSON.stringify(entry.path)}: ${why}`;
  extraction.skipped.push(line);
  traceStep(`skip ${line}`, 'not unpacked');
}

/** Refuse the layer: one line that names the layer, the entry and the hazard. */
function refuse(extraction: Extraction, what: string): UserError {
  return new UserError(`${extraction.name}: ${what}`);
}

// ---------------------------------------------------------------- one entry

/** Write one tar entry into the layer directory. */
function writeEntry(extraction: Extraction, entry: ReadEntry): void {
  const subject = `entry ${JSON.stringify(entry.path)}`;
  const parts = layerComponents(extraction, entry.path, subject);
  const base = parts.at(-1);
  if (base === undefined) {
    // "./" itself: the entry describes the layer's root directory.
    if (entry.type !== 'Directory') throw refuse(extraction, `${subject} has no name`);
    extraction.directories.set('.', entry);
    return;
  }
  if (base.startsWith(WHITEOUT_PREFIX)) return writeWhiteout(extraction, entry, parts);

  const parent = walkDirectories(extraction, parts.slice(0, -1), subject, true)!;
  const target = join(parent, base);
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return writeFile(extraction, entry, target);
    case 'Directory':
    case 'GNUDumpDir':
      if (!removeExisting(target, true)?.isDirectory()) mkdirSync(target, { mode: 0o700 });
      extraction.directories.set(parts.join('/'), entry);
      return;
    case 'SymbolicLink':
      // The link is stored as is, "/bin/busybox" included: it is resolved inside the
      // container, where "/" is the rootfs. The danger is only an entry written *through*
      // it, and walkDirectories refuses those.
      removeExisting(target, false);
      symlinkSync(entry.linkpath!, target);
      setOwnerAndTimes(target, entry);
      return;
    case 'Link':
      return writeHardlink(extraction, entry, target);
    case 'FIFO':
      removeExisting(target, false);
      mknod(target, S_IFIFO | (entry.mode ?? 0o644), 0, 0, 'a named pipe from the layer');
      setOwnerAndTimes(target, entry);
      chmodSync(target, entry.mode ?? 0o644); // after chown, which clears setuid bits
      return;
    case 'CharacterDevice':
    case 'BlockDevice':
      // A device node would give whoever reaches the store's files a door to host hardware;
      // containers get their devices from the engine instead.
      return skip(extraction, entry, 'device nodes are not unpacked (the engine creates /dev)');
    default:
      return skip(extraction, entry, `${entry.type} entries are not supported`);
  }
}

/** The components of a path inside the layer. A leading "/" is dropped, as docker does: in a
 *  layer, "/etc/passwd" can only mean the layer's own etc/passwd. ".." is never allowed, even
 *  where it would stay inside: a layer has no reason to walk upwards. */
function layerComponents(extraction: Extraction, path: string, subject: string): string[] {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw refuse(extraction, `${subject} escapes the layer (path traversal)`);
  return parts;
}

/** Walk from the layer's root through `dirs` with lstat(2) and return the directory reached.
 *  Each component must be a real directory: a symlink is refused, since following it could
 *  lead anywhere on the host. A missing one is created (`create`), or null is returned. */
function walkDirectories(extraction: Extraction, dirs: string[], subject: string, create: boolean): string | null {
  let path = extraction.dest;
  for (let i = 0; i < dirs.length; i++) {
    path = join(path, dirs[i]!);
    const shown = JSON.stringify(dirs.slice(0, i + 1).join('/'));
    const stats = lstatOrNull(path);
    if (stats === null) {
      if (!create) return null;
      mkdirSync(path, { mode: 0o755 }); // tar lists parents first, but need not
    } else if (stats.isSymbolicLink()) {
      throw refuse(extraction, `${subject} goes through the symlink ${shown} (symlink traversal)`);
    } else if (!stats.isDirectory()) {
      throw refuse(extraction, `${subject} goes through ${shown}, which is not a directory`);
    }
  }
  return path;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A later entry replaces an earlier one of the same name. Removing a symlink removes the
 *  link, never what it points to, and nothing is ever opened through it. A directory is kept
 *  when the new entry is a directory too (`keepDirectory`); its stats are returned then. */
function removeExisting(target: string, keepDirectory: boolean): Stats | null {
  const stats = lstatOrNull(target);
  if (stats === null || (keepDirectory && stats.isDirectory())) return stats;
  rmSync(target, { recursive: true, force: true });
  return null;
}

/** A regular file: created new (O_EXCL|O_NOFOLLOW: it cannot be an existing file or a
 *  link), filled as its body streams by, then given its owner, mode and mtime. */
function writeFile(extraction: Extraction, entry: ReadEntry, target: string): void {
  removeExisting(target, false);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  const fd = openSync(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  extraction.openFd = fd;
  entry.on('data', (chunk: Buffer) => guarded(extraction, () => writeSync(fd, chunk)));
  entry.on('end', () =>
    guarded(extraction, () => {
      if (AS_ROOT) fchownSync(fd, entry.uid ?? 0, entry.gid ?? 0);
      fchmodSync(fd, entry.mode ?? 0o644); // after fchown, which clears setuid and setgid bits
      if (entry.mtime) futimesSync(fd, entry.atime ?? entry.mtime, entry.mtime);
      extraction.openFd = undefined;
      closeSync(fd);
    }),
  );
}

/** A hardlink names an earlier entry of the same layer. Its target is resolved inside the
 *  layer like any entry path, and must already be there: a link to a host file would let the
 *  container read or change it through the link. */
function writeHardlink(extraction: Extraction, entry: ReadEntry, target: string): void {
  const subject = `hardlink ${JSON.stringify(entry.path)} to ${JSON.stringify(entry.linkpath)}`;
  const parts = layerComponents(extraction, entry.linkpath ?? '', subject);
  const dir = walkDirectories(extraction, parts.slice(0, -1), subject, false);
  const existing = dir === null || parts.length === 0 ? null : join(dir, parts.at(-1)!);
  const stats = existing === null ? null : lstatOrNull(existing);
  if (existing === null || stats === null) throw refuse(extraction, `${subject}: the target is not in the layer`);
  if (stats.isDirectory()) throw refuse(extraction, `${subject}: the target is a directory`);
  if (existing === target) return; // a link to itself: nothing to do
  removeExisting(target, false);
  // link(2) does not follow a symlink target: linking to a symlink links the symlink itself.
  linkSync(existing, target);
}

/** Translate an OCI whiteout into overlayfs's own mark. */
function writeWhiteout(extraction: Extraction, entry: ReadEntry, parts: string[]): void {
  const subject = `whiteout ${JSON.stringify(entry.path)}`;
  const base = parts.at(-1)!;
  const dir = walkDirectories(extraction, parts.slice(0, -1), subject, true)!;
  if (base === OPAQUE_MARKER) {
    // "Everything below this directory in lower layers is gone": overlay's opaque directory.
    lsetxattr(dir, 'trusted.overlay.opaque', 'y', 'opaque: overlayfs shows nothing of lower layers in here');
    return;
  }
  const hidden = base.slice(WHITEOUT_PREFIX.length);
  if (hidden.startsWith(WHITEOUT_PREFIX)) {
    return skip(extraction, entry, 'other .wh..wh. names are aufs bookkeeping, meaningless to overlayfs');
  }
  if (hidden === '' || hidden === '.' || hidden === '..') throw refuse(extraction, `${subject} names no file`);
  const target = join(dir, hidden);
  removeExisting(target, false);
  mknod(target, S_IFCHR, 0, 0, 'whiteout: overlayfs reads a 0/0 character device as "deleted here"');
}

/** Owner and times of something that is not opened (symlinks, FIFOs), without following it. */
function setOwnerAndTimes(target: string, entry: ReadEntry): void {
  if (AS_ROOT) lchownSync(target, entry.uid ?? 0, entry.gid ?? 0);
  if (entry.mtime) lutimesSync(target, entry.atime ?? entry.mtime, entry.mtime);
}

/** Give every directory the owner, mode and mtime its entry asked for, now that nothing more
 *  will be written into it. By now a later entry of the same layer may have replaced the
 *  directory, or any directory above it, with a symlink to the host: chmod(2) by path would
 *  follow it and change a host directory. So each one is opened from the layer's root with
 *  openat2(2), which refuses a symlink on any component, and changed through its descriptor. */
function finishDirectories(extraction: Extraction): void {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
  const rootFd = openSync(extraction.dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    for (const [path, entry] of extraction.directories) {
      const fd = openLayerDirectory(rootFd, path);
      if (fd === null) continue;
      try {
        if (AS_ROOT) fchownSync(fd, entry.uid ?? 0, entry.gid ?? 0);
        fchmodSync(fd, entry.mode ?? 0o755);
        if (entry.mtime) futimesSync(fd, entry.atime ?? entry.mtime, entry.mtime);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    closeSync(rootFd);
  }
}

/** Open the directory `path` of the layer, or return null when it is no longer one: a later
 *  entry replaced it or a directory above it (with a symlink, a file, a whiteout). Its entry's
 *  metadata then describes something the layer no longer has, so it is skipped, not refused:
 *  a later entry may replace an earlier one of the same name, in any honest layer too. */
function openLayerDirectory(rootFd: number, path: string): number | null {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
  try {
    // RESOLVE_NO_SYMLINKS: ELOOP on a symlink anywhere on the path, checked by the kernel as it
    // walks, so nothing can be swapped between a check and the use. RESOLVE_BENEATH: no way out.
    return openat2(rootFd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, 'late directory metadata: open it without following any symlink', {
      target: `${rootFd}, ${JSON.stringify(path)}, {O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS}`,
    });
  } catch (err) {
    if (!(err instanceof SyscallError) || !['ELOOP', 'ENOTDIR', 'ENOENT'].includes(err.code)) throw err;
    traceStep(`skip the owner, mode and times of ${JSON.stringify(path)}`, 'a later entry of the layer replaced it or a directory above it');
    return null;
  }
}
