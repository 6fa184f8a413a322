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
  throw new Error('TODO (chapter 01): write chroot(), as the comment above it says');
}

export function chdir(path: string, why: string): void {
  throw new Error('TODO (chapter 01): write chdir()');
}

/** Clear FD_CLOEXEC on a descriptor so that it survives execve(2). */
export function keepOpenAcrossExec(fd: number, why: string): void {
  throw new Error('TODO (chapter 01): write keepOpenAcrossExec(), as the comment above it says');
}

/** close_range(2) came after the syscall numbers were unified: 436 on every architecture.
 *  (glibc wraps it only from 2.34, so it goes through syscall(2).) */
const SYS_close_range = 436;
const CLOSE_RANGE_CLOEXEC = 1 << 2;

/** Set FD_CLOEXEC on every descriptor from `first` up, open or not (close_range(2) with
 *  CLOSE_RANGE_CLOEXEC): the kernel closes them at execve(2), and they work until then. */
export function closeFromOnExec(first: number, why: string): void {
  throw new Error('TODO (chapter 01): write closeFromOnExec(), as the comment above it says');
}

/** Replace this process with `path`. Returns only by throwing. */
export function execve(path: string, argv: string[], env: string[], why: string): never {
  throw new Error('TODO (chapter 01): write execve(), as the comment above it says');
}
