/** Benchmark · overlay start: the wall time of chapter 04's `run --layer <L> /bin/true` while the
 *  layer grows (the busybox rootfs plus 0, 100 and 500 MB of extra files), next to what a
 *  runtime without a union filesystem must do: copy the rootfs, then run chapter 02 on the copy.
 *  Overlay copies nothing at start, so its time should stay flat; the copy grows with the layer.
 *  Every run starts with clean page cache writes (sync, untimed): see flushDirtyPages().
 *  Usage: npm run bench -- overlay-start [--runs N] [--sizes 0,100,500] [--rootfs DIR] */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRootfs, DEFAULT_ROOTFS } from '../scripts/build-rootfs.ts';
import {
  BenchError, findOnPath, formatMs, formatSummaries, formatTable, parseRuns, PROJECT_ROOT, quietEnv, runInterleaved, type Case, type Summary,
} from './lib.ts';

export const description = 'chapter 04 `run --layer` on a growing layer (flat) against copying the rootfs + chapter 02 (grows)';

const DEFAULT_RUNS = 5;
const DEFAULT_SIZES_MB = [0, 100, 500];
/** The extra data is written as files of this size: many files, as a real image has. */
const FILE_BYTES = 256 * 1024;
/** statfs(2) f_type of an overlay: an upper dir cannot live there, and copying on it is unfair. */
const OVERLAYFS_SUPER_MAGIC = 0x794c7630;
const OVERLAY_ENGINE = 'dist/chapters/04-unionfs/main.js';
const COPY_ENGINE = 'dist/chapters/02-namespaces/main.js';

export function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { runs: { type: 'string' }, sizes: { type: 'string' }, rootfs: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- overlay-start [--runs N] [--sizes 0,100,500] [--rootfs DIR]');
    return 0;
  }
  const runs = parseRuns(values.runs, DEFAULT_RUNS);
  const sizes = parseSizes(values.sizes);
  if (process.getuid?.() !== 0) throw new BenchError('overlay mounts and namespaces need root: run the bench as root');
  const cp = findOnPath('cp');
  if (!cp) throw new BenchError('cp is missing from PATH');

  const rootfs = values.rootfs ? resolve(values.rootfs) : buildRootfs(DEFAULT_ROOTFS);
  console.log('npm run build (chapters 02 and 04 compiled to dist/) …');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (build.status !== 0) {
    // tsc still writes JavaScript when another chapter has type errors: go on if ours is fresh.
    const stale = staleOutputs(['chapters/02-namespaces', 'chapters/04-unionfs', 'lib']);
    if (stale.length > 0) throw new BenchError(`npm run build failed and left stale JavaScript (${stale[0]}): the compiled chapters cannot run`);
    console.log('note: npm run build reported errors (above), but dist/ is up to date for chapters 02 and 04: going on');
  }

  const scratch = makeScratchDir();
  try {
    const env: NodeJS.ProcessEnv = { ...quietEnv(), NUTSHELL_ROOT: join(scratch, 'engine-root'), NUTSHELL_STATE_DIR: join(scratch, 'engine-state') };
    const options = { cwd: PROJECT_ROOT, env };
    const cases: Case[] = [];
    for (const mb of sizes) {
      const layer = makeLayer(rootfs, join(scratch, `layer-${mb}mb`), mb);
      const copy = join(scratch, `copy-${mb}mb`);
      cases.push({
        name: `overlay, +${mb} MB`,
        command: () => {
          flushDirtyPages();
          return { file: process.execPath, args: [OVERLAY_ENGINE, 'run', '--layer', layer, '/bin/true'], options };
        },
      });
      cases.push({
        name: `copy + ch02, +${mb} MB`,
        // The previous run's copy is removed here, before the clock starts.
        command: () => {
          rmSync(copy, { recursive: true, force: true });
          flushDirtyPages();
          const script = `"${cp}" -a "$1" "$2" && exec "$3" ${COPY_ENGINE} run "$2" /bin/true`;
          return { file: '/bin/sh', args: ['-c', script, 'sh', layer, copy, process.execPath], options };
        },
      });
    }

    console.log(`scratch dir ${scratch}; files of ${FILE_BYTES / 1024} KiB; ${runs} runs each, interleaved, after one warm-up each`);
    if (env.NODE_EXTRA_CA_CERTS) console.log(`note: NODE_EXTRA_CA_CERTS is set: the engine parses it as it starts, the child stage goes without (both cases alike)`);
    console.log();
    const summaries = runInterleaved(cases, runs);
    console.log(formatSummaries(summaries));
    console.log();
    console.log(compare(sizes, summaries));
    return 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** sync(1), untimed, before every run. When an overlay is unmounted (here: when the container's
 *  mount namespace dies) the kernel syncs the whole filesystem that holds the upper dir. Without
 *  this, an overlay run that follows a copy run would pay for writing the copy's dirty pages. */
function flushDirtyPages(): void {
  const result = spawnSync('sync', [], { stdio: 'ignore' });
  if (result.status !== 0) throw new BenchError('sync failed');
}

/** Sources under `dirs` whose compiled file in dist/ is missing or older than they are. */
function staleOutputs(dirs: string[]): string[] {
  const stale: string[] = [];
  for (const dir of dirs) {
    for (const name of readdirSync(join(PROJECT_ROOT, dir)).filter((f) => f.endsWith('.ts'))) {
      const source = join(PROJECT_ROOT, dir, name);
      const output = join(PROJECT_ROOT, 'dist', dir, name.replace(/\.ts$/, '.js'));
      if (!existsSync(output) || statSync(output).mtimeMs < statSync(source).mtimeMs) stale.push(output);
    }
  }
  return stale;
}

function parseSizes(value: string | undefined): number[] {
  if (value === undefined) return DEFAULT_SIZES_MB;
  const sizes = value.split(',').map(Number);
  if (sizes.length === 0 || !sizes.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new BenchError(`invalid --sizes "${value}": give whole megabytes, comma-separated, e.g. 0,100,500`);
  }
  return sizes;
}

/** A temp dir on a real filesystem: /var/tmp (often on disk) before /tmp (sometimes a tmpfs). */
function makeScratchDir(): string {
  for (const base of ['/var/tmp', '/tmp']) {
    if (!existsSync(base) || statfsSync(base).type === OVERLAYFS_SUPER_MAGIC) continue;
    return mkdtempSync(join(base, 'nutshell-overlay-bench-'));
  }
  throw new BenchError('/var/tmp and /tmp are both on an overlay (inside docker?): an upper dir cannot live there');
}

/** A layer: a copy of the rootfs plus `mb` megabytes of random data in FILE_BYTES files, in
 *  directories of 100 files. Random bytes, so that no filesystem can compress or share them. */
function makeLayer(rootfs: string, dir: string, mb: number): string {
  const cp = spawnSync('cp', ['-a', `${rootfs}/.`, dir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (cp.status !== 0) throw new BenchError(`cp -a ${rootfs} ${dir} failed: ${cp.stderr.trim()}`);
  const files = Math.round((mb * 1024 * 1024) / FILE_BYTES);
  const data = Buffer.alloc(FILE_BYTES);
  for (let i = 0; i < files; i++) {
    const sub = join(dir, 'data', String(Math.floor(i / 100)).padStart(3, '0'));
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file-${i}.bin`), randomFillSync(data));
  }
  process.stderr.write(`layer +${mb} MB: ${files} extra files in ${dir}\n`);
  return dir;
}

/** Medians side by side, and how much each approach grew from the smallest layer to the largest. */
function compare(sizes: number[], summaries: Summary[]): string {
  const rows = sizes.map((mb, i) => {
    const overlay = summaries[2 * i]!;
    const copy = summaries[2 * i + 1]!;
    return [`+${mb} MB`, formatMs(overlay.median), formatMs(copy.median), `${(copy.median / overlay.median).toFixed(2)}×`];
  });
  const table = formatTable(['layer', 'overlay median', 'copy + ch02 median', 'copy ÷ overlay'], rows);
  const last = sizes.length - 1;
  const growth = (offset: number) => summaries[2 * last + offset]!.median - summaries[offset]!.median;
  const sign = (ms: number) => `${ms >= 0 ? '+' : '−'}${formatMs(Math.abs(ms))}`;
  return `${table}\n\nfrom +${sizes[0]} MB to +${sizes[last]} MB: overlay ${sign(growth(0))}, copy + ch02 ${sign(growth(1))}`;
}
