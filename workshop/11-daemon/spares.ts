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
  throw new Error('TODO (chapter 11): write keepSpares(), as the comment above it says');
}

/** Start spares until there are as many as wanted. The daemon calls it after each start: a
 *  spare booting while a container starts would take the CPU that container is waiting for. */
export function refillSpares(): void {
  throw new Error('TODO (chapter 11): write refillSpares(), as the comment above it says');
}

function startSpare(): Spare {
  // One that ends while it waits (killed, say) leaves the pool; the next start makes up for it.
  throw new Error('TODO (chapter 11): write startSpare()');
}

/** `start`: the container goes to a spare if one is ready, or soon will be; else to a monitor
 *  started now (container.ts, startMonitor), as the command line's `run -d` does. */
export async function startContainerMonitor(config: ContainerConfig, dirs: ContainerDirs): Promise<ChildProcess> {
  throw new Error('TODO (chapter 11): write startContainerMonitor(), as the comment above it says');
}

/** The container's id and configuration, as one line on the spare's socket; then the spare is
 *  the container's monitor, and neither it nor the socket keeps the daemon running. */
function handOverSpare(spare: Spare, config: ContainerConfig, dirs: ContainerDirs): ChildProcess {
  throw new Error('TODO (chapter 11): write handOverSpare(), as the comment above it says');
}

/** The daemon stops: the spares go now, rather than when they notice their socket closed. Each
 *  is a process group of its own (spawned detached), with its child stage in it. */
export function stopSpares(): void {
  // already gone
  throw new Error('TODO (chapter 11): write stopSpares(), as the comment above it says');
}

// ---------------------------------------------------------------- the spare's side (`__spare`)

/** A spare monitor: start the child stage, say "ready", wait for a container, run it. */
export async function spareMonitor(): Promise<number> {
  // stdin a pipe whatever comes: -i needs one, and it is closed at once without -i.
  // Our command line, as ps shows it, names the container from now on, as a monitor's does
  // (Node writes the title over the memory of our arguments, and cuts what does not fit).
  throw new Error('TODO (chapter 11): write spareMonitor(), as the comment above it says');
}

/** The first line that comes on the socket, or undefined if it closes first. */
function firstLine(socket: Socket): Promise<string | undefined> {
  throw new Error('TODO (chapter 11): write firstLine(), as the comment above it says');
}
