/** Benchmark · image pull: the wall time of chapter 05's `pull` against the reference tools
 *  doing the same work, `skopeo copy` (registry → OCI layout) then `umoci unpack` (layout →
 *  root filesystem), on a ~50 MB image of three gzipped layers served by a local
 *  docker-registry. Then the engine's peak memory (RSS high-water mark) while it pulls an
 *  image of one ~200 MB layer: a pull streams, so memory should not grow with the layer.
 *  Usage: npm run bench -- pull [--runs N] [--mb 25] [--big-mb 200] [--rootfs DIR] */
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRootfs, DEFAULT_ROOTFS } from '../scripts/build-rootfs.ts';
import { startLocalRegistry, type LocalRegistry } from '../scripts/local-registry.ts';
import { BenchError, findOnPath, formatRatio, formatSummaries, formatTable, parseRuns, PROJECT_ROOT, quietEnv, runInterleaved, type Case } from './lib.ts';

export const description = 'chapter 05 `pull` of a 50 MB image against skopeo copy + umoci unpack; peak memory on a 200 MB layer';

const DEFAULT_RUNS = 5;
/** Each of the two data layers of the timed image, and the one layer of the memory image. */
const DEFAULT_LAYER_MB = 25;
const DEFAULT_BIG_MB = 200;
/** Random data in files of this size: incompressible, so gzip cannot shrink the download. */
const FILE_BYTES = 256 * 1024;
const MEMORY_RUNS = 3;
/** Targets: the engine no slower than the reference tools, and a pull in bounded memory. */
const TARGET_RATIO = 1.0;
const TARGET_PEAK_MB = 80;
const ENGINE_JS = 'dist/chapters/05-images/main.js';
const ENGINE_TS = 'chapters/05-images/main.ts';
const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' }, mb: { type: 'string' }, 'big-mb': { type: 'string' }, rootfs: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- pull [--runs N] [--mb 25] [--big-mb 200] [--rootfs DIR]');
    return 0;
  }
  const runs = parseRuns(values.runs, DEFAULT_RUNS);
  const layerMb = parseMegabytes(values.mb, DEFAULT_LAYER_MB, '--mb');
  const bigMb = parseMegabytes(values['big-mb'], DEFAULT_BIG_MB, '--big-mb');
  if (process.getuid?.() !== 0) throw new BenchError('unpacking layers (owners, whiteouts) needs root: run the bench as root');
  for (const tool of ['docker-registry', 'skopeo', 'umoci']) {
    if (!findOnPath(tool)) throw new BenchError(`${tool} is missing: apt-get install docker-registry skopeo umoci`);
  }
  const rootfs = values.rootfs ? resolve(values.rootfs) : buildRootfs(DEFAULT_ROOTFS);
  const engine = engineCommand();

  const scratch = makeScratchDir();
  let registry: LocalRegistry | undefined;
  try {
    registry = await startLocalRegistry({ parentDir: scratch });
    console.log(`registry on ${registry.host}; scratch dir ${scratch}`);
    const image = buildAndPush(scratch, rootfs, registry.host, 'bench/pull:v1', [layerMb, layerMb]);
    const big = buildAndPush(scratch, null, registry.host, 'bench/big:v1', [bigMb]);
    const env = quietEnv();

    // ------------------------------------------------------------ (1) wall time, interleaved
    const work = (run: number, what: string) => join(scratch, `${what}-${run < 0 ? 'warm' : run}`);
    const cases: Case[] = [
      {
        name: `chapter 05 pull (${engine.label})`,
        command: (run) => {
          const root = work(run, 'store');
          rmSync(root, { recursive: true, force: true });
          flushDirtyPages();
          return { file: process.execPath, args: [...engine.args, '--root', root, 'pull', '-q', image.ref], options: { cwd: PROJECT_ROOT, env } };
        },
      },
      {
        name: 'skopeo copy + umoci unpack',
        command: (run) => {
          const layout = work(run, 'layout');
          const bundle = work(run, 'bundle');
          rmSync(layout, { recursive: true, force: true });
          rmSync(bundle, { recursive: true, force: true });
          flushDirtyPages();
          const script = 'skopeo copy --quiet --src-tls-verify=false "docker://$1" "oci:$2:v1" && exec umoci unpack --image "$2:v1" "$3"';
          return { file: '/bin/sh', args: ['-c', script, 'sh', image.ref, layout, bundle], options: { env } };
        },
      },
    ];
    console.log(`\n${runs} runs each, interleaved, after one warm-up each; every run into an empty directory, after sync (untimed)`);
    if (env.NODE_EXTRA_CA_CERTS) console.log('note: NODE_EXTRA_CA_CERTS is set: Node parses that file at every start (≈ +35 ms here)');
    const summaries = runInterleaved(cases, runs);
    const reference = summaries[1]!.median;
    console.log(formatSummaries(summaries, { title: '÷ skopeo+umoci', cell: (s) => formatRatio(s.median / reference) }));
    const ratio = summaries[0]!.median / reference;
    console.log(`\ntarget: chapter 05 ≤ ${TARGET_RATIO.toFixed(1)}× skopeo + umoci: ${ratio <= TARGET_RATIO ? 'met' : 'not met'} (${formatRatio(ratio)})`);
    for (const dir of readdirSync(scratch).filter((d) => /^(store|layout|bundle)-/.test(d))) rmSync(join(scratch, dir), { recursive: true, force: true });

    // ------------------------------------------------------------ (2) peak memory
    console.log(`\npeak memory (RSS high-water mark, ${hasGnuTime() ? '/usr/bin/time -v' : 'VmHWM from /proc/<pid>/status'}), pulling ${big.ref} (${formatMb(big.bytes)} compressed), ${MEMORY_RUNS} runs:`);
    const rows: string[][] = [];
    const enginePeaks: number[] = [];
    for (let run = 0; run < MEMORY_RUNS; run++) {
      const root = join(scratch, `peak-store-${run}`);
      flushDirtyPages();
      const peak = await peakRss(process.execPath, [...engine.args, '--root', root, 'pull', '-q', big.ref], { cwd: PROJECT_ROOT, env });
      enginePeaks.push(peak);
      rmSync(root, { recursive: true, force: true });
      const layout = join(scratch, `peak-layout-${run}`);
      const bundle = join(scratch, `peak-bundle-${run}`);
      const skopeo = await peakRss('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${big.ref}`, `oci:${layout}:v1`], { env });
      const umoci = await peakRss('umoci', ['unpack', '--image', `${layout}:v1`, bundle], { env });
      rmSync(layout, { recursive: true, force: true });
      rmSync(bundle, { recursive: true, force: true });
      rows.push([`run ${run + 1}`, formatMb(peak), formatMb(skopeo), formatMb(umoci)]);
    }
    console.log(formatTable(['', `chapter 05 pull (${engine.label})`, 'skopeo copy', 'umoci unpack'], rows));
    const worst = Math.max(...enginePeaks);
    console.log(`\ntarget: engine peak ≤ ${TARGET_PEAK_MB} MB: ${worst <= TARGET_PEAK_MB * 1e6 ? 'met' : 'not met'} (highest ${formatMb(worst)})`);
    return 0;
  } finally {
    await registry?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the engine under test

/** Compiled JavaScript when `npm run build` succeeds (or dist/ is still fresh for chapter 05),
 *  else the TypeScript through tsx's loader: both start one Node process per pull. */
function engineCommand(): { args: string[]; label: string } {
  console.log('npm run build (chapter 05 compiled to dist/) …');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (build.status === 0 || staleOutputs(['chapters/05-images', 'lib']).length === 0) {
    if (build.status !== 0) console.log('note: npm run build reported errors (above), but dist/ is up to date for chapter 05: using it');
    return { args: [ENGINE_JS], label: 'compiled' };
  }
  console.log('note: npm run build failed and dist/ is stale for chapter 05: timing it through tsx instead');
  return { args: ['--import', 'tsx', ENGINE_TS], label: 'tsx' };
}

/** Sources under `dirs` whose compiled file in dist/ is missing or older than they are. */
function staleOutputs(dirs: string[]): string[] {
  const stale: string[] = [];
  for (const dir of dirs) {
    for (const name of readdirSync(join(PROJECT_ROOT, dir)).filter((f) => f.endsWith('.ts'))) {
      const output = join(PROJECT_ROOT, 'dist', dir, name.replace(/\.ts$/, '.js'));
      if (!existsSync(output) || statSync(output).mtimeMs < statSync(join(PROJECT_ROOT, dir, name)).mtimeMs) stale.push(output);
    }
  }
  return stale;
}

// ---------------------------------------------------------------- the images

/** Build an image with umoci (first layer: `rootfs`, when given; then one layer per entry of
 *  `layersMb`, of random files) and push it with skopeo. umoci repack gzips each layer. */
function buildAndPush(scratch: string, rootfs: string | null, host: string, repoTag: string, layersMb: number[]): { ref: string; bytes: number } {
  const name = repoTag.replace(/[^a-z0-9]+/g, '-');
  const layout = join(scratch, `${name}-oci`);
  const bundle = join(scratch, `${name}-bundle`);
  const image = `${layout}:v1`;
  process.stderr.write(`building ${repoTag}: ${rootfs ? 'busybox rootfs + ' : ''}${layersMb.map((mb) => `${mb} MB`).join(' + ')} of random files …\n`);
  tool('umoci', ['init', '--layout', layout]);
  tool('umoci', ['new', '--image', image]);
  tool('umoci', ['unpack', '--image', image, bundle]);
  // --refresh-bundle: without it the next repack diffs against the bundle's first state
  // again, and the new layer *replaces* the previous one in the manifest.
  if (rootfs) {
    cpSync(rootfs, join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
    tool('umoci', ['repack', '--refresh-bundle', '--image', image, bundle]);
  }
  layersMb.forEach((mb, i) => {
    writeRandomFiles(join(bundle, 'rootfs', `data${i + 1}`), mb);
    tool('umoci', ['repack', '--refresh-bundle', '--image', image, bundle]);
  });
  tool('umoci', ['config', '--image', image, '--config.cmd', '/bin/sh', '--os', 'linux', '--architecture', 'amd64']);
  rmSync(bundle, { recursive: true, force: true });
  const ref = `${host}/${repoTag}`;
  tool('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image}`, `docker://${ref}`]);
  const bytes = readdirSync(join(layout, 'blobs/sha256')).reduce((sum, f) => sum + statSync(join(layout, 'blobs/sha256', f)).size, 0);
  rmSync(layout, { recursive: true, force: true });
  return { ref, bytes };
}

function writeRandomFiles(dir: string, mb: number): void {
  mkdirSync(dir, { recursive: true });
  const data = Buffer.alloc(FILE_BYTES);
  const files = Math.round((mb * 1024 * 1024) / FILE_BYTES);
  for (let i = 0; i < files; i++) writeFileSync(join(dir, `file-${i}.bin`), randomFillSync(data));
}

function tool(program: string, args: string[]): void {
  const result = spawnSync(program, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0) throw new BenchError(`${program} ${args.join(' ')} failed: ${result.stderr.trim().split('\n').slice(-2).join(' ')}`);
}

// ---------------------------------------------------------------- memory

function hasGnuTime(): boolean {
  return existsSync('/usr/bin/time');
}

/** The peak resident set size of a command, in bytes: GNU time's "Maximum resident set size"
 *  (getrusage's ru_maxrss), or else VmHWM read from /proc/<pid>/status while it runs. */
async function peakRss(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<number> {
  if (hasGnuTime()) {
    const result = spawnSync('/usr/bin/time', ['-v', file, ...args], { ...options, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (result.status !== 0) throw new BenchError(`${file} ${args.join(' ')} failed: ${result.stderr.trim().split('\n').slice(0, 2).join(' ')}`);
    const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
    if (!kb) throw new BenchError('/usr/bin/time -v printed no "Maximum resident set size"');
    return Number(kb[1]) * 1024;
  }
  const child = spawn(file, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    } catch {
      // gone already
    }
  }, 10);
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  clearInterval(poll);
  if (code !== 0) throw new BenchError(`${file} ${args.join(' ')} failed with exit code ${code}`);
  return peak;
}

// ---------------------------------------------------------------- small helpers

/** sync(1), untimed, before every run: the engine syncs what it unpacks (syncfs), and must
 *  not pay for the dirty pages the previous run of the other case left behind. */
function flushDirtyPages(): void {
  if (spawnSync('sync', [], { stdio: 'ignore' }).status !== 0) throw new BenchError('sync failed');
}

/** A temp dir on a real filesystem: /var/tmp (often on disk) before /tmp (sometimes a tmpfs). */
function makeScratchDir(): string {
  for (const base of ['/var/tmp', '/tmp']) {
    if (!existsSync(base) || statfsSync(base).type === OVERLAYFS_SUPER_MAGIC) continue;
    return mkdtempSync(join(base, 'nutshell-pull-bench-'));
  }
  throw new BenchError('/var/tmp and /tmp are both on an overlay: the store needs a real filesystem (trusted.* xattrs)');
}

function parseMegabytes(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`invalid ${flag} "${value}": give whole megabytes, e.g. ${fallback}`);
  return n;
}

function formatMb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
