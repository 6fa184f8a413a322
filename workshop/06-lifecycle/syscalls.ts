/** The syscalls this program makes, declared from their man pages (new ones at the bottom).
 *  Each wrapper takes a `why`: it is printed by --trace, so the trace reads as the recipe. */
import { SyscallError } from '../../lib/errors.ts';
import { cPath, libc, sys, type SysOptions } from '../../lib/libc.ts';
import { flagNames, formatArgs } from '../../lib/trace.ts';

const chdir_ = libc.func('int chdir(const char *path)'); // man 2 chdir
const fcntl_ = libc.func('int fcntl(int fd, int cmd, int arg)'); // man 2 fcntl
const execve_ = libc.func('int execve(const char *path, const char **argv, const char **envp)'); // man 2 execve
const syscall_ = libc.func('long syscall(long number, ...)'); // man 2 syscall: for calls glibc does not wrap

const F_SETFD = 2;

export function chdir(path: string, why: string): void {
  sys('chdir', [path], why, () => chdir_(path));
}

/** Clear FD_CLOEXEC on a descriptor so that it survives execve(2). */
export function keepOpenAcrossExec(fd: number, why: string): void {
  sys('fcntl', [fd, 'F_SETFD', 0], why, () => fcntl_(fd, F_SETFD, 0), { target: `${fd}, F_SETFD, 0` });
}

/** close_range(2) came after the syscall numbers were unified: 436 on every architecture.
 *  (glibc wraps it only from 2.34, so it goes through syscall(2).) */
const SYS_close_range = 436;
const CLOSE_RANGE_CLOEXEC = 1 << 2;

/** Set FD_CLOEXEC on every descriptor from `first` up, open or not (close_range(2) with
 *  CLOSE_RANGE_CLOEXEC): the kernel closes them at execve(2), and they work until then. */
export function closeFromOnExec(first: number, why: string): void {
  sys('close_range', [first], why, () => Number(syscall_(SYS_close_range, 'unsigned int', first, 'unsigned int', 0xffffffff, 'unsigned int', CLOSE_RANGE_CLOEXEC)), {
    target: `${first}, ~0U, CLOSE_RANGE_CLOEXEC`,
    hint: { ENOSYS: 'close_range(2) needs Linux 5.9', EINVAL: 'CLOSE_RANGE_CLOEXEC needs Linux 5.11' },
  });
}

/** Replace this process with `path`. Returns only by throwing. */
export function execve(path: string, argv: string[], env: string[], why: string): never {
  sys('execve', [path], why, () => execve_(path, [...argv, null], [...env, null]), {
    noReturn: true,
    hint: { ENOENT: 'the file is there, so its ELF interpreter or a shared library is missing from the rootfs' },
    target: `${JSON.stringify(path)}, ${JSON.stringify(argv)}`,
  });
  throw new Error('execve returned without an error');
}

// ---- new in chapter 02: namespaces, mounts, pivot_root, and a network interface -----------

const unshare_ = libc.func('int unshare(int flags)'); // man 2 unshare
const setns_ = libc.func('int setns(int fd, int nstype)'); // man 2 setns
const sethostname_ = libc.func('int sethostname(const char *name, size_t len)'); // man 2 sethostname
const mount_ = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'); // man 2 mount
const umount2_ = libc.func('int umount2(const char *target, int flags)'); // man 2 umount
const mknod_ = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'); // man 2 mknod
const socket_ = libc.func('int socket(int domain, int type, int protocol)'); // man 2 socket
const ioctl_ = libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'); // man 2 ioctl
const close_ = libc.func('int close(int fd)'); // man 2 close
const prctl_ = libc.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)'); // man 2 prctl

export const CLONE = {
  CLONE_FS: 0x00000200,
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};

export const MS = {
  MS_RDONLY: 1,
  MS_NOSUID: 2,
  MS_NODEV: 4,
  MS_NOEXEC: 8,
  MS_REMOUNT: 32,
  MS_BIND: 4096,
  MS_REC: 16384,
  MS_PRIVATE: 1 << 18,
  MS_STRICTATIME: 1 << 24,
};

export const MNT_DETACH = 2;

/** Move the calling thread into new namespaces. */
export function unshare(flags: number, why: string): void {
  sys('unshare', [flags], why, () => unshare_(flags), { target: flagNames(flags, CLONE) });
}

/** Move the calling thread into the namespace that `fd` (from /proc/PID/ns/*) refers to. */
export function setns(fd: number, nstype: number, why: string, what: string): void {
  sys('setns', [fd, nstype], why, () => setns_(fd, nstype), { target: `${what}, ${flagNames(nstype, CLONE)}` });
}

export function sethostname(name: string, why: string): void {
  sys('sethostname', [name], why, () => sethostname_(name, Buffer.byteLength(name)));
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, why: string): void {
  const shown = `${JSON.stringify(source)} on ${JSON.stringify(target)}, ${JSON.stringify(fstype)}, ${flagNames(flags, MS)}${data ? `, ${JSON.stringify(data)}` : ''}`;
  sys('mount', [source, target], why, () => mount_(source, target, fstype, flags, data), { target: shown });
}

export function umount2(target: string, flags: number, why: string): void {
  sys('umount2', [target, flags], why, () => umount2_(target, flags), {
    target: `${JSON.stringify(target)}, ${flags === MNT_DETACH ? 'MNT_DETACH' : flags}`,
  });
}

const PR_SET_PDEATHSIG = 1;

/** Ask the kernel to send us `signal` when our parent (the engine) dies. */
export function dieWithParent(signal: number, why: string): void {
  sys('prctl', [signal], why, () => prctl_(PR_SET_PDEATHSIG, signal, 0, 0, 0), { target: `PR_SET_PDEATHSIG, ${signal}` });
}

/** File types for mknod(2)'s mode (inode(7)). */
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Create a device node (or a FIFO): `mode` holds the type and the permissions. */
export function mknod(path: string | Buffer, mode: number, major: number, minor: number, why: string): void {
  const dev = (BigInt(major) << 8n) | BigInt(minor); // makedev() for the small numbers of /dev
  const type = (mode & S_IFCHR) === S_IFCHR ? 'S_IFCHR' : 'S_IFIFO';
  sys('mknod', [path], why, () => mknod_(cPath(path), mode, dev), { target: `${formatArgs([path])}, ${type}|0${(mode & 0o7777).toString(8)}, ${major}:${minor}` });
}

/** pivot_root(2) has no glibc wrapper, so it goes through syscall(2) with its number. */
const SYS_pivot_root: Record<string, number> = { x64: 155, arm64: 41, riscv64: 41 };

export function pivotRoot(newRoot: string, putOld: string, why: string): void {
  const number = SYS_pivot_root[process.arch];
  if (number === undefined) throw new Error(`pivot_root: no syscall number known for ${process.arch}`);
  sys('pivot_root', [newRoot, putOld], why, () => Number(syscall_(number, 'str', newRoot, 'str', putOld)));
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

/** Bring a network interface up: the same ioctl(2)s `ifconfig lo up` makes. They need a
 *  socket — any socket — as a handle on the network stack of our namespace. */
export function interfaceUp(name: string, why: string): void {
  const fd = sys('socket', ['AF_INET', 'SOCK_DGRAM', 0], 'a handle on this namespace\'s network stack', () => socket_(AF_INET, SOCK_DGRAM, 0), { target: 'AF_INET, SOCK_DGRAM, 0' });
  try {
    const ifreq = Buffer.alloc(40); // struct ifreq: char ifr_name[16], then a union (ifr_flags: short)
    ifreq.write(name, 0, 15, 'latin1');
    sys('ioctl', [fd], `read the flags of ${name}`, () => ioctl_(fd, SIOCGIFFLAGS, ifreq), { target: `${fd}, SIOCGIFFLAGS, {ifr_name=${JSON.stringify(name)}}` });
    ifreq.writeInt16LE(ifreq.readInt16LE(16) | IFF_UP, 16);
    sys('ioctl', [fd], why, () => ioctl_(fd, SIOCSIFFLAGS, ifreq), { target: `${fd}, SIOCSIFFLAGS, {ifr_name=${JSON.stringify(name)}, ifr_flags|=IFF_UP}` });
  } finally {
    close_(fd);
  }
}

// ---- new in chapter 04: the marks overlayfs leaves in an upper dir, read by descriptor -----

// ssize_t in the man page; koffi has no ssize_t, and long is the same size on Linux.
const getxattr_ = libc.func('long getxattr(const char *path, const char *name, void *value, size_t size)'); // man 2 getxattr
const listxattr_ = libc.func('long listxattr(const char *path, void *list, size_t size)'); // man 2 listxattr
const readlinkat_ = libc.func('long readlinkat(int dirfd, const char *path, void *buf, size_t size)'); // man 2 readlinkat

/** What getxattr(2) and listxattr(2) fail with on a filesystem that keeps no extended
 *  attributes at all (a 9p share, some FUSE filesystems): ENOTSUP, which Linux numbers the same
 *  as EOPNOTSUPP (95), so errnoName() may give either name. A file there simply has no
 *  attributes, and a directory no opaque mark: no overlay can have written one. */
function isNoXattrSupport(err: unknown): boolean {
  return err instanceof SyscallError && (err.code === 'ENOTSUP' || err.code === 'EOPNOTSUPP');
}

/** The value of extended attribute `name` of the file `path` leads to, or null when the file
 *  has no such attribute (ENODATA) or its filesystem has no xattrs at all (ENOTSUP). A value
 *  is bytes: `security.capability` is a binary struct. We read through /proc/self/fd/N names
 *  of descriptors we hold, which only the following getxattr(2) resolves to the file. */
export function getxattr(path: string | Buffer, name: string, why: string): Buffer | null {
  const cName = cPath(path);
  try {
    // Asked with size 0, the call says how big the value is (it may grow before the second call:
    // then ERANGE, and we ask again).
    for (;;) {
      const size = sys('getxattr', [path, name, null, 0], `${why} (its size)`, () => Number(getxattr_(cName, name, null, 0)));
      const value = Buffer.alloc(size);
      try {
        return value.subarray(0, sys('getxattr', [path, name], why, () => Number(getxattr_(cName, name, value, value.length))));
      } catch (err) {
        if (!(err instanceof SyscallError && err.code === 'ERANGE')) throw err;
      }
    }
  } catch (err) {
    if ((err instanceof SyscallError && err.code === 'ENODATA') || isNoXattrSupport(err)) return null;
    throw err;
  }
}

/** The names of the extended attributes of the file `path` leads to (none if its filesystem
 *  has no xattrs): listxattr(2) fills a buffer with NUL-terminated names. */
export function listxattr(path: string | Buffer, why: string): string[] {
  const cName = cPath(path);
  try {
    for (;;) {
      const size = sys('listxattr', [path, null, 0], `${why} (the list's size)`, () => Number(listxattr_(cName, null, 0)));
      const list = Buffer.alloc(size);
      try {
        const filled = sys('listxattr', [path], why, () => Number(listxattr_(cName, list, list.length)));
        return list.toString('utf8', 0, filled).split('\0').filter((name) => name !== '');
      } catch (err) {
        if (!(err instanceof SyscallError && err.code === 'ERANGE')) throw err;
      }
    }
  } catch (err) {
    if (isNoXattrSupport(err)) return [];
    throw err;
  }
}

/** open(2) flags that Node's fs.constants lacks (the values of x86_64, arm64 and riscv64). */
export const O_PATH = 0o10000000; // a descriptor that only names a file: no read, no write
export const O_CLOEXEC = 0o2000000; // closed by execve(2): no program we start inherits it
/** openat2(2) has the same number on every architecture (it came after the numbers were unified). */
const SYS_openat2 = 437;
/** How openat2(2) may walk a path (open_how.resolve). */
export const RESOLVE_NO_MAGICLINKS = 0x02; // no /proc/PID/fd/N-style jumps
export const RESOLVE_NO_SYMLINKS = 0x04; // no symlink anywhere on the path: ELOOP instead
export const RESOLVE_BENEATH = 0x08; // no "/" or ".." that would leave dirFd: EXDEV instead
export const RESOLVE_IN_ROOT = 0x10; // "/" and ".." stop at dirFd, as if it were the root

/** openat2(2): open `path` below the directory `dirFd`, with `resolve` saying how the path
 *  may be walked. The kernel checks every component as it walks, so nothing can be swapped
 *  for a symlink between a check and the use, as it could between lstat(2) and open(2). */
export function openat2(dirFd: number, path: string | Buffer, flags: number, resolve: number, why: string, opts: SysOptions = {}): number {
  const how = Buffer.alloc(24); // struct open_how { u64 flags; u64 mode; u64 resolve; }
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  const name = cPath(Buffer.from(path)); // a name is bytes: a Buffer passes them as they are
  return sys('openat2', [dirFd, path], why, () => Number(syscall_(SYS_openat2, 'int', dirFd, 'uint8_t *', name, 'uint8_t *', how, 'size_t', how.length)), opts);
}

/** The target of the symlink that `fd` holds (opened O_PATH|O_NOFOLLOW), as bytes. With an
 *  empty path, readlinkat(2) reads the link the descriptor refers to, not whatever bears its
 *  name now. */
export function readlinkFd(fd: number, why: string): Buffer {
  const target = Buffer.alloc(4096); // PATH_MAX: no symlink target is longer
  const size = sys('readlinkat', [fd, ''], why, () => Number(readlinkat_(fd, '', target, target.length)));
  return target.subarray(0, size);
}

// ---- new in chapter 05: unpacking image layers, sharing a store, and the image's User -------

const lsetxattr_ = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'); // man 2 lsetxattr
const fsetxattr_ = libc.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'); // man 2 fsetxattr
const flock_ = libc.func('int flock(int fd, int operation)'); // man 2 flock
const syncfs_ = libc.func('int syncfs(int fd)'); // man 2 syncfs
const setgroups_ = libc.func('int setgroups(size_t size, const uint32_t *list)'); // man 2 setgroups
const setgid_ = libc.func('int setgid(uint32_t gid)'); // man 2 setgid
const setuid_ = libc.func('int setuid(uint32_t uid)'); // man 2 setuid

/** Set extended attribute `name` on `path` itself, never on what a symlink points to. */
export function lsetxattr(path: string | Buffer, name: string, value: string | Buffer, why: string): void {
  const bytes = Buffer.from(value);
  sys('lsetxattr', [path, name, value], why, () => lsetxattr_(cPath(path), name, bytes, bytes.length, 0), { hint: xattrHint(name) });
}

/** Set extended attribute `name` on the file open as `fd`. */
export function fsetxattr(fd: number, name: string, value: Buffer, why: string): void {
  sys('fsetxattr', [fd, name, value], why, () => fsetxattr_(fd, name, value, value.length, 0), { hint: xattrHint(name) });
}

function xattrHint(name: string): string | undefined {
  if (name.startsWith('trusted.')) return 'trusted.* attributes need root (CAP_SYS_ADMIN)';
  if (name.startsWith('security.')) return 'security.* attributes need root (CAP_SETFCAP for security.capability)';
  if (name.startsWith('user.')) return 'user.* attributes exist only on regular files and directories, on a filesystem that allows them';
  return undefined;
}

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

/** Try to take a shared or exclusive flock(2) on `fd` without waiting: false if another
 *  open file holds a conflicting lock. The kernel drops the lock when the holder's file is
 *  closed — also when the process is killed — so a lock can never be left behind. */
export function tryFlock(fd: number, kind: 'shared' | 'exclusive', why: string): boolean {
  const operation = (kind === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
  const shown = `${fd}, ${kind === 'shared' ? 'LOCK_SH' : 'LOCK_EX'}|LOCK_NB`;
  try {
    sys('flock', [fd, operation], why, () => flock_(fd, operation), { target: shown });
    return true;
  } catch (err) {
    if (err instanceof SyscallError && err.errno === EWOULDBLOCK) return false; // held elsewhere
    throw err;
  }
}

/** Write every dirty page of the filesystem that holds `fd` to disk. */
export function syncfs(fd: number, why: string): void {
  sys('syncfs', [fd], why, () => syncfs_(fd));
}

/** Drop root for the image's User: supplementary groups first, then gid, then uid — after
 *  setuid(2) we would no longer be allowed to change the other two. */
export function becomeUser(uid: number, gid: number, groups: number[], why: string): void {
  const list = groups.length > 0 ? Uint32Array.from(groups) : null;
  sys('setgroups', [groups.length, groups], why, () => setgroups_(groups.length, list), { target: `${groups.length}, [${groups.join(', ')}]` });
  sys('setgid', [gid], why, () => setgid_(gid));
  sys('setuid', [uid], why, () => setuid_(uid));
}

// ---- new in chapter 06: volume mount points, made relative to a directory descriptor -------

const mkdirat_ = libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)'); // man 2 mkdirat
const openat_ = libc.func('int openat(int dirfd, const char *path, int flags, ...)'); // man 2 openat: the mode is variadic

/** Make the directory `name` inside the directory `dirFd`. Like mkdir(2), it never follows a
 *  symlink: one at `name` is EEXIST. */
export function mkdirat(dirFd: number, name: string, mode: number, why: string): void {
  throw new Error('TODO (chapter 06): write mkdirat(), as the comment above it says');
}

/** openat(2) with O_CREAT: open `name` inside the directory `dirFd`, creating it with `mode`. */
export function openat(dirFd: number, name: string, flags: number, mode: number, why: string, opts: SysOptions = {}): number {
  throw new Error('TODO (chapter 06): write openat(), as the comment above it says');
}
