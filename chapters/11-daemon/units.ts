/** Chapter 03 · the limits a user types, as docker spells them: `--memory 64m`, `--cpus 0.5`,
 *  `--pids-limit 50`. Each is turned into the number a cgroup file wants, and each bad value
 *  becomes one line that says what is wrong and what would be accepted. */
import { availableParallelism } from 'node:os';
import { UserError } from '../../lib/errors.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Docker refuses memory limits below 6 MiB: under that, the runtime and the first process
 *  of the container cannot even start before the OOM killer ends them. We refuse them too. */
export const MIN_MEMORY_BYTES = 6 * MiB;

/** The kernel's smallest CFS quota is 1 ms; with the usual 100 ms period that is 1% of a CPU. */
export const MIN_CPUS = 0.01;

/** PID_MAX_LIMIT on 64-bit kernels: pids.max rejects anything larger. */
export const MAX_PIDS = 4_194_304;

const MEMORY_UNITS: Record<string, number> = { '': 1, b: 1, k: KiB, m: MiB, g: GiB };

/** `64m`, `64MB`, `64MiB`, `1.5g`, `67108864` → bytes. Units are powers of 1024, as docker's. */
export function parseMemory(text: string): number {
  // A number (fractions allowed, as docker allows them), then an optional unit letter,
  // then an optional "i" and "b": 64m, 64mb, 64mib, 64 M and 64B all read the same way.
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s?(?:([kmg])i?b?|(b))?$/i.exec(text.trim());
  if (!match) {
    throw new UserError(`invalid memory limit "${text}": use a number of bytes with an optional unit, like 64m, 512mb or 1g`);
  }
  const unit = (match[2] ?? match[3] ?? '').toLowerCase();
  const bytes = Math.floor(Number(match[1]) * MEMORY_UNITS[unit]!);
  if (!Number.isSafeInteger(bytes)) throw new UserError(`memory limit "${text}" is too large`);
  if (bytes < MIN_MEMORY_BYTES) {
    throw new UserError(`memory limit "${text}" is below the minimum of ${formatBytes(MIN_MEMORY_BYTES)} (docker's minimum too)`);
  }
  return bytes;
}

/** `0.5` → half of one CPU's time; at most as many CPUs as this machine has. */
export function parseCpus(text: string, hostCpus = availableParallelism()): number {
  const trimmed = text.trim();
  const range = `from ${MIN_CPUS} to ${hostCpus} (this machine has ${hostCpus} CPU${hostCpus === 1 ? '' : 's'})`;
  if (!/^(\d+(\.\d+)?|\.\d+)$/.test(trimmed)) throw new UserError(`invalid --cpus "${text}": use a decimal number ${range}`);
  const cpus = Number(trimmed);
  if (cpus < MIN_CPUS || cpus > hostCpus) throw new UserError(`--cpus "${text}" is out of range: use ${range}`);
  return cpus;
}

/** `50` → at most 50 processes (threads count too) in the container; `-1` → no limit. */
export function parsePidsLimit(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '-1') return -1;
  const limit = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!(limit >= 1 && limit <= MAX_PIDS)) {
    throw new UserError(`invalid --pids-limit "${text}": use a whole number from 1 to ${MAX_PIDS}, or -1 for no limit`);
  }
  return limit;
}

/** 33554432 → "32 MiB", 1610612736 → "1.5 GiB", 512 → "512 B". */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} B`;
}
