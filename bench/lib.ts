/** Benchmarks · shared helpers: time a command, run several cases interleaved (round-robin,
 *  with a warm-up each), summarise the samples (median, p90, min) and print them as a table;
 *  and the OCI bundle that runc runs as the floor. Every bench in this folder uses these, so
 *  their figures are measured and shown alike. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A bench file exports these; bench/run.ts finds it by its file name. */
export interface Bench {
  /** One line for the list printed by `npm run bench` with no name. */
  description: string;
  /** Run with the arguments after the bench's name; the result is the exit code. */
  main: (argv: string[]) => number | Promise<number>;
}

/** Thrown for a problem the user can fix (a missing tool, a bad flag): printed as one line. */
export class BenchError extends Error {}

/** One thing being measured: a command line, plus optional work before and after each run
 *  (not timed), e.g. picking a fresh container id or cleaning up after a failure. */
export interface Case {
  name: string;
  /** Returns the command to time on this run (it may differ per run, e.g. a unique id). */
  command: (run: number) => { file: string; args: string[]; options?: SpawnSyncOptions };
  /** Called, untimed, when a run fails, before the bench stops. */
  onFailure?: (run: number) => void;
}

export interface Summary {
  name: string;
  samples: number[];
  median: number;
  p90: number;
  min: number;
  max: number;
}

/** Wall time of one command in milliseconds, from spawn to exit (process.hrtime.bigint). */
export function timeCommand(file: string, args: string[], options: SpawnSyncOptions = {}): { ms: number; status: number | null; stderr: string; signal: NodeJS.Signals | null } {
  const start = process.hrtime.bigint();
  const result = spawnSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error) throw new BenchError(`${file}: ${result.error.message}`);
  return { ms, status: result.status, signal: result.signal, stderr: result.stderr?.toString() ?? '' };
}

/** Run every case `runs` times, round-robin (A B C A B C …) so that a machine that slows down
 *  or speeds up part-way affects all cases alike; one untimed warm-up of each comes first
 *  (it fills the page cache and, for Node, the compile cache). Stops at the first failure. */
export function runInterleaved(cases: Case[], runs: number, progress = process.stderr.isTTY === true): Summary[] {
  const samples = cases.map(() => [] as number[]);
  for (let run = -1; run < runs; run++) {
    cases.forEach((c, i) => {
      const { file, args, options } = c.command(run);
      const result = timeCommand(file, args, options);
      if (result.status !== 0) {
        c.onFailure?.(run);
        const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.status}`;
        const said = result.stderr.trim().split('\n').slice(-3).join('\n  ');
        throw new BenchError(`${c.name} failed (${how}): ${file} ${args.join(' ')}${said ? `\n  ${said}` : ''}`);
      }
      if (run >= 0) samples[i]!.push(result.ms);
    });
    if (progress) process.stderr.write(`\r${run < 0 ? 'warm-up' : `run ${run + 1}/${runs}`}   `);
  }
  if (progress) process.stderr.write('\r\x1b[K');
  return cases.map((c, i) => summarize(c.name, samples[i]!));
}

/** The q-th quantile (0..1) of sorted samples, interpolated linearly between ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(name: string, samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    name,
    samples: [...samples],
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export function formatMs(ms: number): string {
  return Number.isNaN(ms) ? '–' : `${ms.toFixed(1)} ms`;
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => (r[col] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The usual table of summaries, with an optional extra column per row (e.g. a ratio). */
export function formatSummaries(summaries: Summary[], extra?: { title: string; cell: (s: Summary) => string }): string {
  const header = ['case', 'median', 'p90', 'min', 'runs'];
  if (extra) header.push(extra.title);
  const rows = summaries.map((s) => {
    const row = [s.name, formatMs(s.median), formatMs(s.p90), formatMs(s.min), String(s.samples.length)];
    if (extra) row.push(extra.cell(s));
    return row;
  });
  return formatTable(header, rows);
}

/** The absolute path of a program on PATH, or undefined. */
export function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Parse `--runs N` (a positive integer). */
export function parseRuns(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`invalid --runs "${value}": give a positive whole number, e.g. 20`);
  return n;
}

/** The environment for the programs under test: no tracing or debug output, which would
 *  measure the printing rather than the engine. */
export function quietEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NUTSHELL_TRACE;
  delete env.NUTSHELL_DEBUG;
  delete env.NUTSHELL_STAGE;
  delete env.NODE_OPTIONS;
  return env;
}

/** statfs(2)'s f_type of an overlayfs mount (linux/magic.h). */
export const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

/** A fresh temp dir under /var/tmp (or /tmp) that is not on an overlay: an engine's store and its
 *  containers' upper dirs need a real filesystem (trusted.* xattrs, and an overlay cannot be
 *  the upper dir of another). The caller removes it. */
export function makeScratchDir(prefix: string): string {
  for (const base of ['/var/tmp', '/tmp']) {
    if (!existsSync(base) || statfsSync(base).type === OVERLAYFS_SUPER_MAGIC) continue;
    return mkdtempSync(join(base, prefix));
  }
  throw new BenchError('/var/tmp and /tmp are both on an overlay: the store needs a real filesystem (trusted.* xattrs)');
}

/** An OCI bundle in a temp dir: `runc spec`'s default config, pointed at our rootfs, running
 *  /bin/true without a terminal. The rootfs is used in place (root.path is absolute). The
 *  caller removes the bundle. */
export function makeRuncBundle(rootfs: string): string {
  const bundle = mkdtempSync(join(tmpdir(), 'nutshell-bench-'));
  const spec = spawnSync('runc', ['spec', '--bundle', bundle], { encoding: 'utf8' });
  if (spec.status !== 0) {
    rmSync(bundle, { recursive: true, force: true });
    throw new BenchError(`runc spec failed: ${spec.stderr.trim()}`);
  }
  const path = join(bundle, 'config.json');
  const config = JSON.parse(readFileSync(path, 'utf8')) as {
    root: { path: string; readonly?: boolean };
    process: { args: string[]; terminal: boolean; rlimits?: unknown };
  };
  config.root.path = rootfs;
  config.process.args = ['/bin/true'];
  config.process.terminal = false;
  // setrlimit above the hard limit needs CAP_SYS_RESOURCE, which some sandboxes lack; our
  // engine sets no rlimits either, so runc should not spend time on them.
  delete config.process.rlimits;
  writeFileSync(path, JSON.stringify(config, null, 2));
  return bundle;
}
