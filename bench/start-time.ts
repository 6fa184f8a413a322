/** Benchmark · start time: the wall time of starting a container that runs /bin/true, for
 *  runc on a rootfs (an OCI bundle), chapter 02 on the same rootfs (through tsx, and compiled
 *  to JavaScript by npm run build), and chapters 05 and 10 compiled, `run --rm` of an image of
 *  that rootfs (imported into a temp store by chapter 08: no registry involved).
 *  The target: each compiled case within 3× runc's median wall time. And the learner's path,
 *  `./nutshell 05 …` (the chapter's cached esbuild bundle), within 1.3× chapter 05 compiled;
 *  `npm run -s chapter -- 05 …`, the same after npm's own start, is shown beside it.
 *  Usage: npm run bench -- start-time [--runs N] [--rootfs DIR] [--bridge] */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRootfs, DEFAULT_ROOTFS } from '../scripts/build-rootfs.ts';
import {
  BenchError, findOnPath, formatMs, formatRatio, formatSummaries, makeRuncBundle, makeScratchDir, parseRuns, PROJECT_ROOT, quietEnv, runInterleaved, type Case,
} from './lib.ts';

export const description = 'wall time of a container running /bin/true: runc, chapter 02 (tsx and compiled), chapters 05 and 10 compiled (run --rm)';

/** Compiled JavaScript must start a container within this many times runc's median. */
const TARGET_RATIO = 3;
/** `./nutshell NN …` must stay within this many times the compiled program's median. */
const LEARNER_TARGET = 1.3;
const LEARNER_PATH = './nutshell 05 run --rm';
const DEFAULT_RUNS = 20;
const CHAPTER_02 = 'chapters/02-namespaces';
/** The image that chapters 05 and 10 run, made by chapter 08's `import` of the rootfs. */
const IMAGE = 'nutshell-bench/busybox';
/** Set in the copy of this bench that --bridge re-runs inside a network namespace of its own. */
const IN_OWN_NETNS = 'NUTSHELL_BENCH_OWN_NETNS';

export function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { runs: { type: 'string' }, rootfs: { type: 'string' }, bridge: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- start-time [--runs N] [--rootfs DIR] [--bridge]\n' +
      '  --bridge  also chapter 10 on its default bridge network (the whole bench then runs in a network namespace of its own)');
    return 0;
  }
  const runs = parseRuns(values.runs, DEFAULT_RUNS);
  const runc = findOnPath('runc');
  if (!runc) {
    console.error('runc is missing: install it (apt-get install runc) to compare against it');
    return 1;
  }
  if (process.getuid?.() !== 0) throw new BenchError('the engines and runc need root: run the bench as root');
  // The bridge, its veths and the nftables table of chapter 10 must not appear on the host: the
  // bench runs itself again in a new network namespace, where they go when it ends. Every case
  // runs there, so they all pay the same; each container gets a namespace of its own anyway.
  if (values.bridge && !process.env[IN_OWN_NETNS]) return rerunInOwnNetworkNamespace();

  const rootfs = values.rootfs ? resolve(values.rootfs) : buildRootfs(DEFAULT_ROOTFS);
  console.log('npm run build (the chapters compiled to dist/) …');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new BenchError('npm run build failed: the compiled cases cannot run');

  const bundle = makeRuncBundle(rootfs);
  // The store and the containers of chapters 05 and 10, and chapter 02's state: all temporary.
  const scratch = makeScratchDir('nutshell-start-bench-');
  try {
    const env: NodeJS.ProcessEnv = { ...quietEnv(), NUTSHELL_ROOT: join(scratch, 'root'), NUTSHELL_STATE_DIR: join(scratch, 'state') };
    const options = { cwd: PROJECT_ROOT, env };
    importImage(rootfs, env);
    const containerId = (run: number) => `nutshell-bench-${process.pid}-${run < 0 ? 'warm' : run}`;
    const node = (args: string[]): Case['command'] => () => ({ file: process.execPath, args, options });
    const compiled = (chapter: string, ...args: string[]) => node([`dist/chapters/${chapter}/main.js`, ...args]);
    const cases: Case[] = [
      { name: 'chapter 02 via tsx', command: node(['--import', 'tsx', `${CHAPTER_02}/main.ts`, 'run', rootfs, '/bin/true']) },
      { name: 'chapter 02 compiled', command: compiled('02-namespaces', 'run', rootfs, '/bin/true') },
      { name: 'chapter 05 compiled, run --rm', command: compiled('05-images', 'run', '--rm', IMAGE, '/bin/true') },
      // The learner's path: the cached esbuild bundle (scripts/compiled.mjs), with and without npm.
      { name: LEARNER_PATH, command: () => ({ file: join(PROJECT_ROOT, 'nutshell'), args: ['05', 'run', '--rm', IMAGE, '/bin/true'], options }) },
      { name: 'npm run -s chapter -- 05 run --rm', command: () => ({ file: 'npm', args: ['run', '-s', 'chapter', '--', '05', 'run', '--rm', IMAGE, '/bin/true'], options }) },
      { name: 'chapter 10 compiled, run --rm --network none', command: compiled('10-network', 'run', '--rm', '--network', 'none', IMAGE, '/bin/true') },
      ...(values.bridge ? [{ name: 'chapter 10 compiled, run --rm (bridge)', command: compiled('10-network', 'run', '--rm', IMAGE, '/bin/true') }] : []),
      {
        name: 'runc run',
        command: (run) => ({ file: runc, args: ['run', '--bundle', bundle, containerId(run)], options }),
        onFailure: (run) => {
          spawnSync(runc, ['delete', '--force', containerId(run)], { stdio: 'ignore' });
        },
      },
    ];

    console.log(`rootfs ${rootfs} (image ${IMAGE} for chapters 05 and 10), command /bin/true, ${runs} runs each, interleaved, after one warm-up each`);
    if (values.bridge) console.log('in a network namespace of the bench\'s own (--bridge)');
    if (env.NODE_EXTRA_CA_CERTS) {
      // Node reads and parses that file as it starts; the engine spares its child stage that.
      console.log(`note: NODE_EXTRA_CA_CERTS is set: the engine parses ${env.NODE_EXTRA_CA_CERTS} as it starts (the child stage goes without) ` +
        '(measure without it: env -u NODE_EXTRA_CA_CERTS npm run bench -- start-time)');
    }
    console.log();
    const summaries = runInterleaved(cases, runs);
    const reference = summaries.at(-1)!;
    const base = reference.median;
    console.log(formatSummaries(summaries, { title: '÷ runc median', cell: (s) => formatRatio(s.median / base) }));

    console.log(`\ntarget: compiled JavaScript within ${TARGET_RATIO}× runc's median (≤ ${formatMs(base * TARGET_RATIO)})`);
    for (const s of summaries.filter((s) => s.name.includes('compiled'))) {
      const ratio = s.median / base;
      console.log(`  ${s.name.padEnd(48)} ${formatMs(s.median).padStart(9)}  ${formatRatio(ratio).padStart(6)}  ${ratio <= TARGET_RATIO ? 'MET' : 'NOT MET'}`);
    }
    const compiled05 = summaries.find((s) => s.name === 'chapter 05 compiled, run --rm')!.median;
    const learner = summaries.find((s) => s.name === LEARNER_PATH)!.median;
    console.log(`\ntarget: the learner's path within ${LEARNER_TARGET}× compiled JavaScript: ${LEARNER_PATH} ` +
      `${formatRatio(learner / compiled05)} of chapter 05 compiled  ${learner / compiled05 <= LEARNER_TARGET ? 'MET' : 'NOT MET'}`);
    checkNothingLeft(env.NUTSHELL_ROOT!);
    return 0; // the bench reports; it does not fail a build
  } finally {
    rmSync(bundle, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `--bridge`: this same bench again, in a network namespace of its own with lo up and IPv4
 *  forwarding on (what chapter 10's NAT needs; a new namespace starts with it off). */
function rerunInOwnNetworkNamespace(): number {
  const script = `ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward && exec "$@"`;
  const result = spawnSync('unshare', ['-n', 'sh', '-c', script, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [IN_OWN_NETNS]: '1' },
  });
  if (result.error) throw new BenchError(`unshare -n: ${result.error.message}`);
  return result.status ?? 1;
}

/** The rootfs as an image in the temp store, by chapter 08's `import` (compiled): one layer,
 *  which chapters 05 and 10 read like a pulled image. Were it missing, `run` would try to pull
 *  it from Docker Hub: so check that it is there. */
function importImage(rootfs: string, env: NodeJS.ProcessEnv): void {
  const run = (args: string[]) => spawnSync(process.execPath, ['dist/chapters/08-distribution/main.js', ...args], { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
  const imported = run(['import', rootfs, IMAGE]);
  if (imported.status !== 0) throw new BenchError(`chapter 08 import ${rootfs} ${IMAGE} failed: ${imported.stderr.trim()}`);
  for (const chapter of ['05-images', '10-network']) {
    const listed = spawnSync(process.execPath, [`dist/chapters/${chapter}/main.js`, 'images'], { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
    if (listed.status !== 0 || !listed.stdout.includes(IMAGE)) throw new BenchError(`chapter ${chapter} does not see the imported image ${IMAGE}: ${listed.stderr.trim()}`);
  }
}

/** Every run was `--rm`: no container directory may be left in the temp root. */
function checkNothingLeft(root: string): void {
  let left: string[] = [];
  try {
    left = readdirSync(join(root, 'containers'));
  } catch {
    return; // never made: nothing left
  }
  if (left.length > 0) console.log(`\nwarning: ${left.length} container dir(s) left behind by run --rm: ${left.join(', ')}`);
}
