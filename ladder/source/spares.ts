//@ daemon..
/** Chapter 11 · spare monitors: how a daemon starts a container sooner than a command line can.
 *  Every container runs under a monitor (chapter 06), a Node process, which starts the child
 *  stage (chapter 02), a second one: two Node starts, one after the other, before the
 *  container's first instruction. `run` on the command line must pay for both as it goes. A
 *  daemon is up before the request comes, so it starts both ahead of time and keeps them
 *  waiting, as a pool of spares:
 *    - a spare monitor boots, unshares a PID namespace and starts its child stage in it, which
 *      boots too and blocks reading its configuration; the spare says "ready" to the daemon and
 *      blocks reading its own;
 *    - on `start`, the daemon hands a spare the container (handOverSpare) and starts a new one
 *      when the start is done (refillSpares);
 *    - the spare makes the container's log files its stdout and stderr (takeStreams: it had
 *      /dev/null), then runs the container as any monitor does (runContainer), with the child
 *      stage it already has, which takes the same files.
 *  A spare serves one container and goes with it: unshare(CLONE_NEWPID) works once per process
 *  (kernel-notes.md). It holds nothing of a container while it waits: no cgroup, no mount, no
 *  address; its child stage is alone in its PID namespace, in the daemon's cgroup. Both end as
 *  soon as their socket to the daemon closes, the daemon stopped or killed: read(2) returns 0.
 *  `daemon --spares 0` keeps none: every start is then a cold one, as on the command line. */
import type { ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { runContainer, startChildStage, startMonitor, startSpareMonitor, takeStreams, type ContainerConfig } from './container.ts';
import { findContainerDirs, type ContainerDirs } from './storage.ts';
import { CLONE, unshare } from './syscalls.ts';

/** The socket a monitor shares with whoever started it: its fd 3 (stdio[3] on the daemon's side). */
const SYNC_FD = 3;

/** The most spares a daemon keeps: each waits with two Node processes, ≈ 50 MB of RSS each. */
export const MAX_SPARES = 8;

interface Spare {
  monitor: ChildProcess;
  /** True once it has booted and started its child stage; false if it ended before. */
  ready: Promise<boolean>;
}

const spares: Spare[] = [];
let wanted = 0;

/** Keep `count` spares from now on (the daemon's --spares), starting them at once. */
export function keepSpares(count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > MAX_SPARES) throw new UserError(`--spares must be a whole number from 0 to ${MAX_SPARES}, not ${count}`);
  wanted = count;
  refillSpares();
}

/** Start spares until there are as many as wanted. The daemon calls it after each start: a
 *  spare booting while a container starts would take the CPU that container is waiting for. */
export function refillSpares(): void {
  while (spares.length < wanted) spares.push(startSpare());
}

function startSpare(): Spare {
  const monitor = startSpareMonitor();
  const socket = monitor.stdio[SYNC_FD] as Socket;
  socket.on('error', () => {}); // it died: its 'exit' says so, and it leaves the pool
  const ready = new Promise<boolean>((settle) => {
    let said = '';
    socket.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('\n')) settle(said.startsWith('ready'));
    });
    monitor.once('exit', () => settle(false));
  });
  const spare: Spare = { monitor, ready };
  // One that ends while it waits (killed, say) leaves the pool; the next start makes up for it.
  monitor.once('exit', () => {
    const index = spares.indexOf(spare);
    if (index !== -1) spares.splice(index, 1);
  });
  return spare;
}

/** `start`: the container goes to a spare if one is ready, or soon will be; else to a monitor
 *  started now (container.ts, startMonitor), as the command line's `run -d` does. */
export async function startContainerMonitor(config: ContainerConfig, dirs: ContainerDirs): Promise<ChildProcess> {
  while (spares.length > 0) {
    const spare = spares.shift()!;
    const alive = () => spare.monitor.exitCode === null && spare.monitor.signalCode === null;
    if ((await spare.ready) && alive()) return handOverSpare(spare, config, dirs);
  }
  return startMonitor(config, dirs);
}

/** The container's id and configuration, as one line on the spare's socket; then the spare is
 *  the container's monitor, and neither it nor the socket keeps the daemon running. */
function handOverSpare(spare: Spare, config: ContainerConfig, dirs: ContainerDirs): ChildProcess {
  traceStep(`hand container ${dirs.spec.id} to spare monitor ${spare.monitor.pid}`, 'it has booted already, and so has its child stage');
  const socket = spare.monitor.stdio[SYNC_FD] as Socket;
  socket.end(`${JSON.stringify({ config, id: dirs.spec.id })}\n`);
  socket.unref();
  spare.monitor.unref();
  return spare.monitor;
}

/** The daemon stops: the spares go now, rather than when they notice their socket closed. Each
 *  is a process group of its own (spawned detached), with its child stage in it. */
export function stopSpares(): void {
  wanted = 0;
  for (const spare of spares.splice(0)) {
    try {
      process.kill(-spare.monitor.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------- the spare's side (`__spare`)

/** A spare monitor: start the child stage, say "ready", wait for a container, run it. */
export async function spareMonitor(): Promise<number> {
  unshare(CLONE.CLONE_NEWPID, 'a PID namespace for the child stage we start now: it will be PID 1 of the container to come');
  // stdin a pipe whatever comes: -i needs one, and it is closed at once without -i.
  const child = startChildStage('init', undefined, true, ['pipe', 'inherit', 'inherit']);
  const endedEarly = () => process.exit(1); // a spare without its child stage serves nothing
  child.once('exit', endedEarly);
  const daemon = new Socket({ fd: SYNC_FD, readable: true, writable: true });
  daemon.write('ready\n');
  const line = await firstLine(daemon);
  if (line === undefined) {
    child.kill('SIGKILL'); // the daemon went away: no container will come
    return 0;
  }
  child.off('exit', endedEarly);
  daemon.destroy();
  const { config, id } = JSON.parse(line) as { config: ContainerConfig; id: string };
  // Our command line, as ps shows it, names the container from now on, as a monitor's does
  // (Node writes the title over the memory of our arguments, and cuts what does not fit).
  process.title = `nutshell __monitor ${id} (started as a spare)`;
  const dirs = findContainerDirs(id);
  takeStreams({ stdout: dirs.logFile, stderr: dirs.errorLogFile });
  return runContainer(config, dirs, child); // no --rm here: the daemon removes its containers (containers-api.ts)
}

/** The first line that comes on the socket, or undefined if it closes first. */
function firstLine(socket: Socket): Promise<string | undefined> {
  return new Promise((settle) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      const end = received.indexOf('\n');
      if (end !== -1) settle(received.slice(0, end));
    });
    socket.once('close', () => settle(undefined));
    socket.once('error', () => settle(undefined));
  });
}
