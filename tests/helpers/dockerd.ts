/** Test helper: a Docker Engine API daemon of the tests' own, on a private socket, with its
 *  data in a temporary directory that goes with it. startDockerd() starts Debian's dockerd
 *  (20.10, API 1.41), the reference our client (chapter 11's client.ts) is checked against;
 *  another daemon (ours) can stand in for it behind the same TestDaemon interface. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (command.includes(dir)) found.push(`process ${pid}: ${command}`);
    } catch {
      // it ended meanwhile
    }
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(dir)) found.push(`mount: ${line}`);
  }
  return found;
}
