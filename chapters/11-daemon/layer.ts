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
 *    inside the destination: no "..", no symlink on the way, or the layer is refused (a
 *    directory checked once is trusted until the layer removes something).
 *    Directory metadata, set at the very end, goes through openat2(2), which follows no
 *    symlink at all: by then a later entry may have swapped a parent for one.
 *  Names stay bytes from the tar header to the filesystem (an image may hold names that are
 *  not UTF-8), and the xattrs a layer carries, file capabilities among them, are set again.
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
  write,
  type Stats,
} from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { SyscallError, UserError } from '../../lib/errors.ts';
import { streamed } from '../../lib/memory.ts';
import { quoteBytes, traceStep } from '../../lib/trace.ts';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './overlay.ts'; // OCI's whiteout names, which chapter 04's commit writes
import { Digester } from './registry.ts';
import { fsetxattr, lsetxattr, mknod, O_CLOEXEC, openat2, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, S_IFCHR, S_IFIFO } from './syscalls.ts';
import { pathBytes, pathComponents, TarReader, TYPE, type BodySink, type TarHeader } from './tar.ts';

export interface ExtractedLayer {
  /** `sha256:<hex>` of the uncompressed tar: what the config's `rootfs.diff_ids` must list. */
  diffId: string;
  /** Entries left out, one line each (device nodes, entry types we do not handle). */
  skipped: string[];
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GUNZIP_CHUNK = 256 << 10;
const writeAsync = promisify(write);
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
   *  the layer ("" for its root) read as latin1, one character a byte: a Map needs a string,
   *  and this one turns back into the same bytes. Looked up again from the root at the end. */
  directories: Map<string, TarHeader>;
  /** Directories of the layer (same keys) that this extraction made, or saw with lstat(2) to
   *  be real directories, since it last removed anything: walkDirectories need not look at
   *  them again. Any removal empties it, for a removed directory may come back as a symlink. */
  knownDirectories: Set<string>;
  skipped: string[];
  /** Files whose body is being written, so that they are closed if extraction stops. */
  openFds: Set<number>;
  /** File bodies and file endings handed to the thread pool, in order (see writeFile). */
  writes: Promise<void>;
  /** Why we stopped: pipeline() then aborts the streams upstream, and the error it rejects
   *  with may be theirs ("The operation was aborted"), not our reason. */
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

  const extraction: Extraction = { dest, name, directories: new Map(), knownDirectories: new Set(), skipped: [], openFds: new Set(), writes: Promise.resolve() };
  const diffId = new Digester();
  const untar = (tar: AsyncIterable<Buffer>) => hashAndUntar(tar, diffId, extraction);

  traceStep(
    `unpack ${name} (${gzipped ? 'gzipped' : 'plain'} tar) into ${dest}`,
    `${gzipped ? 'gunzip, hash' : 'hash'} and untar in one pass: the layer is never held in memory whole`,
  );
  mkdirSync(dest, { recursive: true });
  try {
    // Chunks of 256 KiB, not zlib's 16: each chunk is a trip to the thread that inflates and
    // back, through every stage after it, and a layer has thousands of them.
    if (gzipped) await pipeline(body, createGunzip({ chunkSize: GUNZIP_CHUNK }), untar);
    else await pipeline(body, untar);
    finishDirectories(extraction);
  } catch (caught) {
    // A refused entry, a damaged tar (TarFormatError) or gzip stream: one line naming the layer.
    const err = extraction.failure ?? caught;
    if (err instanceof UserError || err instanceof SyscallError) throw err;
    throw new UserError(`${name}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    // Only once no write is in flight: a descriptor closed under a write could be reused
    // by the next open, and receive bytes meant for this one.
    await extraction.writes.catch(() => {});
    for (const fd of extraction.openFds) closeSync(fd);
  }
  return { diffId: diffId.digest(), skipped: extraction.skipped };
}

/** The last stage of the pipeline: every byte of the tar goes into the diff id and into our
 *  tar reader (tar.ts), whose entries writeEntry() puts on disk as they come. File bodies are
 *  written by the thread pool while this thread hashes the same chunk; the next chunk waits
 *  for them, so no more than one chunk is ever waiting to be written. */
async function hashAndUntar(tar: AsyncIterable<Buffer>, diffId: Digester, extraction: Extraction): Promise<void> {
  const reader = new TarReader((header) => writeEntry(extraction, header));
  try {
    for await (const chunk of tar) {
      reader.write(chunk);
      diffId.update(chunk); // every byte of the tar, its padding too, is part of the diff id
      streamed(chunk.length);
      await extraction.writes;
    }
    reader.end();
    await extraction.writes;
  } catch (err) {
    extraction.failure = err;
    throw err;
  }
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

function skip(extraction: Extraction, header: TarHeader, why: string): undefined {
  const line = `${quoteBytes(header.path)}: ${why}`;
  extraction.skipped.push(line);
  traceStep(`skip ${line}`, 'not unpacked');
  return undefined;
}

/** Refuse the layer: one line that names the layer, the entry and the hazard. */
function refuse(extraction: Extraction, what: string): UserError {
  return new UserError(`${extraction.name}: ${what}`);
}

// ---------------------------------------------------------------- one entry

/** Entry types that carry a link name: only hard links and symlinks. */
const LINK_TYPES: string[] = [TYPE.hardlink, TYPE.symlink];
const WHITEOUT = Buffer.from(WHITEOUT_PREFIX);
const OPAQUE = Buffer.from(OPAQUE_MARKER);

/** Write one tar entry into the layer directory; a regular file returns where its body goes. */
function writeEntry(extraction: Extraction, header: TarHeader): BodySink | undefined {
  const subject = `entry ${quoteBytes(header.path)}`;
  if (header.linkPath.length > 0 && !LINK_TYPES.includes(header.type)) {
    // Overlayfs stores a layer's whiteouts as hard links to one inode, and buildah writes the
    // second and later `.wh.` entries as regular files that still name the first one. umoci
    // and containerd ignore a link name on a type that has none; so do we.
    traceStep(`ignore the link name ${quoteBytes(header.linkPath)} of ${quoteBytes(header.path)}`, 'only hardlinks and symlinks have one (buildah writes it on whiteouts)');
  }
  const parts = layerComponents(extraction, header.path, subject);
  const base = parts.at(-1);
  if (base === undefined) {
    // "./" itself: the entry describes the layer's root directory.
    if (header.type !== TYPE.directory) throw refuse(extraction, `${subject} has no name`);
    extraction.directories.set('', header);
    return undefined;
  }
  if (base.subarray(0, WHITEOUT.length).equals(WHITEOUT)) return writeWhiteout(extraction, header, parts);

  const parent = walkDirectories(extraction, parts.slice(0, -1), subject, true)!;
  const target = pathBytes(parent, base);
  switch (header.type) {
    case TYPE.file:
    case '\0': // a regular file, as the oldest tars write it
    case '7': // a contiguous file: a regular file everywhere but on one long-gone system
      return writeFile(extraction, header, target);
    case TYPE.directory:
    case 'D': { // GNU's dump directory: a directory with a listing we do not need
      const key = pathBytes(...parts).toString('latin1');
      makeDirectory(extraction, target);
      extraction.directories.set(key, header);
      extraction.knownDirectories.add(key);
      return undefined;
    }
    case TYPE.symlink:
      // The link is stored as is, "/bin/busybox" included: it is resolved inside the
      // container, where "/" is the rootfs. The danger is only an entry written *through*
      // it, and walkDirectories refuses those.
      createReplacing(extraction, target, () => symlinkSync(header.linkPath, target));
      setOwnerAndTimes(extraction, target, header);
      return undefined;
    case TYPE.hardlink:
      return writeHardlink(extraction, header, target);
    case TYPE.fifo:
      createReplacing(extraction, target, () => mknod(target, S_IFIFO | header.mode, 0, 0, 'a named pipe from the layer'));
      setOwnerAndTimes(extraction, target, header);
      chmodSync(target, header.mode); // after chown, which clears setuid bits
      return undefined;
    case TYPE.charDevice:
    case TYPE.blockDevice:
      // A device node would give whoever reaches the store's files a door to host hardware;
      // containers get their devices from the engine instead.
      return skip(extraction, header, 'device nodes are not unpacked (the engine creates /dev)');
    default:
      return skip(extraction, header, `entries of type ${JSON.stringify(header.type)} are not supported`);
  }
}

/** The components of a path inside the layer. A leading "/" is dropped, as docker does: in a
 *  layer, "/etc/passwd" can only mean the layer's own etc/passwd. ".." is never allowed, even
 *  where it would stay inside: a layer has no reason to walk upwards. */
function layerComponents(extraction: Extraction, path: Buffer, subject: string): Buffer[] {
  const parts = pathComponents(path);
  if (parts.some((part) => part.equals(DOT_DOT))) throw refuse(extraction, `${subject} escapes the layer (path traversal)`);
  return parts;
}

const DOT_DOT = Buffer.from('..');

/** Walk from the layer's root through `dirs` with lstat(2) and return the directory reached.
 *  Each component must be a real directory: a symlink is refused, since following it could
 *  lead anywhere on the host. A missing one is created (`create`), or null is returned.
 *  A directory this extraction made or checked already, with nothing removed since, is not
 *  looked at again (knownDirectories): most entries sit in a directory seen a moment ago. */
function walkDirectories(extraction: Extraction, dirs: Buffer[], subject: string, create: boolean): Buffer | null {
  let path: Buffer = Buffer.from(extraction.dest);
  let key = '';
  for (let i = 0; i < dirs.length; i++) {
    path = pathBytes(path, dirs[i]!);
    key = i === 0 ? dirs[0]!.toString('latin1') : `${key}/${dirs[i]!.toString('latin1')}`;
    if (extraction.knownDirectories.has(key)) continue;
    const stats = lstatOrNull(path);
    if (stats === null) {
      if (!create) return null;
      mkdirSync(path, { mode: 0o755 }); // tar lists parents first, but need not
    } else if (stats.isSymbolicLink()) {
      throw refuse(extraction, `${subject} goes through the symlink ${quoteBytes(pathBytes(...dirs.slice(0, i + 1)))} (symlink traversal)`);
    } else if (!stats.isDirectory()) {
      throw refuse(extraction, `${subject} goes through ${quoteBytes(pathBytes(...dirs.slice(0, i + 1)))}, which is not a directory`);
    }
    extraction.knownDirectories.add(key);
  }
  return path;
}

function lstatOrNull(path: Buffer): Stats | null {
  return lstatSync(path, { throwIfNoEntry: false }) ?? null;
}

/** A later entry replaces an earlier one of the same name. Removing a symlink removes the
 *  link, never what it points to, and nothing is ever opened through it. A directory is kept
 *  when the new entry is a directory too (`keepDirectory`); its stats are returned then. */
function removeExisting(extraction: Extraction, target: Buffer, keepDirectory: boolean): Stats | null {
  const stats = lstatOrNull(target);
  if (stats === null || (keepDirectory && stats.isDirectory())) return stats;
  extraction.knownDirectories.clear(); // what went may have been (or held) a directory we knew
  rmSync(target, { recursive: true, force: true });
  return null;
}

/** Make `target` with `create`, replacing an earlier entry of the same name. Each way we
 *  create something fails with EEXIST on a name that is taken, symlink included, and none
 *  follows a symlink there: open(2) with O_CREAT|O_EXCL, symlink(2), link(2), mknod(2),
 *  mkdir(2). So the old entry is looked for only then: in a new layer directory a name is
 *  rarely taken, and an lstat(2) first would cost a syscall for every entry. */
function createReplacing<T>(extraction: Extraction, target: Buffer, create: () => T): T {
  try {
    return create();
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
  removeExisting(extraction, target, false);
  return create();
}

/** A directory entry: made new, or an existing directory kept (a layer may list one twice,
 *  or a parent may have been made for an earlier entry); anything else of that name goes. */
function makeDirectory(extraction: Extraction, target: Buffer): void {
  try {
    mkdirSync(target, { mode: 0o700 });
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
  if (!removeExisting(extraction, target, true)?.isDirectory()) mkdirSync(target, { mode: 0o700 });
}

/** A regular file: created new (O_EXCL|O_NOFOLLOW: it cannot be an existing file or a
 *  link), filled as its body streams by, then given its owner, mode, xattrs and mtime.
 *  The body's write(2)s run on the thread pool, queued in order on extraction.writes, and
 *  so does the ending: futimes before the last write would see its mtime overwritten. */
function writeFile(extraction: Extraction, header: TarHeader, target: Buffer): BodySink {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  const fd = createReplacing(extraction, target, () => openSync(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600));
  extraction.openFds.add(fd);
  const queue = (step: () => void | Promise<void>) => {
    extraction.writes = extraction.writes.then(step);
    // Whoever awaits it sees a failure; until then it must not count as unhandled (which
    // ends the process): a refused entry may stop the reading while writes are in flight.
    extraction.writes.catch(() => {});
  };
  return {
    data: (chunk) => queue(() => writeAll(fd, chunk)),
    end: () => queue(() => {
      if (AS_ROOT) fchownSync(fd, header.uid, header.gid);
      fchmodSync(fd, header.mode); // after fchown, which clears setuid and setgid bits
      // After fchown too, which clears security.capability.
      setXattrs(extraction, header, (name, value, why) => fsetxattr(fd, name, value, why));
      futimesSync(fd, header.mtime, header.mtime);
      extraction.openFds.delete(fd);
      closeSync(fd);
    }),
  };
}

/** write(2) all of `chunk` on the thread pool (a write may take less than it was given). */
async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await writeAsync(fd, chunk, done, chunk.length - done, null);
    done += bytesWritten;
  }
}

/** A hardlink names an earlier entry of the same layer. Its target is resolved inside the
 *  layer like any entry path, and must already be there: a link to a host file would let the
 *  container read or change it through the link. The inode has its owner, mode and xattrs
 *  already, from the entry that made it. */
function writeHardlink(extraction: Extraction, header: TarHeader, target: Buffer): undefined {
  const subject = `hardlink ${quoteBytes(header.path)} to ${quoteBytes(header.linkPath)}`;
  const parts = layerComponents(extraction, header.linkPath, subject);
  const dir = walkDirectories(extraction, parts.slice(0, -1), subject, false);
  const existing = dir === null || parts.length === 0 ? null : pathBytes(dir, parts.at(-1)!);
  const stats = existing === null ? null : lstatOrNull(existing);
  if (existing === null || stats === null) throw refuse(extraction, `${subject}: the target is not in the layer`);
  if (stats.isDirectory()) throw refuse(extraction, `${subject}: the target is a directory`);
  if (existing.equals(target)) return undefined; // a link to itself: nothing to do
  // link(2) does not follow a symlink target: linking to a symlink links the symlink itself.
  createReplacing(extraction, target, () => linkSync(existing, target));
  return undefined;
}

/** Translate an OCI whiteout into overlayfs's own mark. */
function writeWhiteout(extraction: Extraction, header: TarHeader, parts: Buffer[]): undefined {
  const subject = `whiteout ${quoteBytes(header.path)}`;
  const base = parts.at(-1)!;
  const dir = walkDirectories(extraction, parts.slice(0, -1), subject, true)!;
  if (base.equals(OPAQUE)) {
    // "Everything below this directory in lower layers is gone": overlay's opaque directory.
    lsetxattr(dir, 'trusted.overlay.opaque', 'y', 'opaque: overlayfs shows nothing of lower layers in here');
    return undefined;
  }
  const hidden = base.subarray(WHITEOUT.length);
  if (hidden.subarray(0, WHITEOUT.length).equals(WHITEOUT)) {
    return skip(extraction, header, 'other .wh..wh. names are aufs bookkeeping, meaningless to overlayfs');
  }
  if (hidden.length === 0 || hidden.equals(Buffer.from('.')) || hidden.equals(DOT_DOT)) throw refuse(extraction, `${subject} names no file`);
  const target = pathBytes(dir, hidden);
  removeExisting(extraction, target, false); // what the whiteout hides, from this layer, goes
  mknod(target, S_IFCHR, 0, 0, 'whiteout: overlayfs reads a 0/0 character device as "deleted here"');
  return undefined;
}

/** Apply the entry's extended attributes (PAX `SCHILY.xattr.*` records) with `set`. Not
 *  trusted.*: overlayfs keeps its own marks there (an image could otherwise make a directory
 *  opaque, or redirect it, by hand), and only root may set them anyway. Not security.* unless
 *  we are root: setting a file capability takes CAP_SETFCAP. */
function setXattrs(extraction: Extraction, header: TarHeader, set: (name: string, value: Buffer, why: string) => void): void {
  for (const [name, value] of header.xattrs) {
    if (name.startsWith('trusted.') || (!AS_ROOT && !name.startsWith('user.'))) {
      const why = name.startsWith('trusted.') ? 'trusted.* is overlayfs\'s own namespace: a layer may not set it' : 'only root may set it';
      traceStep(`skip the xattr ${name} of ${quoteBytes(header.path)}`, why);
      continue;
    }
    set(name, value, `an xattr from ${extraction.name}${name === 'security.capability' ? ': a file capability' : ''}`);
  }
}

/** Owner, xattrs and times of something that is not opened (symlinks, FIFOs), without
 *  following it. */
function setOwnerAndTimes(extraction: Extraction, target: Buffer, header: TarHeader): void {
  if (AS_ROOT) lchownSync(target, header.uid, header.gid);
  setXattrs(extraction, header, (name, value, why) => lsetxattr(target, name, value, why));
  lutimesSync(target, header.mtime, header.mtime);
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
    for (const [path, header] of extraction.directories) {
      const fd = openLayerDirectory(rootFd, Buffer.from(path || '.', 'latin1'));
      if (fd === null) continue;
      try {
        if (AS_ROOT) fchownSync(fd, header.uid, header.gid);
        fchmodSync(fd, header.mode);
        setXattrs(extraction, header, (name, value, why) => fsetxattr(fd, name, value, why));
        futimesSync(fd, header.mtime, header.mtime);
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
function openLayerDirectory(rootFd: number, path: Buffer): number | null {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
  try {
    // RESOLVE_NO_SYMLINKS: ELOOP on a symlink anywhere on the path, checked by the kernel as it
    // walks, so nothing can be swapped between a check and the use. RESOLVE_BENEATH: no way out.
    return openat2(rootFd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, 'late directory metadata: open it without following any symlink', {
      target: `${rootFd}, ${quoteBytes(path)}, {O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS}`,
    });
  } catch (err) {
    if (!(err instanceof SyscallError) || !['ELOOP', 'ENOTDIR', 'ENOENT'].includes(err.code)) throw err;
    traceStep(`skip the owner, mode and times of ${quoteBytes(path)}`, 'a later entry of the layer replaced it or a directory above it');
    return null;
  }
}
