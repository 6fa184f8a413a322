/** Test helper: tar archives written header by header with node-tar's Header — including
 *  the hostile ones (path traversal, symlink escapes) that a malicious registry could serve,
 *  and extended attributes in PAX records, which node-tar's own writer cannot make. */
import { Header } from 'tar';

export interface TarEntry {
  path: string;
  /** ExtendedHeader: a PAX header, whose body is the records for the next entry. */
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO' | 'ExtendedHeader';
  /** Set on any type: real archivers leave one on entries that have none (buildah's whiteouts). */
  linkpath?: string;
  body?: string | Buffer;
  /** 0755 for a directory, 0644 otherwise, owned by 0:0 and dated MTIME, unless given. */
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  /** Extended attributes, as the PAX records `SCHILY.xattr.<name>` that GNU tar, Go's
   *  archive/tar (buildah) and umoci write, in an extended header just before the entry. */
  xattrs?: Record<string, string | Buffer>;
}

const MTIME = new Date('2001-09-09T01:46:40Z');

export function tarOf(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const type = entry.type ?? 'File';
    if (entry.xattrs) {
      const records = paxRecords(Object.entries(entry.xattrs).map(([name, value]) => [`SCHILY.xattr.${name}`, Buffer.from(value)]));
      const pax = Buffer.alloc(512);
      new Header({ path: 'PaxHeader', type: 'ExtendedHeader', mode: 0o644, size: records.length, mtime: entry.mtime ?? MTIME }).encode(pax, 0);
      blocks.push(pax, records, Buffer.alloc((512 - (records.length % 512)) % 512));
    }
    const header = Buffer.alloc(512);
    new Header({
      path: entry.path,
      type,
      linkpath: entry.linkpath,
      mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      size: body.length,
      mtime: entry.mtime ?? MTIME,
    }).encode(header, 0);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024)); // two zero blocks end an archive
  return Buffer.concat(blocks);
}

/** PAX records (POSIX.1-2001, pax "extended header"): each is "<length> <key>=<value>\n", where
 *  the length counts the whole record, its own digits included, and the value is raw bytes. */
function paxRecords(fields: [string, Buffer][]): Buffer {
  return Buffer.concat(fields.map(([key, value]) => {
    const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
    let length = rest.length + 1;
    while (length !== rest.length + String(length).length) length = rest.length + String(length).length;
    return Buffer.concat([Buffer.from(String(length)), rest]);
  }));
}
