/** The syscalls this program makes, declared from their man pages (new ones at the bottom).
 *  Each wrapper takes a `why`: it is printed by --trace, so the trace reads as the recipe. */
import { SyscallError } from '../../lib/errors.ts';
import { cPath, koffi, libc, sys, type SysOptions } from '../../lib/libc.ts';
import { flagNames, formatArgs, traceStep } from '../../lib/trace.ts';

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
  MS_SLAVE: 1 << 19,
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
  sys('mkdirat', [dirFd, name], why, () => mkdirat_(dirFd, name, mode), { target: `${dirFd}, ${JSON.stringify(name)}, 0${mode.toString(8)}` });
}

/** openat(2) with O_CREAT: open `name` inside the directory `dirFd`, creating it with `mode`. */
export function openat(dirFd: number, name: string, flags: number, mode: number, why: string, opts: SysOptions = {}): number {
  return sys('openat', [dirFd, name], why, () => openat_(dirFd, name, flags, 'uint32_t', mode), opts);
}

// ---- new in chapter 07: pseudo-terminals for run -it and exec -it (tty.ts) ----------------

const posix_openpt_ = libc.func('int posix_openpt(int flags)'); // man 3 posix_openpt
const grantpt_ = libc.func('int grantpt(int fd)'); // man 3 grantpt
const unlockpt_ = libc.func('int unlockpt(int fd)'); // man 3 unlockpt
const ptsname_r_ = libc.func('int ptsname_r(int fd, _Out_ char *buf, size_t buflen)'); // man 3 ptsname_r
const setsid_ = libc.func('int setsid(void)'); // man 2 setsid
const dup2_ = libc.func('int dup2(int oldfd, int newfd)'); // man 2 dup2
// ioctl(2) takes a pointer or a number, depending on the request: ioctl_ above is the
// pointer form; this is the number form.
const ioctlInt_ = libc.func('int ioctl(int fd, unsigned long request, int arg)'); // man 2 ioctl_tty

const TIOCSCTTY = 0x540e;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;

/** A new pty pair on the host's /dev/ptmx: returns the master's fd. */
export function posixOpenpt(flags: number, shownFlags: string, why: string): number {
  return sys('posix_openpt', [], why, () => posix_openpt_(flags), { target: shownFlags });
}

export function grantpt(fd: number, why: string): void {
  sys('grantpt', [fd], why, () => grantpt_(fd));
}

export function unlockpt(fd: number, why: string): void {
  sys('unlockpt', [fd], why, () => unlockpt_(fd));
}

/** The slave's name of the pty whose master is `fd`. */
export function ptsname(fd: number, why: string): string {
  const name = Buffer.alloc(64);
  const error = ptsname_r_(fd, name, name.length); // returns an errno, not -1
  if (error !== 0) throw new SyscallError('ptsname_r', String(fd), error);
  const path = name.toString('latin1', 0, name.indexOf(0));
  traceStep(`ptsname_r(${fd}) = ${JSON.stringify(path)}`, why);
  return path;
}

/** Set a terminal's window size (TIOCSWINSZ). */
export function setWinsize(fd: number, rows: number, cols: number, why: string): void {
  const ws = Buffer.alloc(8); // struct winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; }
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(cols, 2);
  sys('ioctl', [fd], why, () => ioctl_(fd, TIOCSWINSZ, ws), { target: `${fd}, TIOCSWINSZ, {ws_row=${rows}, ws_col=${cols}}` });
}

/** A terminal's window size (TIOCGWINSZ), or null if `fd` is not a terminal (a pipe or a
 *  file: ENOTTY). Not traced: it is a question, asked of fds that may be anything. */
export function getWindowSize(fd: number): { rows: number; cols: number } | null {
  const ws = Buffer.alloc(8);
  if (ioctl_(fd, TIOCGWINSZ, ws) === -1) return null;
  return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2) };
}

export function setsid(why: string, opts: SysOptions = {}): void {
  sys('setsid', [], why, () => setsid_(), opts);
}

/** TIOCSCTTY: make the terminal `fd` the controlling terminal of the caller's session. */
export function setControllingTerminal(fd: number, why: string, opts: SysOptions = {}): void {
  sys('ioctl', [fd], why, () => ioctlInt_(fd, TIOCSCTTY, 0), { target: `${fd}, TIOCSCTTY, 0`, ...opts });
}

export function dup2(oldFd: number, newFd: number, why: string): void {
  sys('dup2', [oldFd, newFd], why, () => dup2_(oldFd, newFd));
}

// ---- new in chapter 11: the slave of a pty, from its master (tty.ts, serveConsole) ---------

const TIOCGPTPEER = 0x5441;

/** TIOCGPTPEER (Linux 4.13): open the slave of the pty whose master is `master`, by descriptor,
 *  with `flags`: no path is looked up, so nothing in the container's /dev can stand in for it. */
export function openPtyPeer(master: number, flags: number, why: string): number {
  return sys('ioctl', [master], why, () => ioctlInt_(master, TIOCGPTPEER, flags), { target: `${master}, TIOCGPTPEER, O_RDWR|O_NOCTTY|O_CLOEXEC` });
}

// ---- new in chapter 09: capabilities and no_new_privs (capabilities.ts) --------------------

const capget_ = libc.func('int capget(void *header, void *data)'); // man 2 capget
const capset_ = libc.func('int capset(void *header, void *data)'); // man 2 capset

/** The layout capget(2) and capset(2) take: version 3 is two 32-bit words per set (64 caps). */
const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** A thread's three capability sets, as masks: bit N is capability N (capabilities(7)). */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** A mask as /proc/PID/status prints it (CapEff: 00000000a80425fb), to compare by eye. */
export function formatCapMask(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

/** struct __user_cap_header_struct { __u32 version; int pid; }: pid 0 is the calling thread. */
function capHeader(): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(_LINUX_CAPABILITY_VERSION_3, 0);
  return header;
}

/** The calling thread's sets. The data is two struct __user_cap_data_struct { __u32 effective,
 *  permitted, inheritable; }: the first for capabilities 0-31, the second for 32-63. */
export function capget(why: string): CapabilitySets {
  const data = Buffer.alloc(24);
  sys('capget', [], why, () => capget_(capHeader(), data), { target: '{_LINUX_CAPABILITY_VERSION_3, pid=0}' });
  const mask = (offset: number) => BigInt(data.readUInt32LE(offset)) | (BigInt(data.readUInt32LE(12 + offset)) << 32n);
  return { effective: mask(0), permitted: mask(4), inheritable: mask(8) };
}

/** Set the calling thread's sets (and no other thread's: capabilities are per thread). The
 *  kernel allows lowering any set; raising needs what the man page lists (permitted: never). */
export function capset(sets: CapabilitySets, why: string): void {
  const data = Buffer.alloc(24);
  [sets.effective, sets.permitted, sets.inheritable].forEach((mask, i) => {
    data.writeUInt32LE(Number(mask & 0xffffffffn), 4 * i);
    data.writeUInt32LE(Number(mask >> 32n), 12 + 4 * i);
  });
  const shown = `{_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=${formatCapMask(sets.effective)}, permitted=${formatCapMask(sets.permitted)}, inheritable=${formatCapMask(sets.inheritable)}}`;
  sys('capset', [], why, () => capset_(capHeader(), data), { target: shown, hint: { EPERM: 'a set can only be lowered: permitted never grows, and effective must stay within it' } });
}

const PR_SET_KEEPCAPS = 8;
const PR_CAPBSET_READ = 23;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;

/** Whether capability `cap` is in the calling thread's bounding set; null when this kernel has
 *  no capability `cap` (its only error, EINVAL): the kernel itself says where its list ends, so
 *  no file in the container can make us stop early. Not traced: it is a question, asked of every
 *  number from 0 until the kernel says no. */
export function inBoundingSet(cap: number): boolean | null {
  const result = prctl_(PR_CAPBSET_READ, cap, 0, 0, 0);
  return result === -1 ? null : result === 1;
}

/** Remove capability `cap` from the calling thread's bounding set, for good: no execve(2), no
 *  set-user-ID program, no file capability can bring it back to this thread or its children. */
export function dropFromBoundingSet(cap: number, name: string, why: string): void {
  sys('prctl', [cap], why, () => prctl_(PR_CAPBSET_DROP, cap, 0, 0, 0), {
    target: `PR_CAPBSET_DROP, ${name}`,
    hint: { EPERM: 'dropping from the bounding set takes CAP_SETPCAP in the effective set' },
  });
}

/** Empty the ambient set: the capabilities a non-root program would keep across execve(2). */
export function clearAmbientCapabilities(why: string): void {
  sys('prctl', [], why, () => prctl_(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), { target: 'PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0' });
}

/** PR_SET_KEEPCAPS: whether setuid(2) from root to another user keeps the permitted set (it
 *  still empties the effective set). execve(2) resets it to 0. */
export function keepCapabilitiesAcrossSetuid(keep: boolean, why: string): void {
  sys('prctl', [], why, () => prctl_(PR_SET_KEEPCAPS, keep ? 1 : 0, 0, 0, 0), { target: `PR_SET_KEEPCAPS, ${keep ? 1 : 0}` });
}

/** no_new_privs: from now on, execve(2) grants nothing the calling thread does not hold already:
 *  set-user-ID and set-group-ID bits are ignored, and a file's capabilities are cut down to the
 *  thread's permitted set. It cannot be unset; children and the programs they run inherit it. */
export function setNoNewPrivs(why: string): void {
  sys('prctl', [], why, () => prctl_(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), { target: 'PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0' });
}

// ---- new in chapter 09: seccomp(2), which loads the filter seccomp.ts builds --------------

/** seccomp(2) has no glibc wrapper, so it goes through syscall(2) with its number. */
const SYS_seccomp: Record<string, number> = { x64: 317, arm64: 277 };
const SECCOMP_SET_MODE_FILTER = 1;
/** A pointer to struct sock_fprog { unsigned short len; struct sock_filter *filter; }: how
 *  many instructions, and where they are. (Unnamed: koffi keeps type names for the whole process.) */
const SockFprogPointer = koffi.pointer(koffi.struct({ len: 'uint16_t', filter: 'uint8_t *' }));

/** Attach a classic BPF program (8 bytes per instruction) to the calling thread's syscalls. */
export function seccompSetModeFilter(program: Buffer, why: string): void {
  const number = SYS_seccomp[process.arch];
  if (number === undefined) throw new Error(`seccomp: no syscall number known for ${process.arch}`);
  const fprog = { len: program.length / 8, filter: program };
  sys('seccomp', [], why, () => Number(syscall_(number, 'unsigned int', SECCOMP_SET_MODE_FILTER, 'unsigned int', 0, SockFprogPointer, fprog)), {
    target: `SECCOMP_SET_MODE_FILTER, 0, {len=${fprog.len}, filter=…}`,
    hint: {
      EACCES: 'a thread may load a filter only with no_new_privs set or CAP_SYS_ADMIN in its effective set',
      EINVAL: 'the kernel refused the program (a bad instruction, or a jump out of it)',
    },
  });
}

// ---- new in chapter 09: bpf(2), to load a cgroup's device program and attach it (devices.ts) ----

/** glibc has no wrapper for bpf(2): it goes through syscall(2) with its number. */
const SYS_bpf: Record<string, number> = { x64: 321, arm64: 280, riscv64: 280 };

/** The commands we give bpf(2) (enum bpf_cmd, <linux/bpf.h>). */
const BPF_CMD = { BPF_PROG_LOAD: 5, BPF_PROG_ATTACH: 8, BPF_PROG_QUERY: 16 } as const;

/** bpf(2): one command, with its arguments laid out in `attr` (the command's part of union
 *  bpf_attr; the kernel reads a shorter one as if zero-filled). Returns what the command does:
 *  a new descriptor for BPF_PROG_LOAD, 0 for the others. */
export function bpf(cmd: keyof typeof BPF_CMD, attr: Buffer, why: string, opts: SysOptions & { target: string }): number {
  const number = SYS_bpf[process.arch];
  if (number === undefined) throw new Error(`bpf: no syscall number known for ${process.arch}`);
  return sys('bpf', [cmd], why, () => Number(syscall_(number, 'int', BPF_CMD[cmd], 'uint8_t *', attr, 'unsigned int', attr.length)), {
    hint: { EPERM: 'bpf(2) needs CAP_SYS_ADMIN: are you root?', ENOSYS: 'this kernel was built without CONFIG_BPF_SYSCALL' },
    ...opts,
    target: `${cmd}, ${opts.target}`,
  });
}

// ---- new in chapter 09: a process that cannot be looked into (exec, /proc/PID/*) ------------

const PR_SET_DUMPABLE = 4;

/** prctl(PR_SET_DUMPABLE): whether this process may be looked into. A process that is not
 *  "dumpable" keeps its /proc/PID/{root,cwd,exe,fd,environ,mem} and ptrace(2) from everybody
 *  without CAP_SYS_PTRACE, even from processes of its own user. Children inherit the flag; a
 *  later execve(2) sets it anew, for the new program. */
export function setDumpable(dumpable: boolean, why: string): void {
  sys('prctl', [dumpable], why, () => prctl_(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0), { target: `PR_SET_DUMPABLE, ${dumpable ? 1 : 0}` });
}
