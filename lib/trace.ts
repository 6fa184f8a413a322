/** Plumbing: the --trace printer. Every chapter prints each syscall it makes, with its
 *  arguments, its result and one line saying why, so a learner can watch the recipe run.
 *  The flag travels to the child stage through the environment. */
import { isUtf8 } from 'node:buffer';
import type { ChalkInstance } from 'chalk';

const TRACE_ENV = 'NUTSHELL_TRACE';

export function traceEnabled(): boolean {
  return process.env[TRACE_ENV] === '1';
}

/** chalk, once loaded. Importing it costs about 10 ms, which a container start would pay
 *  twice (engine and child stage), so the engine loads it only when it has something to
 *  colour: a trace, or an error. */
let colours: ChalkInstance | undefined;

export async function loadColours(): Promise<ChalkInstance> {
  colours ??= (await import('chalk')).default;
  return colours;
}

/** chalk if it is loaded already. A child stage must import nothing once it may be inside
 *  the container: after pivot_root or chroot, an import would look for chalk in the image,
 *  and find nothing there, or worse, code that the image put there. */
export function loadedColours(): ChalkInstance | undefined {
  return colours;
}

// So a traced child stage loads chalk now, while its root is still the host's.
if (traceEnabled()) await loadColours();

/** Turn tracing on for this process and every process it starts. */
export async function enableTrace(): Promise<void> {
  process.env[TRACE_ENV] = '1';
  await loadColours();
}

/** Who is speaking: the host-side engine or the child stage, with its PID as it sees it. */
function who(chalk: ChalkInstance): string {
  return chalk.dim(`[${process.env.NUTSHELL_STAGE ?? 'engine'} ${process.pid}]`);
}

/** One syscall: `chroot("/tmp/rootfs") = 0   confine path lookups to the rootfs`. */
export function traceCall(name: string, args: string, result: string, ok: boolean, why: string): void {
  const chalk = traceEnabled() && colours;
  if (!chalk) return;
  const res = ok ? chalk.green(result) : chalk.red(result);
  process.stderr.write(`${who(chalk)} ${chalk.cyan(name)}(${args}) = ${res}  ${chalk.dim('# ' + why)}\n`);
}

/** A step that is not a syscall of ours (a file written in cgroupfs, a process started). */
export function traceStep(what: string, why: string): void {
  const chalk = traceEnabled() && colours;
  if (!chalk) return;
  process.stderr.write(`${who(chalk)} ${chalk.yellow(what)}  ${chalk.dim('# ' + why)}\n`);
}

/** Format call arguments the way strace does: strings quoted, flags by name. */
export function formatArgs(args: readonly unknown[]): string {
  return args
    .map((a) => (typeof a === 'string' ? JSON.stringify(a) : Buffer.isBuffer(a) ? quoteBytes(a) : a === null || a === undefined ? 'NULL' : String(a)))
    .join(', ');
}

/** A name that is bytes (a path as the kernel keeps it), quoted for humans: as text when it is
 *  valid UTF-8, else with every byte that is not printable ASCII as \xNN, so that two
 *  different names never look alike. A C string's closing NUL is left out. */
export function quoteBytes(bytes: Buffer): string {
  const name = bytes.at(-1) === 0 ? bytes.subarray(0, -1) : bytes;
  if (isUtf8(name)) return JSON.stringify(name.toString('utf8'));
  let text = '';
  for (const byte of name) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c; // not " or \
    text += printable ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `"${text}"`;
}

/** `MS_REC|MS_PRIVATE` from a number and a table of flag names. */
export function flagNames(value: number, table: Record<string, number>): string {
  if (value === 0) return '0';
  const names: string[] = [];
  let rest = value;
  for (const [name, bit] of Object.entries(table)) {
    if (bit !== 0 && (value & bit) === bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push('0x' + rest.toString(16));
  return names.join('|');
}
