/** The syscalls this program makes, declared from their man pages (new ones at the bottom).
 *  Each wrapper takes a `why`: it is printed by --trace, so the trace reads as the recipe. */
import { libc, sys } from '../../lib/libc.ts';

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
