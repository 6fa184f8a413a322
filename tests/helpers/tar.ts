/** Test helper: tar archives written header by header with node-tar's Header — including
 *  the hostile ones (path traversal, symlink escapes) that a malicious registry could serve. */
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
}

const MTIME = new Date('2001-09-09T01:46:40Z');

export function tarOf(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const type = entry.type ?? 'File';
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
