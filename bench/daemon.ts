/** Benchmark · daemon: the wall time of `docker run --rm --network none IMG /bin/true`, the
 *  docker CLI against Debian's dockerd and against chapter 11's `daemon`, each started by the
 *  bench on a socket of its own with its store in a temp dir, and `runc run` of the same rootfs
 *  as the floor. All three interleaved. Target: ours within 0.5× dockerd's median.
 *  Until chapter 11 has a `daemon` verb, its case is skipped (and says so).
 *  Usage: npm run bench -- daemon [--runs N] [--rootfs DIR] [--default-network] */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { buildRootfs, DEFAULT_ROOTFS } from '../scripts/build-rootfs.ts';
import {
  BenchError, findOnPath, formatRatio, formatSummaries, makeRuncBundle, makeScratchDir, parseRuns, PROJECT_ROOT, quietEnv, runInterleaved, type Case,
} from './lib.ts';

export const description = 'docker run --rm /bin/true through the docker CLI: dockerd against chapter 11\'s daemon, runc run as the floor';

/** Our daemon must start a container within this fraction of dockerd's median. */
const TARGET_RATIO = 0.5;
const DEFAULT_RUNS = 20;
/** The image both daemons run: the bench's busybox rootfs, imported (no registry involved). */
const IMAGE = 'nutshell-bench/busybox';
const CHAPTER = '11';
/** What the docker CLI runs, after `-H unix://SOCKET`, against either daemon. */
const DOCKER_RUN = ['run', '--rm', '--network', 'none', IMAGE, '/bin/true'];
const SKIPPED = 'skipped: chapter 11 has no daemon yet';
const OUR_DAEMON = 'chapter 11 daemon';
/** The same daemon with `--spares 0`: every container's monitor and child stage boot on demand. */
const OUR_COLD_DAEMON = 'chapter 11 daemon --spares 0';
/** How long a daemon may take to answer its first ping, and to exit after SIGTERM. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const CGROUP_ROOT = '/sys/fs/cgroup';
/** The sub-tree that chapter 11 makes its containers' cgroups in (chapters/11-daemon/cgroups.ts). */
const OUR_CGROUP_SUBTREE = 'nutshell';

/** A daemon the bench started: its process, where it listens, where its output goes. */
interface Daemon {
  name: string;
  child: ChildProcess;
  socket: string;
  log: string;
  exited: Promise<void>;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { runs: { type: 'string' }, rootfs: { type: 'string' }, 'default-network': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- daemon [--runs N] [--rootfs DIR] [--default-network]\n' +
      `  --runs N             rounds, each one run of every case (default ${DEFAULT_RUNS})\n` +
      '  --rootfs DIR         the rootfs imported as the image and run by runc (default build/rootfs, built if missing)\n' +
      '  --default-network    also dockerd without --network: with --bridge=none it gives the container no network\n' +
      '                       sandbox at all (a new netns with lo only, as none does, without libnetwork\'s work)');
    return 0;
  }
  const runs = parseRuns(values.runs, DEFAULT_RUNS);
  if (process.getuid?.() !== 0) throw new BenchError('dockerd, our daemon and runc need root: run the bench as root');
  const runc = findOnPath('runc');
  const docker = findOnPath('docker');
  const dockerd = findOnPath('dockerd') ?? (existsSync('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : undefined);
  if (!runc) throw new BenchError('runc is missing: apt-get install runc');
  if (!docker) throw new BenchError('the docker CLI is missing from PATH');
  if (!dockerd) throw new BenchError('dockerd is missing: apt-get install docker.io');

  const rootfs = values.rootfs ? resolve(values.rootfs) : buildRootfs(DEFAULT_ROOTFS);
  const ours = chapterHasDaemon();
  const scratch = makeScratchDir('nutshell-daemon-bench-');
  const bundle = makeRuncBundle(rootfs);
  // What else on the machine the daemons may leave things in: looked at before, compared after.
  const before = { runDocker: existsSync('/run/docker'), ourCgroups: ourCgroupEntries() };
  const daemons: Daemon[] = [];
  let failed = false;
  try {
    // The docker CLI reads its config (contexts, credentials) from DOCKER_CONFIG: an empty one.
    const cliEnv: NodeJS.ProcessEnv = { ...quietEnv(), DOCKER_CONFIG: join(scratch, 'docker-config') };
    delete cliEnv.DOCKER_HOST;
    delete cliEnv.DOCKER_CONTEXT;
    const cli = (daemon: Daemon, args: string[], input?: Buffer) =>
      spawnSync(docker, ['-H', `unix://${daemon.socket}`, ...args], { env: cliEnv, input, encoding: 'utf8', maxBuffer: 64 << 20 });

    console.log(versions(dockerd, docker, runc));
    const theirs = await startDockerd(dockerd, scratch);
    daemons.push(theirs);
    importIntoDockerd(rootfs, (args, input) => cli(theirs, args, input));

    let oursDaemon: Daemon | undefined;
    let oursCold: Daemon | undefined;
    if (ours.has) {
      // A daemon still being written may fail to start or to run the container: that is worth
      // saying with its log, while dockerd and runc are still measured. Hence one untimed run first.
      try {
        oursDaemon = await startOurDaemon(scratch, rootfs, OUR_DAEMON, []);
        daemons.push(oursDaemon);
        oursCold = await startOurDaemon(scratch, rootfs, OUR_COLD_DAEMON, ['--spares', '0']);
        daemons.push(oursCold);
        for (const daemon of [oursDaemon, oursCold]) {
          const trial = cli(daemon, DOCKER_RUN);
          if (trial.status !== 0) {
            throw new BenchError(`${daemon.name}: docker ${DOCKER_RUN.join(' ')}: exit ${trial.status}\n  ${trial.stderr.trim().split('\n').filter(Boolean).slice(-3).join('\n  ')}\n` +
              `  its log, last lines:\n  ${tail(daemon.log, 5).join('\n  ')}`);
          }
        }
      } catch (err) {
        if (!(err instanceof BenchError)) throw err;
        failed = true;
        oursDaemon = undefined;
        oursCold = undefined;
        console.log(`\nchapter 11's daemon FAILED: ${err.message}\nmeasuring dockerd and runc without it`);
      }
    } else {
      console.log(`\nchapter 11's daemon: ${SKIPPED} (${ours.why})`);
    }

    const containerId = (run: number) => `nutshell-bench-${process.pid}-${run < 0 ? 'warm' : run}`;
    const dockerCase = (name: string, daemon: Daemon, run = DOCKER_RUN): Case => ({
      name,
      command: () => ({ file: docker, args: ['-H', `unix://${daemon.socket}`, ...run], options: { env: cliEnv } }),
    });
    const cases: Case[] = [
      dockerCase('docker run → dockerd', theirs),
      ...(values['default-network'] ? [dockerCase('docker run, no --network → dockerd', theirs, DOCKER_RUN.filter((arg, i) => arg !== '--network' && DOCKER_RUN[i - 1] !== '--network'))] : []),
      ...(oursDaemon ? [dockerCase('docker run → chapter 11 daemon', oursDaemon)] : []),
      ...(oursCold ? [dockerCase('docker run → chapter 11 daemon, --spares 0', oursCold)] : []),
      {
        name: 'runc run',
        command: (run) => ({ file: runc, args: ['run', '--bundle', bundle, containerId(run)], options: { env: quietEnv() } }),
        onFailure: (run) => {
          spawnSync(runc, ['delete', '--force', containerId(run)], { stdio: 'ignore' });
        },
      },
    ];

    if (oursDaemon && quietEnv().NODE_EXTRA_CA_CERTS) {
      // Every Node process parses that file as it starts: the daemon once, but a Node process it
      // starts per container would pay it on every run.
      console.log(`\nnote: NODE_EXTRA_CA_CERTS is set (${quietEnv().NODE_EXTRA_CA_CERTS}): ` +
        'measure without it too: env -u NODE_EXTRA_CA_CERTS npm run bench -- daemon');
    }
    console.log(`\ndocker -H unix://SOCKET ${DOCKER_RUN.join(' ')} (rootfs ${rootfs}), runc run of the same rootfs; ` +
      `${runs} rounds, interleaved, after one warm-up each; load average ${loadavg()[0]!.toFixed(2)}\n`);
    const summaries = runInterleaved(cases, runs);
    const floor = summaries.at(-1)!.median;
    console.log(formatSummaries(summaries, { title: '÷ runc median', cell: (s) => formatRatio(s.median / floor) }));
    console.log(`load average after: ${loadavg()[0]!.toFixed(2)}`);

    const dockerdMedian = summaries[0]!.median;
    const oursSummary = summaries.find((s) => s.name === 'docker run → chapter 11 daemon');
    const coldSummary = summaries.find((s) => s.name.endsWith('--spares 0'));
    if (oursSummary) {
      const ratio = oursSummary.median / dockerdMedian;
      console.log(`\ntarget: chapter 11's daemon within ${TARGET_RATIO}× dockerd's median: ${formatRatio(ratio)}  ${ratio <= TARGET_RATIO ? 'MET' : 'NOT MET'}`);
      console.log(`chapter 11's daemon ÷ runc: ${formatRatio(oursSummary.median / floor)}`);
      if (coldSummary) console.log(`with --spares 0 (cold starts): ${formatRatio(coldSummary.median / dockerdMedian)} dockerd's median`);
    } else {
      console.log(`\nours ÷ dockerd, ours ÷ runc: ${failed ? 'not measured (it failed, above)' : SKIPPED}`);
    }
    console.log(`dockerd ÷ runc: ${formatRatio(dockerdMedian / floor)}`);
  } finally {
    for (const daemon of daemons.reverse()) await stop(daemon);
    rmSync(bundle, { recursive: true, force: true });
    cleanUp(scratch, before, daemons.some((d) => d.name.startsWith(OUR_DAEMON)));
  }
  return failed ? 1 : 0; // the bench reports figures; it fails only when something could not run
}

/** Does chapter 11 have a `daemon` verb? Its usage text (made from its table of verbs) says. */
function chapterHasDaemon(): { has: boolean; why: string } {
  const help = spawnSync(process.execPath, ['scripts/chapter.mjs', CHAPTER, '--help'], { cwd: PROJECT_ROOT, env: quietEnv(), encoding: 'utf8' });
  if (help.status !== 0) return { has: false, why: `its --help failed: ${(help.stderr || help.stdout).trim().split('\n').slice(-2).join(' ')}` };
  return /^ {2}daemon(\s|$)/m.test(help.stdout) ? { has: true, why: '' } : { has: false, why: 'no "daemon" verb in its usage' };
}

function versions(dockerd: string, docker: string, runc: string): string {
  const first = (file: string, args: string[]) => spawnSync(file, args, { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? '?';
  return `${first(dockerd, ['--version'])}; docker CLI ${first(docker, ['version', '--format', '{{.Client.Version}}'])}; ${first(runc, ['--version'])}; Node ${process.version}`;
}

/** Debian's dockerd (20.10), everything it keeps in the temp dir: data root, exec root (its
 *  containerd's state and sockets too), pid file, socket, its trust key (by default
 *  /etc/docker/key.json, moved by the config file) and a cgroup parent named for this run,
 *  removed at the end. No iptables and no bridge: --network none needs neither. The sandbox
 *  may lack CAP_SYS_RESOURCE, hence a nofile limit below the hard one. */
async function startDockerd(dockerd: string, scratch: string): Promise<Daemon> {
  const dir = join(scratch, 'dockerd');
  mkdirSync(join(dir, 'data'), { recursive: true });
  mkdirSync(join(dir, 'exec'), { recursive: true });
  const configFile = join(dir, 'daemon.json');
  writeFileSync(configFile, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const socket = join(dir, 'docker.sock');
  return startDaemon('dockerd', dockerd, [
    '--config-file', configFile, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
    '-H', `unix://${socket}`, '--iptables=false', '--bridge=none', '--default-ulimit', 'nofile=1024:1024', '--cgroup-parent', `/${dockerdCgroupParent()}`,
  ], socket, join(dir, 'dockerd.log'));
}

/** dockerd's containers' cgroups go under this one, so the bench removes only its own. */
function dockerdCgroupParent(): string {
  return `nutshell-bench-dockerd-${process.pid}`;
}

/** `tar -C rootfs -c . | docker import - IMAGE`, then check dockerd has it (or `run` would pull). */
function importIntoDockerd(rootfs: string, cli: (args: string[], input?: Buffer) => SpawnSyncReturns<string>): void {
  const tar = spawnSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 1 << 30 });
  if (tar.status !== 0) throw new BenchError(`tar -C ${rootfs} -c . failed: ${tar.stderr.toString().trim()}`);
  const imported = cli(['import', '-', IMAGE], tar.stdout);
  if (imported.status !== 0) throw new BenchError(`docker import - ${IMAGE} failed: ${imported.stderr.trim()}`);
  const inspected = cli(['image', 'inspect', '--format', '{{.Id}}', IMAGE]);
  if (inspected.status !== 0) throw new BenchError(`dockerd does not list the imported image ${IMAGE}: ${inspected.stderr.trim()}`);
}

/** Chapter 11's daemon, started the learner's way (scripts/chapter.mjs: the chapter's cached
 *  bundle, no build needed; its start is not timed anyway), its store a temp root into which
 *  its own `import` verb put the rootfs first. Each of our daemons has a root of its own: a
 *  daemon removes the ended --rm containers it finds in its root, its own or not. */
async function startOurDaemon(scratch: string, rootfs: string, name: string, options: string[]): Promise<Daemon> {
  const slug = name === OUR_DAEMON ? 'ours' : 'ours-cold';
  const root = join(scratch, slug);
  const chapter = (args: string[]) => spawnSync(process.execPath, ['scripts/chapter.mjs', CHAPTER, '--root', root, ...args], { cwd: PROJECT_ROOT, env: quietEnv(), encoding: 'utf8' });
  const imported = chapter(['import', rootfs, IMAGE]);
  if (imported.status !== 0) throw new BenchError(`chapter 11 import ${rootfs} ${IMAGE} failed: ${imported.stderr.trim()}`);
  const listed = chapter(['images']);
  if (listed.status !== 0 || !listed.stdout.includes(IMAGE)) throw new BenchError(`chapter 11 does not list the imported image ${IMAGE}: ${listed.stderr.trim()}`);
  const socket = join(scratch, `${slug}.sock`);
  return startDaemon(name, process.execPath, [join(PROJECT_ROOT, 'scripts', 'chapter.mjs'), CHAPTER, '--root', root, 'daemon', '--host', `unix://${socket}`, ...options],
    socket, join(scratch, `${slug}.log`));
}

/** Start a daemon with its output in a log file (a pipe would fill while the bench blocks in
 *  spawnSync), then wait for it to answer GET /_ping, the first request of every docker command. */
async function startDaemon(name: string, file: string, args: string[], socket: string, log: string): Promise<Daemon> {
  const out = openSync(log, 'a');
  const child = spawn(file, args, { cwd: PROJECT_ROOT, env: quietEnv(), stdio: ['ignore', out, out] });
  closeSync(out);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const daemon: Daemon = { name, child, socket, log, exited };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await pings(socket))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new BenchError(`${name} exited (${child.exitCode ?? child.signalCode}) before it answered on ${socket}; its log:\n  ${tail(log, 8).join('\n  ')}`);
    }
    if (Date.now() > deadline) {
      await stop(daemon);
      throw new BenchError(`${name} did not answer GET /_ping on ${socket} within ${START_TIMEOUT_MS / 1000} s; its log:\n  ${tail(log, 8).join('\n  ')}`);
    }
    await sleep(100);
  }
  return daemon;
}

/** GET /_ping on a unix socket answered 200. */
function pings(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return Promise.resolve(false);
  return new Promise((done) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** SIGTERM, as a service manager would stop it; SIGKILL if it is still there after a while. */
async function stop(daemon: Daemon): Promise<void> {
  if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
  daemon.child.kill('SIGTERM');
  const timer = (ms: number) => sleep(ms).then(() => false);
  if (await Promise.race([daemon.exited.then(() => true), timer(STOP_TIMEOUT_MS)])) return;
  console.log(`warning: ${daemon.name} still running ${STOP_TIMEOUT_MS / 1000} s after SIGTERM: SIGKILL`);
  daemon.child.kill('SIGKILL');
  await Promise.race([daemon.exited, timer(5000)]);
}

/** After the daemons have stopped: nothing of theirs may be left. Processes, mounts and
 *  cgroups that are the bench's own are removed (and reported); the temp dir goes last, only
 *  when nothing is mounted under it any more. */
function cleanUp(scratch: string, before: { runDocker: boolean; ourCgroups: Set<string> }, oursRan: boolean): void {
  const problems: string[] = [];
  // Processes: a containerd, a shim or a container monitor that outlived its daemon still
  // names the temp dir in its command line or its environment (NUTSHELL_ROOT, --root).
  const leftover = processesMentioning(scratch);
  for (const { pid } of leftover) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (leftover.length > 0) problems.push(`killed ${leftover.length} process(es) left behind: ${leftover.map((p) => `${p.pid} ${p.command}`).join('; ')}`);

  const mounted = mountsUnder(scratch);
  for (const mountPoint of mounted.reverse()) spawnSync('umount', ['--lazy', mountPoint], { stdio: 'ignore' });
  if (mounted.length > 0) problems.push(`unmounted ${mounted.length} mount(s) left under ${scratch}: ${mounted.join(', ')}`);

  const cgroupParents = cgroupDirsNamed(dockerdCgroupParent());
  for (const dir of cgroupParents) {
    const left = removeCgroupTree(dir);
    if (left.length > 0) problems.push(`cgroup(s) that could not be removed: ${left.join(', ')}`);
  }
  // Only when our daemon ran: other engines on the machine (tests, a learner) use that sub-tree too.
  const newOurCgroups = oursRan ? [...ourCgroupEntries()].filter((entry) => !before.ourCgroups.has(entry)) : [];
  if (newOurCgroups.length > 0) problems.push(`cgroup(s) new under ${OUR_CGROUP_SUBTREE}/ since the bench started (chapter 11's, or another engine's on this machine): ${newOurCgroups.join(', ')}`);

  for (const slug of ['ours', 'ours-cold']) {
    const oursLeft = join(scratch, slug, 'containers');
    if (existsSync(oursLeft) && readdirSync(oursLeft).length > 0) problems.push(`container dir(s) left by chapter 11's run --rm (${slug}): ${readdirSync(oursLeft).join(', ')}`);
  }

  // dockerd makes /run/docker/plugins whatever its exec root: remove it if the bench made it
  // (rmdir: only when empty, so another dockerd's files are never touched).
  if (!before.runDocker) {
    for (const dir of ['/run/docker/plugins', '/run/docker']) {
      try {
        rmdirSync(dir);
      } catch {
        // not there, or another dockerd uses it
      }
    }
  }

  if (mountsUnder(scratch).length > 0) problems.push(`still mounted under ${scratch}: left in place, not removed`);
  else rmSync(scratch, { recursive: true, force: true });
  if (problems.length > 0) console.log(`\nwarning, after stopping the daemons:\n  ${problems.join('\n  ')}`);
  else console.log('\nclean-up: daemons stopped; no process, mount or cgroup of theirs left; temp dir removed');
}

/** Processes (other than this one) whose command line or environment contains `text`. */
function processesMentioning(text: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(text) || environ.includes(text)) found.push({ pid, command: cmdline.split('\0').join(' ').trim().slice(0, 120) });
    } catch {
      // exited while we looked, or a kernel thread
    }
  }
  return found;
}

/** Mount points at or under `dir` in this mount namespace (mountinfo's 5th field, octal escapes decoded). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map((field) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

/** `<root>/<name>` (cgroup v2) and `<root>/<hierarchy>/<name>` (v1) that exist. */
function cgroupDirsNamed(name: string): string[] {
  const candidates = [join(CGROUP_ROOT, name)];
  try {
    for (const hierarchy of readdirSync(CGROUP_ROOT)) candidates.push(join(CGROUP_ROOT, hierarchy, name));
  } catch {
    return [];
  }
  return candidates.filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory());
}

/** rmdir a cgroup and its children, deepest first; returns the ones that would not go. */
function removeCgroupTree(dir: string): string[] {
  const left: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) left.push(...removeCgroupTree(join(dir, entry.name)));
  }
  try {
    rmdirSync(dir);
  } catch {
    left.push(dir);
  }
  return left;
}

/** The children of chapter 11's cgroup sub-tree in every hierarchy, as `hierarchy/name`. */
function ourCgroupEntries(): Set<string> {
  const entries = new Set<string>();
  for (const dir of cgroupDirsNamed(OUR_CGROUP_SUBTREE)) {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) entries.add(`${dir.slice(CGROUP_ROOT.length + 1)}/${entry.name}`);
    }
  }
  return entries;
}

/** The last lines of a log file. */
function tail(file: string, lines: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch {
    return ['(no log)'];
  }
}
