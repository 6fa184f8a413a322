/** Chapter 06 · a container's lifecycle, in containers/<id>/state.json: written atomically
 *  by whichever process sees a change (the engine that runs the container, or `stop`/`rm`
 *  when that engine is gone), and checked against the kernel on every read — a state file
 *  can say "running" after a SIGKILLed engine, but a PID whose start time differs is not ours. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { findContainerDirs, writeJSONAtomically, type ContainerDirs } from './storage.ts';
import type { NetworkLease } from './network.ts';

export interface ContainerState {
  status: 'created' | 'running' | 'exited';
  pid?: number;
  /** When the PID started (clock ticks after boot): tells our PID from a reused one. */
  startTime?: string;
  cgroupId?: string;
  /** Undefined when the container died with nobody left to see how (its engine was killed). */
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** A bridged container's address and veth, while it runs. */
  network?: NetworkLease;
  /** With -t under a monitor: the pty slave's name inside the container (console.ts resizes it). */
  terminal?: string;
}

const statePath = (dirs: ContainerDirs) => join(dirs.dir, 'state.json');

/** Field 22 of /proc/PID/stat, or undefined when there is no such process — or only its
 *  zombie (state Z), which keeps PID and start time until its parent reaps it. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** Is the recorded PID still our container's process (and not a reused PID)? */
export function isAlive(state: ContainerState): boolean {
  return state.pid !== undefined && processStartTime(state.pid) === state.startTime;
}

/** The state as it was last written, before any check against the kernel. */
export function readRecordedState(dirs: ContainerDirs): ContainerState {
  try {
    return JSON.parse(readFileSync(statePath(dirs), 'utf8'));
  } catch {
    return { status: 'created' };
  }
}

/** The state as the kernel sees it now. */
export function readState(dirs: ContainerDirs): ContainerState {
  const state = readRecordedState(dirs);
  if (state.status === 'running' && !isAlive(state)) {
    return { ...state, status: 'exited' }; // died while nobody watched: exit code unknown
  }
  return state;
}

export function recordRunning(dirs: ContainerDirs, pid: number, cgroupId: string, network?: NetworkLease, terminal?: string): void {
  writeJSONAtomically(statePath(dirs), { status: 'running', pid, startTime: processStartTime(pid), cgroupId, startedAt: new Date().toISOString(), network, terminal });
}

export function recordExited(dirs: ContainerDirs, exitCode: number | undefined): void {
  const { cgroupId, startedAt } = readState(dirs);
  writeJSONAtomically(statePath(dirs), { status: 'exited', cgroupId, exitCode, startedAt, finishedAt: new Date().toISOString() });
}

/** A running container, by name or id, or an error that says it is not running. */
export function findRunning(ref: string): { dirs: ContainerDirs; state: ContainerState & { pid: number; cgroupId: string } } {
  const dirs = findContainerDirs(ref);
  const state = readState(dirs);
  if (state.status !== 'running') throw new UserError(`container "${ref}" is not running`);
  return { dirs, state: state as ContainerState & { pid: number; cgroupId: string } };
}
