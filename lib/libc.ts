/** Plumbing: libc loaded once through koffi, and `sys()`, which runs one C call, reads
 *  errno right after it (before any other call can overwrite it), prints the --trace line
 *  and throws a SyscallError on -1. The chapters declare the calls themselves. */
import { createRequire } from 'node:module';
import { errnoName, SyscallError } from './errors.ts';
import { formatArgs, traceCall } from './trace.ts';

// koffi is a CommonJS package. require() takes it as it is; an ESM `import` would first
// scan its source for export names, which costs a few ms at every start, in both stages.
const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');

export { koffi };
export const libc = koffi.load('libc.so.6');

export interface SysOptions {
  /** Shown in errors and traces instead of the raw arguments, e.g. `"proc" on "/proc"`. */
  target?: string;
  /** Advice for the error line, when the generic errno hint would mislead: one for every
   *  errno, or one per errno name ({ ENOENT: '…' }). */
  hint?: string | Record<string, string>;
  /** For calls such as execve(2) that do not return when they succeed: trace beforehand. */
  noReturn?: boolean;
}

/** A path for a `const char *` parameter. A string is passed as UTF-8 by koffi; a Buffer is a
 *  name as the kernel keeps it (bytes, maybe not UTF-8) and needs the NUL that ends a C string. */
export function cPath(path: string | Buffer): string | Buffer {
  return typeof path === 'string' ? path : Buffer.concat([path, Buffer.alloc(1)]);
}

/** Call `fn` (a libc function declared with koffi), trace it and throw on -1. */
export function sys(name: string, args: readonly unknown[], why: string, fn: () => number, opts: SysOptions = {}): number {
  const target = opts.target ?? formatArgs(args);
  if (opts.noReturn) traceCall(name, target, '(does not return on success)', true, why);
  const result = fn();
  if (result === -1) {
    const errno = koffi.errno();
    const hint = typeof opts.hint === 'object' ? opts.hint[errnoName(errno)] : opts.hint;
    const err = new SyscallError(name, target, errno, hint);
    traceCall(name, target, `-1 ${err.code}`, false, why);
    throw err;
  }
  traceCall(name, target, String(result), true, why);
  return result;
}
