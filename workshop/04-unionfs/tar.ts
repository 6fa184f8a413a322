/** Chapter 04 · the tar format, by hand. A layer is a tar archive, so an engine writes tar
 *  (commit) and, from chapter 05 on, reads it (pull). The format is simple: each entry is one
 *  512-byte header block (name, mode, owner, size, mtime, type, link name, as fixed-width
 *  fields of octal digits and NUL-padded bytes) followed by its body, padded to a whole
 *  number of blocks; two zero blocks end the archive. What no fixed field can hold goes into
 *  a PAX extended header, an entry of type 'x' in front of the one it describes, whose body is
 *  records `<length> <key>=<value>\n`: a long path, a big id, and the file's extended
 *  attributes as `SCHILY.xattr.<name>=<bytes>`.
 *  Why not a tar library: a name on Linux is bytes, not text, and an image may hold names that
 *  are not valid UTF-8; an xattr value is bytes too (`security.capability` is a binary
 *  struct). The libraries we tried decode names and PAX values as UTF-8, which changes such
 *  bytes, and drop the xattr records. Here every name, link target and value stays a Buffer
 *  from the header to the filesystem and back.
 *  Lesson: docs/04-unionfs.md */
import { isUtf8 } from 'node:buffer';

export const BLOCK = 512;

/** The entry types a layer uses (the typeflag byte). */
export const TYPE = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  charDevice: '3',
  blockDevice: '4',
  directory: '5',
  fifo: '6',
  /** PAX: records for the next entry only. */
  paxNext: 'x',
} as const;

/** One entry's header, as bytes where bytes are what the kernel keeps. */
export interface TarHeader {
  /** The path inside the archive: `etc/passwd`, `usr/` (a directory may end in "/"). */
  path: Buffer;
  /** The typeflag byte as a character: TYPE.file, TYPE.symlink… ('\0' is an old regular file). */
  type: string;
  /** Permission bits with setuid, setgid and sticky: 0o7777 at most. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of the body that follows (0 for anything but a regular file). */
  size: number;
  /** Seconds since the epoch (PAX may give fractions). */
  mtime: number;
  /** The target of a symlink, or the earlier entry a hard link names; empty otherwise. */
  linkPath: Buffer;
  devMajor: number;
  devMinor: number;
  /** Extended attributes, by name: `user.comment`, `security.capability`. */
  xattrs: Map<string, Buffer>;
}

/** Header fields: [offset, length] in the block (POSIX ustar, "pax" in the POSIX.1-2008 spec). */
const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  type: [156, 1],
  linkName: [157, 100],
  magic: [257, 8],
  devMajor: [329, 8],
  devMinor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

const USTAR_MAGIC = Buffer.from('ustar\x0000', 'latin1');
/** The key prefix of an xattr record, as GNU tar, bsdtar, Go's archive/tar and umoci write it. */
export const XATTR_KEY = 'SCHILY.xattr.';
const SLASH = 0x2f;

/** Paths as bytes: `a`, `b` → `a/b` (an empty first part gives `/b`). A string part is
 *  UTF-8, as Node would pass it to the kernel; a Buffer part goes in as it is. */
export function pathBytes(...parts: (string | Buffer)[]): Buffer {
  throw new Error('TODO (chapter 04): write pathBytes(), as the comment above it says');
}

/** The components of a byte path, without empty ones and ".": `./a//b/` → [a, b]. */
export function pathComponents(path: Buffer): Buffer[] {
  throw new Error('TODO (chapter 04): write pathComponents(), as the comment above it says');
}

// ---------------------------------------------------------------- writing

/** The header block of one entry, preceded by a PAX header when a field does not fit: a path
 *  over 255 bytes, a link name over 100, an id or size too big for its octal digits, xattrs.
 *  Nothing in it depends on the clock or the host, so the same files give the same bytes. */
export function encodeHeader(header: TarHeader): Buffer {
  // POSIX says a PAX path is UTF-8 unless the header says it is not: ours are bytes as the
  // kernel gave them, so we say so when they are not valid UTF-8.
  throw new Error('TODO (chapter 04): write encodeHeader(), as the comment above it says');
}

/** The zero bytes that pad a body of `size` bytes to whole blocks. */
export function padding(size: number): Buffer {
  throw new Error('TODO (chapter 04): write padding(), as the comment above it says');
}

/** Two zero blocks: the end of the archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** ustar stores a path of up to 255 bytes as a prefix (155) and a name (100), cut at a "/". */
function splitPath(path: Buffer): { prefix: Buffer; name: Buffer } | null {
  throw new Error('TODO (chapter 04): write splitPath(), as the comment above it says');
}

function put(block: Buffer, [offset, length]: readonly [number, number], bytes: Buffer): void {
  throw new Error('TODO (chapter 04): write put()');
}

/** An octal number, zero-padded, then a NUL; false if it needs more digits than the field has. */
function putOctal(block: Buffer, [offset, length]: readonly [number, number], value: number): boolean {
  throw new Error('TODO (chapter 04): write putOctal(), as the comment above it says');
}

/** The checksum is the sum of the block's bytes, its own 8 counted as spaces. */
function putChecksum(block: Buffer): void {
  throw new Error('TODO (chapter 04): write putChecksum(), as the comment above it says');
}

/** `<length> <key>=<value>\n`, where the length counts the whole record, its own digits too. */
function paxRecord(key: string, value: Buffer): Buffer {
  throw new Error('TODO (chapter 04): write paxRecord(), as the comment above it says');
}
