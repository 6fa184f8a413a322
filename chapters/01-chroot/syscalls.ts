/** The syscalls this program makes, declared from their man pages (new ones at the bottom).
 *  Each wrapper takes a `why`: it is printed by --trace, so the trace reads as the recipe. */
import { libc, sys } from '../../lib/libc.ts';

const chroot_ = libc.func('int chroot(const char *path)'); // man 2 chroot
const chdir_ = libc.func('int chdir(const char *path)'); // man 2 chdir
const fcntl_ = libc.func('int fcntl(int fd, int cmd, int arg)'); // man 2 fcntl
const execve_ = libc.func('int execve(const char *path, const char **argv, const char **envp)'); // man 2 execve

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

/** Replace this process with `path`. Returns only by throwing. */
export function execve(path: string, argv: string[], env: string[], why: string): never {
  sys('execve', [path], why, () => execve_(path, [...argv, null], [...env, null]), {
    noReturn: true,
    hint: { ENOENT: 'the file is there, so its ELF interpreter or a shared library is missing from the rootfs' },
    target: `${JSON.stringify(path)}, ${JSON.stringify(argv)}`,
  });
  throw new Error('execve returned without an error');
}
