/** Plumbing: errors a learner can act on. A failed syscall names the call, what it was
 *  called on, the errno and a hint; bad input is one line; a program ends with one line on
 *  stderr and an exit code, never a stack trace. */
import { constants } from 'node:os';
import { loadColours, loadedColours } from './trace.ts';

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  ENOEXEC: 'Exec format error',
  E2BIG: 'Argument list too long',
};

/** What usually causes an errno in this project, said as advice. */
const ERRNO_HINT: Record<string, string> = {
  EPERM: 'are you root?',
  EACCES: 'are you root, and is the file executable?',
  ENOENT: 'does the path exist?',
  ENOEXEC: 'is it a program for this machine?',
  EBUSY: 'something is still mounted or running there',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** A syscall that returned -1: `mount("proc" on "/proc"): EPERM (Operation not permitted) — are you root?` */
export class SyscallError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;
  constructor(call: string, target: string, errno: number, hint?: string) {
    const code = errnoName(errno);
    const text = ERRNO_TEXT[code] ? ` (${ERRNO_TEXT[code]})` : '';
    const advice = hint ?? ERRNO_HINT[code];
    super(`${call}(${target}): ${code}${text}${advice ? ` — ${advice}` : ''}`);
    this.call = call;
    this.errno = errno;
    this.code = code;
  }
}

/** Input the user can fix: printed as one line, exit code 125 unless said otherwise
 *  (docker's convention: 125 engine error, 126 cannot execute, 127 not found). */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 125) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Print one line for an error and return the exit code to use. */
export async function reportError(err: unknown): Promise<number> {
  const message = err instanceof Error ? err.message : String(err);
  const chalk = process.env.NUTSHELL_STAGE ? loadedColours() : await loadColours();
  process.stderr.write(`${chalk ? chalk.red('nutshell:') : 'nutshell:'} ${message.split('\n')[0]}\n`);
  if (process.env.NUTSHELL_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return err instanceof UserError ? err.exitCode : 125;
}

/** Run a program's main function: its result is the exit code; any error becomes one line. */
export function runMain(main: () => number | Promise<number>): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = code;
      },
      async (err: unknown) => {
        process.exitCode = await reportError(err);
      },
    );
}
