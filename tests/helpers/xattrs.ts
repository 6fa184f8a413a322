/** Test helper: extended attributes, read and set with our own libc calls (Node has no xattr
 *  API), independent of the chapter code under test. Paths may be Buffers: a name on Linux is
 *  bytes, and the tests use names that are not UTF-8. Nothing follows a final symlink. */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const lgetxattr = libc.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)');
const llistxattr = libc.func('long llistxattr(const char *path, void *list, size_t size)');
const lsetxattr = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');

/** A C string for koffi: a Buffer needs its closing NUL. */
function cPath(path: string | Buffer): string | Buffer {
  return typeof path === 'string' ? path : Buffer.concat([path, Buffer.alloc(1)]);
}

export function setXattr(path: string | Buffer, name: string, value: Buffer | string): void {
  const bytes = Buffer.from(value);
  if (lsetxattr(cPath(path), name, bytes, bytes.length, 0) !== 0) throw new Error(`lsetxattr ${String(path)} ${name}: errno ${koffi.errno()}`);
}

/** The value of `name`, or null if the file has none. */
export function getXattr(path: string | Buffer, name: string): Buffer | null {
  const value = Buffer.alloc(65536); // XATTR_SIZE_MAX
  const size = Number(lgetxattr(cPath(path), name, value, value.length));
  return size < 0 ? null : Buffer.from(value.subarray(0, size));
}

/** Every xattr of `path` with its value, sorted by name. */
export function xattrsOf(path: string | Buffer): Map<string, Buffer> {
  const list = Buffer.alloc(65536);
  const size = Number(llistxattr(cPath(path), list, list.length));
  const names = size <= 0 ? [] : list.toString('utf8', 0, size).split('\0').filter(Boolean).sort();
  return new Map(names.map((name) => [name, getXattr(path, name)!]));
}

/** security.capability for `cap_net_raw+ep` (what `setcap cap_net_raw+ep` writes): struct
 *  vfs_cap_data revision 2, flagged effective, CAP_NET_RAW (13) permitted, nothing inheritable. */
export const CAP_NET_RAW_EP = (() => {
  const value = Buffer.alloc(20);
  value.writeUInt32LE(0x02000000 | 0x1, 0); // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
  value.writeUInt32LE(1 << 13, 4); // permitted, low 32 capabilities
  return value;
})();
