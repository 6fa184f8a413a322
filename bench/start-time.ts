/** Benchmark · start time: the wall time of `run <rootfs> /bin/true` for chapter 02 through
 *  tsx, chapter 02 compiled to JavaScript (npm run build), and runc on the same rootfs as an
 *  OCI bundle. The target: compiled JavaScript within 3× runc's median wall time.
 *  Usage: npm run bench -- start-time [--runs N] [--rootfs DIR] */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRootfs, DEFAULT_ROOTFS } from '../scripts/build-rootfs.ts';
import {
  BenchError, findOnPath, formatMs, formatRatio, formatSummaries, parseRuns, PROJECT_ROOT, quietEnv, runInterleaved, type Case,
} from './lib.ts';

export const description = 'wall time of `run <rootfs> /bin/true`: chapter 02 via tsx, chapter 02 compiled, and runc';

/** Compiled JavaScript must start a container within this many times runc's median. */
const TARGET_RATIO = 3;
const DEFAULT_RUNS = 20;
const CHAPTER = 'chapters/02-namespaces';

export function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { runs: { type: 'string' }, rootfs: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- start-time [--runs N] [--rootfs DIR]');
    return 0;
  }
  const runs = parseRuns(values.runs, DEFAULT_RUNS);
  const runc = findOnPath('runc');
  if (!runc) {
    console.error('runc is missing: install it (apt-get install runc) to compare against it');
    return 1;
  }
  if (process.getuid?.() !== 0) throw new BenchError('chapter 02 and runc need root: run the bench as root');

  const rootfs = values.rootfs ? resolve(values.rootfs) : buildRootfs(DEFAULT_ROOTFS);
  console.log('npm run build (chapter 02 compiled to dist/) …');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new BenchError('npm run build failed: the compiled case cannot run');

  const bundle = makeBundle(rootfs);
  try {
    const env = quietEnv();
    const options = { cwd: PROJECT_ROOT, env };
    const containerId = (run: number) => `nutshell-bench-${process.pid}-${run < 0 ? 'warm' : run}`;
    const cases: Case[] = [
      {
        name: '(1) chapter 02 via tsx',
        command: () => ({ file: process.execPath, args: ['--import', 'tsx', `${CHAPTER}/main.ts`, 'run', rootfs, '/bin/true'], options }),
      },
      {
        name: '(2) chapter 02 compiled',
        command: () => ({ file: process.execPath, args: [`dist/${CHAPTER}/main.js`, 'run', rootfs, '/bin/true'], options }),
      },
      {
        name: '(3) runc run',
        command: (run) => ({ file: runc, args: ['run', '--bundle', bundle, containerId(run)], options }),
        onFailure: (run) => {
          spawnSync(runc, ['delete', '--force', containerId(run)], { stdio: 'ignore' });
        },
      },
    ];

    console.log(`rootfs ${rootfs}, command /bin/true, ${runs} runs each, interleaved, after one warm-up each`);
    if (env.NODE_EXTRA_CA_CERTS) {
      // Node reads and parses that file as it starts; the engine spares its child stage that.
      console.log(`note: NODE_EXTRA_CA_CERTS is set: the engine parses ${env.NODE_EXTRA_CA_CERTS} as it starts (the child stage goes without) ` +
        '(measure without it: env -u NODE_EXTRA_CA_CERTS npm run bench -- start-time)');
    }
    console.log();
    const [tsx, compiled, reference] = runInterleaved(cases, runs);
    const base = reference!.median;
    console.log(formatSummaries([tsx!, compiled!, reference!], { title: '÷ runc median', cell: (s) => formatRatio(s.median / base) }));

    const ratio = compiled!.median / base;
    const met = ratio <= TARGET_RATIO;
    console.log(
      `\ntarget: compiled JavaScript within ${TARGET_RATIO}× runc's median (≤ ${formatMs(base * TARGET_RATIO)}): ` +
        `${met ? 'MET' : 'NOT MET'} — ${formatMs(compiled!.median)} is ${formatRatio(ratio)} runc's ${formatMs(base)}`,
    );
    return 0; // the bench reports; it does not fail a build
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** An OCI bundle in a temp dir: `runc spec`'s default config, pointed at our rootfs, running
 *  /bin/true without a terminal. The rootfs is used in place (root.path is absolute). */
function makeBundle(rootfs: string): string {
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
