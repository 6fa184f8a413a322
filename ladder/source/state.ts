//@ namespaces..
//> ..images
//| /** Chapter 02 · where named containers are found: one small JSON file per running container,
//|  *  holding the PID that `exec` needs to reach its namespaces through /proc/PID/ns. The files
//|  *  live under a runtime directory (NUTSHELL_STATE_DIR, default /run/nutshell) and are removed
//|  *  when the container exits; a file whose PID is gone (the engine was killed) is stale. */
//| import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
//< ..images
//> lifecycle..
/** Chapter 06 · a container's lifecycle, in containers/<id>/state.json: written atomically
 *  by whichever process sees a change (the engine that runs the container, or `stop`/`rm`
 *  when that engine is gone), and checked against the kernel on every read — a state file
 *  can say "running" after a SIGKILLed engine, but a PID whose start time differs is not ours. */
import { readFileSync } from 'node:fs';
//< lifecycle..
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';
//> images..images
//| import type { ProcessSpec } from './container.ts';
//< images..images
//> lifecycle..
import { findContainerDirs, writeJSONAtomically, type ContainerDirs } from './storage.ts';
//< lifecycle..
//> network..
import type { NetworkLease } from './network.ts';
//< network..

//> ..unionfs
//| export interface ContainerRecord {
//< ..unionfs
//> images..images
//| /** The container's process spec is kept too: `exec` runs its command with the same env, working
//|  *  directory and user (new in chapter 05). */
//| export interface ContainerRecord extends ProcessSpec {
//< images..images
  //> ..images
  //| name: string;
  //| pid: number;
  //| hostname: string;
  //| rootfs: string;
  //> ..unionfs
  //| argv: string[];
  //< ..unionfs
  //| /** When the process started (clock ticks after boot): tells our PID from a reused one. */
  //< ..images
//> lifecycle..
export interface ContainerState {
  status: 'created' | 'running' | 'exited';
  pid?: number;
  /** When the PID started (clock ticks after boot): tells our PID from a reused one. */
//< lifecycle..
  startTime?: string;
  //> cgroups..images
  //| /** The container's cgroup, for `stats` and `exec` (new in chapter 03). */
  //| cgroupId: string;
  //< cgroups..images
  //> lifecycle..
  cgroupId?: string;
  /** Undefined when the container died with nobody left to see how (its engine was killed). */
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  //< lifecycle..
  //> network..
  /** A bridged container's address and veth, while it runs. */
  network?: NetworkLease;
  //< network..
  //> daemon..
  /** With -t under a monitor: the pty slave's name inside the container (console.ts resizes it). */
  terminal?: string;
  //< daemon..
}

//> ..images
//| export function stateDir(): string {
//|   return process.env.NUTSHELL_STATE_DIR ?? '/run/nutshell';
//| }
//< ..images
//> lifecycle..
const statePath = (dirs: ContainerDirs) => join(dirs.dir, 'state.json');
//< lifecycle..

//> ..images
//| const recordPath = (name: string) => join(stateDir(), `${name}.json`);
//|
//| export function checkName(name: string): void {
//|   if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new UserError(`invalid container name "${name}": use letters, digits, _ . -`);
//| }
//|
//| /** Field 22 of /proc/PID/stat, or undefined when there is no such process — or only its
//|  *  zombie (state Z), which keeps PID and start time until its parent reaps it, while its
//|  *  PID namespace takes no newcomer (fork(2) there fails with ENOMEM). After our container
//|  *  exits, the kernel may give its PID to an unrelated process: the start time differs. */
//< ..images
//> lifecycle..
/** Field 22 of /proc/PID/stat, or undefined when there is no such process — or only its
 *  zombie (state Z), which keeps PID and start time until its parent reaps it. */
//< lifecycle..
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

//> ..images
//| /** The running container called `name`, or an error that says there is none. */
//| export function findContainer(name: string): ContainerRecord {
//|   checkName(name);
//|   let record: ContainerRecord;
//< ..images
//> lifecycle..
/** Is the recorded PID still our container's process (and not a reused PID)? */
export function isAlive(state: ContainerState): boolean {
  return state.pid !== undefined && processStartTime(state.pid) === state.startTime;
}

/** The state as it was last written, before any check against the kernel. */
export function readRecordedState(dirs: ContainerDirs): ContainerState {
//< lifecycle..
  try {
    //> ..images
    //| record = JSON.parse(readFileSync(recordPath(name), 'utf8'));
    //< ..images
    //> lifecycle..
    return JSON.parse(readFileSync(statePath(dirs), 'utf8'));
    //< lifecycle..
  } catch {
    //> ..images
    //| throw new UserError(`no running container named "${name}"`);
    //< ..images
    //> lifecycle..
    return { status: 'created' };
    //< lifecycle..
  }
  //> ..images
  //| if (processStartTime(record.pid) !== record.startTime) throw new UserError(`no running container named "${name}" (it has exited)`);
  //| return record;
  //< ..images
}

//> ..images
//| /** Write the record atomically (temporary file, then rename), so a reader never sees half of it. */
//| export function recordContainer(record: ContainerRecord): void {
//|   mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
//|   const tmp = `${recordPath(record.name)}.${process.pid}.tmp`;
//|   // 0600, whatever the directory's mode: mkdir(2) leaves one that existed as it was. The
//|   // record is root's alone: from chapter 05 on it holds the env, where -e puts passwords.
//|   writeFileSync(tmp, JSON.stringify({ ...record, startTime: processStartTime(record.pid) }), { mode: 0o600 });
//|   renameSync(tmp, recordPath(record.name));
//< ..images
//> lifecycle..
/** The state as the kernel sees it now. */
export function readState(dirs: ContainerDirs): ContainerState {
  const state = readRecordedState(dirs);
  if (state.status === 'running' && !isAlive(state)) {
    return { ...state, status: 'exited' }; // died while nobody watched: exit code unknown
  }
  return state;
//< lifecycle..
}

//> ..images
//| /** Refuse a name that a running container already has. */
//| export function claimName(name: string): void {
//|   checkName(name);
//|   try {
//|     findContainer(name);
//|   } catch {
//|     return; // free, or only a stale record that recordContainer will replace
//|   }
//|   throw new UserError(`a container named "${name}" is already running`);
//< ..images
//> lifecycle..security
//| export function recordRunning(dirs: ContainerDirs, pid: number, cgroupId: string): void {
//|   writeJSONAtomically(statePath(dirs), { status: 'running', pid, startTime: processStartTime(pid), cgroupId, startedAt: new Date().toISOString() });
//< lifecycle..security
//> network..network
//| export function recordRunning(dirs: ContainerDirs, pid: number, cgroupId: string, network?: NetworkLease): void {
//|   writeJSONAtomically(statePath(dirs), { status: 'running', pid, startTime: processStartTime(pid), cgroupId, startedAt: new Date().toISOString(), network });
//< network..network
//> daemon..
export function recordRunning(dirs: ContainerDirs, pid: number, cgroupId: string, network?: NetworkLease, terminal?: string): void {
  writeJSONAtomically(statePath(dirs), { status: 'running', pid, startTime: processStartTime(pid), cgroupId, startedAt: new Date().toISOString(), network, terminal });
//< daemon..
}

//> ..images
//| /** Remove the record, unless another container has taken the name since. */
//| export function forgetContainer(name: string, pid: number): void {
//|   try {
//|     if (JSON.parse(readFileSync(recordPath(name), 'utf8')).pid !== pid) return;
//|   } catch {
//|     return;
//|   }
//|   rmSync(recordPath(name), { force: true });
//< ..images
//> lifecycle..
export function recordExited(dirs: ContainerDirs, exitCode: number | undefined): void {
  const { cgroupId, startedAt } = readState(dirs);
  writeJSONAtomically(statePath(dirs), { status: 'exited', cgroupId, exitCode, startedAt, finishedAt: new Date().toISOString() });
//< lifecycle..
}
//> lifecycle..

/** A running container, by name or id, or an error that says it is not running. */
export function findRunning(ref: string): { dirs: ContainerDirs; state: ContainerState & { pid: number; cgroupId: string } } {
  const dirs = findContainerDirs(ref);
  const state = readState(dirs);
  if (state.status !== 'running') throw new UserError(`container "${ref}" is not running`);
  return { dirs, state: state as ContainerState & { pid: number; cgroupId: string } };
}
//< lifecycle..
