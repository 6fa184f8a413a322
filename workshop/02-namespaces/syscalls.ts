/** The syscalls this program makes, declared from their man pages (new ones at the bottom).
 *  Each wrapper takes a `why`: it is printed by --trace, so the trace reads as the recipe. */
import { libc, sys } from '../../lib/libc.ts';
import { flagNames } from '../../lib/trace.ts';

const chroot_ = libc.func('int chroot(const char *path)'); // man 2 chroot
const chdir_ = libc.func('int chdir(const char *path)'); // man 2 chdir
const fcntl_ = libc.func('int fcntl(int fd, int cmd, int arg)'); // man 2 fcntl
const execve_ = libc.func('int execve(const char *path, const char **argv, const char **envp)'); // man 2 execve
const syscall_ = libc.func('long syscall(long number, ...)'); // man 2 syscall: for calls glibc does not wrap

const F_SETFD = 2;

/** Change the directory that "/" means for this process and its children. */
export function chroot(path: string, why: string): void {
  sys('chroot', [path], why, () => chroot_(path));
}

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
  MS_BIND: 4096,
  MS_REC: 16384,
  MS_PRIVATE: 1 << 18,
  MS_STRICTATIME: 1 << 24,
};

export const MNT_DETACH = 2;

/** Move the calling thread into new namespaces. */
export function unshare(flags: number, why: string): void {
  throw new Error('TODO (chapter 02): write unshare(), as the comment above it says');
}

/** Move the calling thread into the namespace that `fd` (from /proc/PID/ns/*) refers to. */
export function setns(fd: number, nstype: number, why: string, what: string): void {
  throw new Error('TODO (chapter 02): write setns(), as the comment above it says');
}

export function sethostname(name: string, why: string): void {
  throw new Error('TODO (chapter 02): write sethostname()');
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, why: string): void {
  throw new Error('TODO (chapter 02): write mount()');
}

export function umount2(target: string, flags: number, why: string): void {
  throw new Error('TODO (chapter 02): write umount2()');
}

const PR_SET_PDEATHSIG = 1;

/** Ask the kernel to send us `signal` when our parent (the engine) dies. */
export function dieWithParent(signal: number, why: string): void {
  throw new Error('TODO (chapter 02): write dieWithParent(), as the comment above it says');
}

/** The file type for mknod(2)'s mode (inode(7)): a character device. */
export const S_IFCHR = 0o020000;

/** Create a device node: `mode` holds the type and the permissions. */
export function mknod(path: string, mode: number, major: number, minor: number, why: string): void {
  throw new Error('TODO (chapter 02): write mknod(), as the comment above it says');
}

/** pivot_root(2) has no glibc wrapper, so it goes through syscall(2) with its number. */
const SYS_pivot_root: Record<string, number> = { x64: 155, arm64: 41, riscv64: 41 };

export function pivotRoot(newRoot: string, putOld: string, why: string): void {
  throw new Error('TODO (chapter 02): write pivotRoot()');
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

/** Bring a network interface up: the same ioctl(2)s `ifconfig lo up` makes. They need a
 *  socket — any socket — as a handle on the network stack of our namespace. */
export function interfaceUp(name: string, why: string): void {
  throw new Error('TODO (chapter 02): write interfaceUp(), as the comment above it says');
}
