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
import { quoteBytes } from '../../lib/trace.ts';

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
  /** PAX: records for every entry after it. */
  paxGlobal: 'g',
  /** GNU: the next entry's long name, or long link name, as this entry's body. */
  gnuLongName: 'L',
  gnuLongLink: 'K',
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
  const slash = Buffer.from('/');
  return Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [slash, Buffer.from(part)])));
}

/** The components of a byte path, without empty ones and ".": `./a//b/` → [a, b]. */
export function pathComponents(path: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let start = 0; start <= path.length; ) {
    let end = path.indexOf(SLASH, start);
    if (end === -1) end = path.length;
    const part = path.subarray(start, end);
    if (part.length > 0 && !(part.length === 1 && part[0] === 0x2e)) parts.push(part);
    start = end + 1;
  }
  return parts;
}

// ---------------------------------------------------------------- writing

/** The header block of one entry, preceded by a PAX header when a field does not fit: a path
 *  over 255 bytes, a link name over 100, an id or size too big for its octal digits, xattrs.
 *  Nothing in it depends on the clock or the host, so the same files give the same bytes. */
export function encodeHeader(header: TarHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  const records: [string, Buffer][] = [];
  const split = splitPath(header.path);
  if (split) {
    put(block, FIELD.prefix, split.prefix);
    put(block, FIELD.name, split.name);
  } else {
    put(block, FIELD.name, header.path.subarray(0, FIELD.name[1]));
    records.push(['path', header.path]);
  }
  if (header.linkPath.length > FIELD.linkName[1]) records.push(['linkpath', header.linkPath]);
  else put(block, FIELD.linkName, header.linkPath);
  putOctal(block, FIELD.mode, header.mode & 0o7777);
  for (const [key, field] of [['uid', FIELD.uid], ['gid', FIELD.gid], ['size', FIELD.size]] as const) {
    if (!putOctal(block, field, header[key])) records.push([key, Buffer.from(String(header[key]))]);
  }
  putOctal(block, FIELD.mtime, Math.floor(header.mtime));
  block.write(header.type, FIELD.type[0], 'latin1');
  USTAR_MAGIC.copy(block, FIELD.magic[0]);
  putOctal(block, FIELD.devMajor, header.devMajor);
  putOctal(block, FIELD.devMinor, header.devMinor);
  for (const name of [...header.xattrs.keys()].sort()) records.push([XATTR_KEY + name, header.xattrs.get(name)!]);
  // POSIX says a PAX path is UTF-8 unless the header says it is not: ours are bytes as the
  // kernel gave them, so we say so when they are not valid UTF-8.
  if (records.some(([key, value]) => (key === 'path' || key === 'linkpath') && !isUtf8(value))) records.unshift(['hdrcharset', Buffer.from('BINARY')]);
  putChecksum(block);
  if (records.length === 0) return block;
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  const pax: TarHeader = { ...header, path: Buffer.from('PaxHeader'), type: TYPE.paxNext, size: body.length, linkPath: Buffer.alloc(0), uid: 0, gid: 0, xattrs: new Map() };
  return Buffer.concat([encodeHeader(pax), body, padding(body.length), block]);
}

/** The zero bytes that pad a body of `size` bytes to whole blocks. */
export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Two zero blocks: the end of the archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** ustar stores a path of up to 255 bytes as a prefix (155) and a name (100), cut at a "/". */
function splitPath(path: Buffer): { prefix: Buffer; name: Buffer } | null {
  if (path.length <= FIELD.name[1]) return { prefix: Buffer.alloc(0), name: path };
  for (let cut = path.indexOf(SLASH, path.length - FIELD.name[1] - 1); cut !== -1; cut = path.indexOf(SLASH, cut + 1)) {
    if (cut <= FIELD.prefix[1] && cut > 0 && path.length - cut - 1 <= FIELD.name[1] && path.length - cut - 1 > 0) {
      return { prefix: path.subarray(0, cut), name: path.subarray(cut + 1) };
    }
    if (cut > FIELD.prefix[1]) break;
  }
  return null;
}

function put(block: Buffer, [offset, length]: readonly [number, number], bytes: Buffer): void {
  bytes.copy(block, offset, 0, length);
}

/** An octal number, zero-padded, then a NUL; false if it needs more digits than the field has. */
function putOctal(block: Buffer, [offset, length]: readonly [number, number], value: number): boolean {
  const digits = Math.max(0, value).toString(8);
  if (digits.length > length - 1) return false;
  block.write(`${digits.padStart(length - 1, '0')}\0`, offset, 'latin1');
  return true;
}

/** The checksum is the sum of the block's bytes, its own 8 counted as spaces. */
function putChecksum(block: Buffer): void {
  block.fill(0x20, FIELD.checksum[0], FIELD.checksum[0] + FIELD.checksum[1]);
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, FIELD.checksum[0], 'latin1');
}

/** `<length> <key>=<value>\n`, where the length counts the whole record, its own digits too. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return Buffer.concat([Buffer.from(String(length)), rest]);
}

// ---------------------------------------------------------------- reading

/** A damaged or truncated archive. The caller names the layer. */
export class TarFormatError extends Error {}

/** Where an entry's body goes as it streams by. */
export interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
}

/** The most an extended header (PAX records, a GNU long name) may hold: names are at most
 *  4 KiB and an xattr value at most 64 KiB. A bigger one is an attack on our memory. */
const EXTENDED_MAX = 1 << 20;

/** A streaming tar reader: write() it the archive's bytes in chunks of any size, and it calls
 *  `onEntry` with each header, then the returned sink with the body (nothing is kept but one
 *  header block). An entry without a sink has its body skipped. Throws a TarFormatError on
 *  a damaged or truncated archive. */
export class TarReader {
  /** Where the archive is: in a header block, in a body (ours, or an extended header's), or done. */
  private state: 'header' | 'body' | 'extended' | 'done' = 'header';
  private block = Buffer.alloc(BLOCK);
  private filled = 0;
  /** Body bytes still to come, and padding after them. */
  private remaining = 0;
  private pad = 0;
  private sink: BodySink | undefined;
  private extended: Buffer[] = [];
  private extendedType = '';
  /** What PAX and GNU headers said about the next entry, and PAX global records. */
  private next = new Map<string, Buffer>();
  private global = new Map<string, Buffer>();
  private offset = 0;
  private entryOffset = 0;
  private entries = 0;
  private currentName = '';

  private readonly onEntry: (header: TarHeader) => BodySink | undefined;

  constructor(onEntry: (header: TarHeader) => BodySink | undefined) {
    this.onEntry = onEntry;
  }

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'done') {
      if (this.state === 'header') {
        const n = Math.min(BLOCK - this.filled, chunk.length - at);
        chunk.copy(this.block, this.filled, at, at + n);
        this.filled += n;
        at += n;
        if (this.filled === BLOCK) {
          this.filled = 0;
          this.readHeader();
          this.offset += BLOCK;
        }
        continue;
      }
      // A body, then its padding.
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at);
        const part = chunk.subarray(at, at + n);
        if (this.state === 'extended') this.extended.push(Buffer.from(part));
        else this.sink?.data(part);
        this.remaining -= n;
        at += n;
        this.offset += n;
        if (this.remaining > 0) continue;
      }
      const n = Math.min(this.pad, chunk.length - at);
      this.pad -= n;
      at += n;
      this.offset += n;
      if (this.pad === 0) this.finishBody();
    }
  }

  /** The archive's bytes are all in: anything but a finished entry is a truncated archive. */
  end(): void {
    if (this.state === 'done') return;
    if (this.state === 'header' && this.filled === 0 && this.entries > 0 && this.next.size === 0) return; // no end blocks: Go's reader, and so umoci, accepts that too
    if (this.offset === 0 && this.filled === 0) throw new TarFormatError('not a tar archive: the stream is empty');
    throw new TarFormatError(`truncated: the archive ends inside ${this.currentName || 'a header block'}`);
  }

  private readHeader(): void {
    const block = this.block;
    if (block.every((byte) => byte === 0)) {
      this.state = 'done'; // the end of the archive; any second zero block and padding are ignored
      return;
    }
    if (!checksumHolds(block)) {
      throw new TarFormatError(this.offset === 0 ? 'not a tar archive (the first header block has no valid checksum)' : `damaged tar header at byte ${this.offset}: its checksum does not hold`);
    }
    const at = this.offset;
    const number = (field: readonly [number, number], name: string) => readNumber(block, field, name, at);
    const type = String.fromCharCode(block[FIELD.type[0]]!);
    this.entryOffset = at;
    if (type === TYPE.paxNext || type === TYPE.paxGlobal || type === TYPE.gnuLongName || type === TYPE.gnuLongLink) {
      const size = number(FIELD.size, 'size');
      if (size > EXTENDED_MAX) throw new TarFormatError(`tar header at byte ${at}: an extended header of ${size} bytes (more than ${EXTENDED_MAX})`);
      this.extendedType = type;
      this.extended = [];
      this.currentName = `the extended header at byte ${at}`;
      return this.startBody('extended', size);
    }
    // This entry's records over the global ones. An empty value unsets a key (POSIX), except
    // for an xattr, whose value may well be empty.
    const records = new Map([...this.global, ...this.next].filter(([key, value]) => value.length > 0 || key.startsWith(XATTR_KEY)));
    this.next = new Map();
    const size = records.has('size') ? paxNumber(records.get('size')!, 'size', at) : number(FIELD.size, 'size');
    const header: TarHeader = {
      path: records.get('path') ?? headerPath(block),
      type,
      mode: number(FIELD.mode, 'mode') & 0o7777,
      uid: records.has('uid') ? paxNumber(records.get('uid')!, 'uid', at) : number(FIELD.uid, 'uid'),
      gid: records.has('gid') ? paxNumber(records.get('gid')!, 'gid', at) : number(FIELD.gid, 'gid'),
      size,
      mtime: records.has('mtime') ? paxNumber(records.get('mtime')!, 'mtime', at) : number(FIELD.mtime, 'mtime'),
      linkPath: records.get('linkpath') ?? field(block, FIELD.linkName),
      devMajor: number(FIELD.devMajor, 'devmajor'),
      devMinor: number(FIELD.devMinor, 'devminor'),
      xattrs: new Map([...records].filter(([key]) => key.startsWith(XATTR_KEY)).map(([key, value]) => [key.slice(XATTR_KEY.length), value])),
    };
    this.entries++;
    this.currentName = `the entry ${quoteBytes(header.path)}`;
    // Hard links, symlinks and directories have no body whatever their size field says.
    const hasBody = type !== TYPE.hardlink && type !== TYPE.symlink && type !== TYPE.directory;
    this.sink = this.onEntry(header);
    this.startBody('body', hasBody ? size : 0);
  }

  private startBody(state: 'body' | 'extended', size: number): void {
    this.state = state;
    this.remaining = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.finishBody();
  }

  private finishBody(): void {
    if (this.state === 'extended') {
      const body = Buffer.concat(this.extended);
      this.extended = [];
      if (this.extendedType === TYPE.gnuLongName) this.next.set('path', cutAtNul(body));
      else if (this.extendedType === TYPE.gnuLongLink) this.next.set('linkpath', cutAtNul(body));
      else for (const [key, value] of parsePaxRecords(body, this.entryOffset)) (this.extendedType === TYPE.paxGlobal ? this.global : this.next).set(key, value);
    } else {
      this.sink?.end();
      this.sink = undefined;
    }
    this.state = 'header';
  }
}

/** The sum of the block's bytes with the checksum field counted as spaces must be the number
 *  in that field. Old tars summed signed bytes; both are accepted, as GNU tar does. */
function checksumHolds(block: Buffer): boolean {
  const [offset, length] = FIELD.checksum;
  const stored = parseInt(block.toString('latin1', offset, offset + length).replace(/[\0 ]+$/, '').trim(), 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= offset && i < offset + length ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** A field's bytes up to its first NUL. */
function field(block: Buffer, [offset, length]: readonly [number, number]): Buffer {
  return cutAtNul(block.subarray(offset, offset + length));
}

function cutAtNul(bytes: Buffer): Buffer {
  const nul = bytes.indexOf(0);
  return Buffer.from(nul === -1 ? bytes : bytes.subarray(0, nul));
}

/** ustar's path: prefix "/" name when the block has the ustar magic and a prefix. (GNU tar's
 *  own magic, "ustar  ", keeps other fields there; its long names come as 'L' entries.) */
function headerPath(block: Buffer): Buffer {
  const name = field(block, FIELD.name);
  const isUstar = block.subarray(FIELD.magic[0], FIELD.magic[0] + 6).equals(USTAR_MAGIC.subarray(0, 6));
  const prefix = isUstar ? field(block, FIELD.prefix) : Buffer.alloc(0);
  return prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name;
}

/** A numeric field: octal digits ended by a space or NUL, or, when the first byte has its top
 *  bit set, GNU's base-256 big-endian number (for values octal has no room for). */
function readNumber(block: Buffer, [offset, length]: readonly [number, number], name: string, at: number): number {
  const bytes = block.subarray(offset, offset + length);
  if (bytes[0]! & 0x80) {
    if (bytes[0] !== 0x80) throw new TarFormatError(`damaged tar header at byte ${at}: a negative ${name}`);
    let value = 0;
    for (const byte of bytes.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`damaged tar header at byte ${at}: ${name} is too large`);
    return value;
  }
  const text = bytes.toString('latin1').replace(/[\0 ].*$/s, '').replace(/^ +/, '');
  if (!/^[0-7]*$/.test(text)) throw new TarFormatError(`damaged tar header at byte ${at}: ${name} is not an octal number`);
  return text === '' ? 0 : parseInt(text, 8);
}

/** A PAX number: decimal, with a fraction for times. */
function paxNumber(value: Buffer, name: string, at: number): number {
  const text = value.toString('latin1');
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isSafeInteger(Math.floor(Number(text)))) {
    throw new TarFormatError(`damaged PAX header at byte ${at}: ${name}=${JSON.stringify(text)} is not a number`);
  }
  return Number(text);
}

/** The records of a PAX header, each `<length> <key>=<value>\n`; values stay bytes. */
function parsePaxRecords(body: Buffer, at: number): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  const damaged = () => new TarFormatError(`damaged PAX header at byte ${at}: a record is malformed`);
  for (let pos = 0; pos < body.length; ) {
    if (body[pos] === 0) break; // NUL padding after the last record
    const space = body.indexOf(0x20, pos);
    const length = Number(body.toString('latin1', pos, space));
    if (space === -1 || !/^\d+$/.test(body.toString('latin1', pos, space)) || length <= space - pos || pos + length > body.length || body[pos + length - 1] !== 0x0a) throw damaged();
    const record = body.subarray(space + 1, pos + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw damaged();
    records.set(record.toString('utf8', 0, equals), Buffer.from(record.subarray(equals + 1)));
    pos += length;
  }
  return records;
}
