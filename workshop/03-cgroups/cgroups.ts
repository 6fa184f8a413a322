/** Chapter 03 · cgroups: cap what a container may use — memory, CPU time, processes — and
 *  measure what it did use. A control group is a directory in cgroupfs; its files are the
 *  kernel's interface: write a number to set a limit, a PID to move a process in, read a
 *  file to measure. There are two versions, and a host mounts one of them at /sys/fs/cgroup:
 *    v1  one hierarchy per controller (memory/, cpu/, pids/ ...): a container is one
 *        directory in each, and a process must be moved into each of them.
 *    v2  one unified tree: a directory hands controllers down to its children.
 *  detectCgroups() picks the driver for this host; both answer the same small interface.
 *  The engine owns one sub-tree ("nutshell") and never touches a cgroup outside it. */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SyscallError, UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';

export interface Limits {
  memoryBytes?: number;
  /** CPUs' worth of time, e.g. 0.5 = half of one CPU. */
  cpus?: number;
  /** Most tasks (processes and threads) at once; -1 = no limit. */
  pidsMax?: number;
}

export interface Usage {
  memoryPeakBytes?: number;
  memoryLimitBytes?: number;
  cpuNanos: number;
  oomKilled: boolean;
  pids?: number;
}

export interface Cgroup {
  /** The cgroup's directories: one per v1 hierarchy, or one in the v2 tree. */
  paths: string[];
  /** Move a process (and so every child it starts later) into the cgroup. */
  join(pid: number): void;
  /** Read the counters. Do it before remove(): they go away with the directory. */
  usage(): Usage;
  /** Delete the cgroup, and the cgroups the container made inside it; refuses while
   *  processes are still in any of them. */
  remove(): void;
}

export interface CgroupDriver {
  version: 1 | 2;
  create(id: string, limits: Limits): Cgroup;
  /** The cgroup of a running container, for `stats` and `exec`. */
  open(id: string): Cgroup;
  /** Remove the engine's cgroups that have no processes left; returns the paths removed. */
  removeStale(minAgeMs?: number): string[];
}

export const DEFAULT_MOUNT_ROOT = '/sys/fs/cgroup';
export const DEFAULT_SUBTREE = 'nutshell';

/** The CFS accounting window, in µs: the kernel's default, and docker's. */
const CFS_PERIOD_US = 100_000;

/** v1 memory.limit_in_bytes reads 9223372036854771712 (the largest page count) when unlimited. */
const V1_UNLIMITED = 2 ** 62;

/** A cgroup made by another engine this recently may not have its process yet: see removeStale.
 *  Starting the child stage is a Node start-up, which on a loaded machine takes seconds: a minute
 *  leaves a wide margin, and a leftover from a killed engine waits a minute longer, harmlessly. */
const STALE_MIN_AGE_MS = 60_000;

/** Pick the driver for the cgroup version mounted at `mountRoot`. `subtree` is the directory
 *  the engine owns inside it (tests pass their own, so they never race a real engine). */
export function detectCgroups(mountRoot = DEFAULT_MOUNT_ROOT, subtree = DEFAULT_SUBTREE): CgroupDriver {
  // A pure v2 host mounts cgroup2 itself at the root, with cgroup.controllers on top. A v1
  // (or "hybrid") host mounts a tmpfs there holding one directory per v1 hierarchy; its
  // cgroup2 "unified" directory, if any, has no controllers to give.
  throw new Error('TODO (chapter 03): write detectCgroups(), as the comment above it says');
}

// ---------------------------------------------------------------- cgroup v1

const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

function cgroupV1(mountRoot: string, subtree: string): CgroupDriver {
  // cpu and cpuacct are often mounted together ("cpu,cpuacct"): one directory then serves both.
  throw new Error('TODO (chapter 03): write cgroupV1()');
}

/** Where each controller's hierarchy is mounted, symlinks resolved. */
function findV1Hierarchies(mountRoot: string): Map<V1Controller, string> {
  // A v1 hierarchy's directory is named after the controllers mounted in it: "memory", or
  // "cpu,cpuacct" when two share one hierarchy (systemd then adds "cpu" and "cpuacct" links).
  throw new Error('TODO (chapter 03): write findV1Hierarchies(), as the comment above it says');
}

function setV1Limits(dirOf: (controller: V1Controller) => string, limits: Limits): void {
  // memsw counts memory + swap together; the same value leaves no room for swap, so a
  // container cannot dodge its limit by being swapped out. It must come second: the kernel
  // refuses a memsw limit below the memory limit. Absent when swap accounting is off.
  throw new Error('TODO (chapter 03): write setV1Limits()');
}

function readV1Usage(dirOf: (controller: V1Controller) => string): Usage {
  // memory.oom_control has had an "oom_kill N" line since Linux 4.13; older kernels do not say.
  throw new Error('TODO (chapter 03): write readV1Usage()');
}

// ---------------------------------------------------------------- cgroup v2

const V2_CONTROLLERS = ['cpu', 'memory', 'pids'];

function cgroupV2(mountRoot: string, subtree: string): CgroupDriver {
  // The "no internal processes" rule: a cgroup other than the root may hold processes or
  // hand controllers down to children, never both. So the tree is root → nutshell (hands
  // cpu, memory and pids down, holds no process) → <id> (holds the container, has limits).
  throw new Error('TODO (chapter 03): write cgroupV2()');
}

/** Write "+cpu +memory +pids" to cgroup.subtree_control — only the ones not yet on. */
function enableControllers(dir: string, why: string): void {
  throw new Error('TODO (chapter 03): write enableControllers(), as the comment above it says');
}

function setV2Limits(dir: string, limits: Limits): void {
  // v2 counts swap apart from memory: 0 here means no swap at all. Absent without swap support.
  throw new Error('TODO (chapter 03): write setV2Limits()');
}

function readV2Usage(dir: string): Usage {
  throw new Error('TODO (chapter 03): write readV2Usage()');
}

// ---------------------------------------------------------------- shared by both versions

/** Per CFS period, the cgroup may run this many µs of CPU time, summed over all its CPUs. */
function cfsQuota(cpus: number): number {
  throw new Error('TODO (chapter 03): write cfsQuota(), as the comment above it says');
}

function quotaWhy(cpus: number): string {
  throw new Error('TODO (chapter 03): write quotaWhy()');
}

function writePidsMax(dir: string, pidsMax: number): void {
  throw new Error('TODO (chapter 03): write writePidsMax()');
}

/** A container id becomes a directory name: no "/", no "..". */
function checkId(id: string): void {
  throw new Error('TODO (chapter 03): write checkId(), as the comment above it says');
}

/** mkdir each cgroup directory (cgroupfs fills it with interface files), then set the limits.
 *  If a limit is refused, the directories made so far are removed again. */
function createCgroup(dirs: string[], setLimits: () => void, readUsage: () => Usage): Cgroup {
  // the first error is the one to report
  throw new Error('TODO (chapter 03): write createCgroup(), as the comment above it says');
}

/** An existing cgroup, or a one-line error saying there is none. */
function openCgroup(dirs: string[], readUsage: () => Usage): Cgroup {
  throw new Error('TODO (chapter 03): write openCgroup(), as the comment above it says');
}

function cgroupHandle(dirs: string[], readUsage: () => Usage): Cgroup {
  // v1: each hierarchy has its own tree, so the process must be moved in each of them.
  throw new Error('TODO (chapter 03): write cgroupHandle()');
}

function makeCgroupDir(dir: string): void {
  throw new Error('TODO (chapter 03): write makeCgroupDir()');
}

/** mkdir -p, traced only when something was created. */
function makeDir(dir: string, why: string): void {
  throw new Error('TODO (chapter 03): write makeDir(), as the comment above it says');
}

/** rmdir(2) each cgroup and every cgroup below it. Root inside a container may mount cgroupfs
 *  and mkdir cgroups of its own: its cgroup namespace shows the container's cgroup as the root,
 *  so they land inside ours. rmdir(2) refuses a cgroup that still has children (EBUSY), so the
 *  trees go deepest first, and only once no process is left anywhere in them. */
function removeCgroupTrees(dirs: string[]): void {
  throw new Error('TODO (chapter 03): write removeCgroupTrees(), as the comment above it says');
}

/** A cgroup and the cgroups below it, parents first. Only real directories are walked, by
 *  names readdir(2) gave (no "/", no ".."): a walk that starts in a container's cgroup never
 *  leaves it. (cgroupfs has no symlinks; a fake tree in a test might.) */
function cgroupTree(dir: string): string[] {
  throw new Error('TODO (chapter 03): write cgroupTree(), as the comment above it says');
}

/** rmdir(2) one empty cgroup; gone already is fine. */
function removeCgroupDir(dir: string): void {
  // The kernel lets go of an exited process's cgroup a moment after the process was reaped,
  // so rmdir(2) may still answer EBUSY just then. Retry for up to a second.
  throw new Error('TODO (chapter 03): write removeCgroupDir(), as the comment above it says');
}

/** The cgroups an engine left behind when it was killed (SIGKILL gives it no time to clean
 *  up). An id counts as stale only when no process is left in any of its directories or the
 *  cgroups below them — a detached container may still own it — and it is at least
 *  `minAgeMs` old: another engine may have just created it and not yet moved its process in. */
function removeStaleCgroups(subtrees: string[], minAgeMs: number): string[] {
  // mtimeMs has a fraction and Date.now() none: floored, a cgroup made this very millisecond
  // is 0 ms old, never -0.4.
  throw new Error('TODO (chapter 03): write removeStaleCgroups(), as the comment above it says');
}

function childDirs(dir: string): string[] {
  throw new Error('TODO (chapter 03): write childDirs()');
}

// ---------------------------------------------------------------- reading and writing cgroupfs

/** Write one value to one interface file. The kernel parses each write(2) on its own. */
function writeCgroupFile(dir: string, file: string, value: string, why: string, hints: Record<string, string> = {}): void {
  throw new Error('TODO (chapter 03): write writeCgroupFile(), as the comment above it says');
}

const WRITE_HINTS: Record<string, string> = {
  EINVAL: 'the kernel refused this value',
  ENOENT: 'no such interface file: is the controller enabled for this cgroup?',
};

/** A file's text, or undefined when it does not exist (an older kernel, a controller off). */
function readCgroupFile(dir: string, file: string): string | undefined {
  throw new Error('TODO (chapter 03): write readCgroupFile(), as the comment above it says');
}

/** A file holding one number; undefined if absent or not a number ("max"). */
function readNumber(dir: string, file: string): number | undefined {
  throw new Error('TODO (chapter 03): write readNumber(), as the comment above it says');
}

/** A flat-keyed file: "usage_usec 1234\nuser_usec 1000\n..." */
function readKeyed(dir: string, file: string): Map<string, number> {
  throw new Error('TODO (chapter 03): write readKeyed(), as the comment above it says');
}

function readWords(dir: string, file: string): string[] {
  throw new Error('TODO (chapter 03): write readWords()');
}

/** The PIDs in a cgroup (not its children). */
function readProcs(dir: string): number[] {
  throw new Error('TODO (chapter 03): write readProcs(), as the comment above it says');
}

function errorCode(err: unknown): string | undefined {
  throw new Error('TODO (chapter 03): write errorCode()');
}

/** A failed call on cgroupfs as one line: the call, the file, the errno and what to do. */
function cgroupfsError(call: string, target: string, err: unknown, hint?: string): Error {
  throw new Error('TODO (chapter 03): write cgroupfsError(), as the comment above it says');
}

/** Block this thread for `ms`: remove() is synchronous, and the wait is short and bounded. */
function sleepSync(ms: number): void {
  throw new Error('TODO (chapter 03): write sleepSync(), as the comment above it says');
}
