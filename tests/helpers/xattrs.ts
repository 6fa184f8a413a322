/** Test helper: extended attributes, read and set with our own libc calls (Node has no xattr
 *  API), independent of the chapter code under test. Paths may be Buffers: a name on Linux is
 *  bytes, and the tests use names that are not UTF-8. Nothing follows a final symlink. */
import { cPath as cString, koffi, libc } from '../../lib/libc.ts';
import { quoteBytes } from '../../lib/trace.ts';

// The attribute calls, with the path as bytes: a Buffer ending in NUL is a `const char *` to
// koffi, so a name that is not UTF-8 reaches the kernel as it is. (getfattr would do as well,
// but it is one more package, and it prints names and values in encodings of its own.)
const llistxattr_ = libc.func('long llistxattr(const char *path, void *list, size_t size)'); // man 2 llistxattr
const lgetxattr_ = libc.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)'); // man 2 lgetxattr
const lsetxattr_ = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'); // man 2 lsetxattr
const ENOTSUP = 95;
const ERANGE = 34;

/** Call a size-then-fill attribute call: with no buffer it says how big the answer is. */
function xattrCall(what: string, path: Buffer, call: (buf: Buffer | null, size: number) => number): Buffer {
  for (;;) {
    const size = call(null, 0);
    if (size === -1) break;
    const buf = Buffer.alloc(size);
    const got = call(buf, size);
    if (got !== -1) return buf.subarray(0, got);
    if (koffi.errno() !== ERANGE) break; // it grew between the two calls: ask again
  }
  const errno = koffi.errno();
  if (errno === ENOTSUP) return Buffer.alloc(0); // a filesystem without attributes has none
  throw new Error(`${what}(${quoteBytes(path)}): errno ${errno}`);
}

/** The extended attributes of `path` (the link itself, not what a symlink points to), by
 *  name, each value as its bytes; every namespace, `trusted.*` too. */
export function xattrsOf(path: string | Buffer): Map<string, Buffer> {
  const cPath = cString(Buffer.from(path)) as Buffer;
  const list = xattrCall('llistxattr', cPath, (buf, size) => Number(llistxattr_(cPath, buf, size)));
  const xattrs = new Map<string, Buffer>();
  // The list is the names one after another, each ending in NUL.
  for (let start = 0; start < list.length; ) {
    const end = list.indexOf(0, start);
    const name = list.subarray(start, end);
    const cName = Buffer.concat([name, Buffer.of(0)]);
    xattrs.set(name.toString('utf8'), xattrCall('lgetxattr', cPath, (buf, size) => Number(lgetxattr_(cPath, cName, buf, size))));
    start = end + 1;
  }
  return xattrs;
}

/** Give `path` (the link itself, for a symlink) the attribute `name`: what `setfattr -h` does,
 *  for the images of the tests, without the `attr` package. */
export function setXattr(path: string | Buffer, name: string, value: string | Buffer): void {
  const cPath = cString(Buffer.from(path)) as Buffer;
  const bytes = Buffer.from(value);
  if (lsetxattr_(cPath, name, bytes, bytes.length, 0) === -1) throw new Error(`lsetxattr(${quoteBytes(Buffer.from(path))}, ${name}): errno ${koffi.errno()}`);
}

/** The value of `name` on `path`, or null when it has none. */
export function getXattr(path: string | Buffer, name: string): Buffer | null {
  return xattrsOf(path).get(name) ?? null;
}

/** security.capability for `cap_net_raw+ep` (what `setcap cap_net_raw+ep` writes): struct
 *  vfs_cap_data revision 2, flagged effective, CAP_NET_RAW (13) permitted, nothing inheritable. */
export const CAP_NET_RAW_EP = (() => {
  const value = Buffer.alloc(20);
  value.writeUInt32LE(0x02000000 | 0x1, 0); // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
  value.writeUInt32LE(1 << 13, 4); // permitted, low 32 capabilities
  return value;
})();
