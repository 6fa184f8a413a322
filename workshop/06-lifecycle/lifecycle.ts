/** Chapter 06 · the container lifecycle after `run`: stop, kill, rm, ps and logs. A detached
 *  container's engine (its monitor) may be gone — killed, or the machine's engine restarted —
 *  so every verb here works from the state file and the kernel alone: the PID and its start
 *  time say whether the container still runs, and whoever sees it end cleans up after it. */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as os } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { detectCgroups, type Cgroup } from './cgroups.ts';
import { isAlive, readRecordedState, readState, recordExited, type ContainerState } from './state.ts';
import { listContainers, removeContainerDirs, type ContainerDirs } from './storage.ts';

/** Wait until `done()` or `seconds` pass; true if it happened. */
async function waitFor(done: () => boolean, seconds: number): Promise<boolean> {
  throw new Error('TODO (chapter 06): write waitFor(), as the comment above it says');
}

/** Send a signal to the container's PID 1 (from the host, so even SIGKILL gets through). */
export function killContainer(dirs: ContainerDirs, signal: NodeJS.Signals): void {
  // It ended, and its monitor reaped it, between readState's check and this call.
  throw new Error('TODO (chapter 06): write killContainer(), as the comment above it says');
}

/** `docker stop`: SIGTERM, then SIGKILL after `timeout` seconds — a PID 1 without a SIGTERM
 *  handler ignores it (chapter 02). Then make sure the end is recorded and the cgroup gone. */
export async function stopContainer(dirs: ContainerDirs, timeout: number): Promise<void> {
  throw new Error('TODO (chapter 06): write stopContainer(), as the comment above it says');
}

/** The container has ended. Its monitor, if alive, records how and removes the cgroup; if it
 *  was killed, nobody will: do it here. */
async function settle(dirs: ContainerDirs, state: ContainerState, exitCode: number): Promise<void> {
  // A monitor that is alive but slow (a busy machine) may be removing the same cgroup at this
  // moment: the loser of that race sees its files vanish as it reads them. Its record wins.
  throw new Error('TODO (chapter 06): write settle(), as the comment above it says');
}

function removeCgroup(state: ContainerState): void {
  throw new Error('TODO (chapter 06): write removeCgroup()');
}

/** The container's cgroup, or undefined once whoever saw the container end has removed it. */
function openCgroup(cgroupId: string): Cgroup | undefined {
  throw new Error('TODO (chapter 06): write openCgroup(), as the comment above it says');
}

/** `rm [-f]`: a running container only with force (it is killed first). */
export async function removeContainer(dirs: ContainerDirs, force: boolean): Promise<void> {
  throw new Error('TODO (chapter 06): write removeContainer(), as the comment above it says');
}

/** "Up 5 seconds", "Exited (0) 2 minutes ago", like docker ps. */
function describe(state: ContainerState): string {
  throw new Error('TODO (chapter 06): write describe(), as the comment above it says');
}

function ago(iso: string | undefined): string {
  throw new Error('TODO (chapter 06): write ago()');
}

/** `ps [-a]`: one line per container, running ones only unless `all`. */
export function listTable(all: boolean): string {
  throw new Error('TODO (chapter 06): write listTable(), as the comment above it says');
}

/** `logs [-f]`: what the detached container printed. The log is the container's stdout, so the
 *  container decides its size: it can print gigabytes, or ftruncate(2) it to any length. So the
 *  log is copied a chunk at a time from an offset, never read whole (Node refuses to read 2 GiB
 *  or more at once, and would hold it all in memory). With `follow`, the offset is kept between
 *  looks, so each look copies only what was appended since; it ends once the container has. */
export async function printLogs(dirs: ContainerDirs, follow: boolean): Promise<void> {
  // Shorter than what we copied: it was truncated. Start again at 0, as tail -f does: all it
  // holds may have been written since, and a line printed twice beats a line lost.
  throw new Error('TODO (chapter 06): write printLogs(), as the comment above it says');
}

/** Write to stdout and wait until it is taken: the chunk is reused, and a slow reader (a pipe,
 *  a terminal) must slow us down rather than pile the log up in our memory. */
function writeOut(bytes: Buffer): Promise<void> {
  throw new Error('TODO (chapter 06): write writeOut(), as the comment above it says');
}
