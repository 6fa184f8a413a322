/** Test helper: a Docker Engine API daemon of the tests' own, on a private socket, with its
 *  data in a temporary directory that goes with it. startDockerd() starts Debian's dockerd
 *  (20.10, API 1.41), the reference our client (chapter 11's client.ts) is checked against;
 *  another daemon (ours) can stand in for it behind the same TestDaemon interface. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chapterCommand } from '../../scripts/chapters.ts';
import { engineCgroups } from './cgroups.ts';
import { processesOf } from './processes.ts';
import { programOf, start, type Result } from './chapter.ts';

export const DOCKERD = '/usr/sbin/dockerd';

/** A daemon for the tests: where it listens, how an image gets into it, and its end. */
export interface TestDaemon {
  /** unix:///…/docker.sock */
  host: string;
  /** The directory everything of the daemon's lives under: no process or mount may name it
   *  once the daemon is stopped. */
  dir: string;
  /** Make an image of one layer from a root filesystem directory. */
  importImage(rootfs: string, name: string): void;
  /** Stop it, and remove what it kept. */
  stop(): Promise<void>;
}

/** Ask the socket for /_ping until it answers OK. */
async function waitForPing(socketPath: string, seconds: number, ended: () => boolean): Promise<void> {
  const ping = () => new Promise<boolean>((answered) => {
    const outgoing = request({ socketPath, path: '/_ping', agent: false }, (response) => {
      response.resume();
      answered(response.statusCode === 200);
    });
    outgoing.once('error', () => answered(false));
    outgoing.end();
  });
  const deadline = Date.now() + seconds * 1000;
  while (!(await ping())) {
    if (ended() || Date.now() > deadline) throw new Error(`no daemon answered on ${socketPath} within ${seconds} s`);
    await sleep(100);
  }
}

/** A dockerd of its own in a temporary directory: its socket, data root (images, containers),
 *  exec root (its containerd, the containers' state) and log. Without iptables or a bridge, so
 *  it changes nothing on the host: its containers run with --network none. */
export async function startDockerd(): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'nutshell-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  const daemon = spawn(DOCKERD, [
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
    '-H', host, '--iptables=false', '--bridge=none',
    // Containers still running at the end get 1 s, not 15, to stop.
    '--shutdown-timeout', '1',
    // The sandbox lacks CAP_SYS_RESOURCE: no rlimit above the current hard limit.
    '--default-ulimit', 'nofile=1024:1024',
  ], { stdio: ['ignore', log, log] });
  const ended = new Promise<void>((done) => daemon.once('exit', () => done()));
  let exited = false;
  void ended.then(() => (exited = true));
  const stop = async () => {
    if (!exited) {
      daemon.kill('SIGTERM');
      await Promise.race([ended, sleep(30_000)]);
      if (!exited) daemon.kill('SIGKILL');
      await ended;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPing(socket, 60, () => exited);
  } catch (err) {
    const lastLines = readFileSync(join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}; dockerd's last lines:\n${lastLines}`);
  }
  return {
    host,
    dir,
    importImage: (rootfs, name) => {
      // docker import: the rootfs as one tar, into an image of one layer (`import` of chapter 08).
      const tar = spawnSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 1 << 30 });
      const imported = spawnSync('docker', ['-H', host, 'import', '-', name], { input: tar.stdout, encoding: 'utf8' });
      if (imported.status !== 0) throw new Error(`docker import ${name}: ${imported.stderr}`);
    },
    stop,
  };
}

/** Processes whose command line names `dir`, and mounts under it: what a daemon left behind. */
export function leftovers(dir: string): string[] {
  const found = processesOf(dir).map(({ pid, command }) => `process ${pid}: ${command}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(dir)) found.push(`mount: ${line}`);
  }
  return found;
}

/** Our daemon (chapter 11's `daemon` verb) as a TestDaemon, with what a test of a daemon's own
 *  life needs too: its root, a SIGKILL, and a start again on the same root and socket. */
export interface OurDaemon extends TestDaemon {
  root: string;
  /** What the daemon wrote to its stdout and stderr so far. */
  log(): string;
  /** The docker CLI against it, to its end. */
  docker(args: string[], opts?: { input?: string; timeout?: number }): Promise<Result>;
  /** SIGKILL the daemon (its containers go on, under their monitors). */
  kill(): Promise<void>;
  /** Start it again, on the same root and socket. */
  restart(): Promise<void>;
  /** The PIDs of its spare monitors (spares.ts) now, those not yet given a container. */
  spares(): number[];
}

/** The docker CLI on `host`, to its end; never throws on a non-zero exit. */
export function docker(host: string, args: string[], opts: { input?: string; timeout?: number } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('docker', ['-H', host, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 120_000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout, stderr });
    });
  });
}

/** Chapter `chapter`'s daemon on a socket and root of a temporary directory (inside network
 *  namespace `netns` if given). stop() removes its containers with the docker CLI, sends
 *  SIGTERM, and fails if anything of it is left: a process or mount naming its directory, or a
 *  cgroup of one of its containers. */
export async function startOurDaemon(chapter: string, opts: { netns?: string; args?: string[] } = {}): Promise<OurDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'nutshell-daemon-'));
  const root = join(dir, 'root');
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const logPath = join(dir, 'daemon.log');
  let daemon: ChildProcess;
  let ended: Promise<void>;
  let exited = false;
  const launch = async () => {
    const log = openSync(logPath, 'a');
    daemon = start(chapter, ['--root', root, 'daemon', '--host', host, ...(opts.args ?? [])], { netns: opts.netns, stdio: ['ignore', log, log] });
    exited = false;
    ended = new Promise<void>((done) => daemon.once('exit', () => done()));
    void ended.then(() => (exited = true));
    try {
      await waitForPing(socket, 60, () => exited);
    } catch (err) {
      const lastLines = readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`${(err as Error).message}; the daemon's last lines:\n${lastLines}`);
    }
  };
  const kill = async () => {
    if (!exited) daemon.kill('SIGKILL');
    await ended;
  };
  await launch().catch(async (err: unknown) => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    const ids: string[] = [];
    if (!exited) {
      const listed = await docker(host, ['ps', '-aq', '--no-trunc']);
      ids.push(...listed.stdout.split('\n').filter(Boolean));
      if (ids.length) {
        const removed = await docker(host, ['rm', '-f', ...ids]);
        if (removed.code !== 0) problems.push(`docker rm -f: ${removed.stderr.trim()}`);
      }
      daemon.kill('SIGTERM');
      await Promise.race([ended, sleep(30_000)]);
      if (!exited) {
        problems.push('the daemon did not end within 30 s of SIGTERM');
        daemon.kill('SIGKILL');
      }
      await ended;
    }
    problems.push(...leftovers(dir));
    for (const cgroup of engineCgroups()) if (ids.some((id) => cgroup.includes(id.slice(0, 12)))) problems.push(`cgroup: ${cgroup}`);
    if (existsSync(socket)) problems.push(`the socket ${socket} is still there`);
    rmSync(dir, { recursive: true, force: true });
    if (problems.length) throw new Error(`our daemon left behind:\n${problems.join('\n')}`);
  };
  return {
    host,
    dir,
    root,
    importImage: (rootfs, name) => {
      // The chapter's own `import`, into the same root: the daemon reads its store from disk.
      const [file, ...argv] = chapterCommand(programOf(chapter));
      const imported = spawnSync(file!, [...argv, '--root', root, 'import', rootfs, name], { encoding: 'utf8' });
      if (imported.status !== 0) throw new Error(`import ${name}: ${imported.stderr}`);
    },
    docker: (args, o) => docker(host, args, o),
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    kill,
    restart: launch,
    stop,
    spares: () => processesOf(root).filter(({ command }) => command.includes(' __spare ')).map(({ pid }) => pid),
  };
}
