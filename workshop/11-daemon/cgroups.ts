/** Chapter 03 · cgroups: cap what a container may use — memory, CPU time, processes — and
 *  measure what it did use. A control group is a directory in cgroupfs; its files are the
 *  kernel's interface: write a number to set a limit, a PID to move a process in, read a
 *  file to measure. There are two versions, and a host mounts one of them at /sys/fs/cgroup:
 *    v1  one hierarchy per controller (memory/, cpu/, pids/ ...): a container is one
 *        directory in each, and a process must be moved into each of them.
 *    v2  one unified tree: a directory hands controllers down to its children.
 *  detectCgroups() picks the driver for this host; both answer the same small interface.
 *  The engine owns one sub-tree ("nutshell") and never touches a cgroup outside it. */
/*  Chapter 09 adds two things. A v1 container is placed in every hierarchy mounted, not only in
 *  those whose limits we set: in one where it stays at the root, root in the container can mount
 *  that hierarchy and find the root's release_agent, a program the kernel runs as the host's
 *  root. And a cgroup now says which devices its processes may use (devices.ts): v1 devices.allow
 *  lines, or a cgroup v2 eBPF program. */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SyscallError, UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { allowsEverything, attachDeviceProgram, formatDeviceRule, type DeviceRule } from './devices.ts';

export interface Limits {
  memoryBytes?: number;
  /** CPUs' worth of time, e.g. 0.5 = half of one CPU. */
  cpus?: number;
  /** Most tasks (processes and threads) at once; -1 = no limit. */
  pidsMax?: number;
  /** The devices its processes may open or mknod(2) (the OCI spec has them among the resources
   *  too); undefined: no rules, every device, as before chapter 09. */
  devices?: DeviceRule[];
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
  /** Stop every process in the cgroup, and in the cgroups below it, where it stands; return
   *  once the kernel says all of them have stopped. They get no signal and cannot tell. */
  freeze(): void;
  /** Let them run on from where they stopped. */
  thaw(): void;
}

/** What each driver writes to freeze and thaw a cgroup. */
type Freezer = Pick<Cgroup, 'freeze' | 'thaw'>;

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
  if (!existsSync(mountRoot)) throw new UserError(`no cgroup filesystem at ${mountRoot}: is cgroupfs mounted?`);
  // A pure v2 host mounts cgroup2 itself at the root, with cgroup.controllers on top. A v1
  // (or "hybrid") host mounts a tmpfs there holding one directory per v1 hierarchy; its
  // cgroup2 "unified" directory, if any, has no controllers to give.
  return existsSync(join(mountRoot, 'cgroup.controllers')) ? cgroupV2(mountRoot, subtree) : cgroupV1(mountRoot, subtree);
}

// ---------------------------------------------------------------- cgroup v1

// freezer: `commit` stops a running container's processes while it reads their files. Like
// the others, it holds the container from its start: a process outside it cannot be frozen.
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

function cgroupV1(mountRoot: string, subtree: string): CgroupDriver {
  const hierarchies = findV1Hierarchies(mountRoot);
  // cpu and cpuacct are often mounted together ("cpu,cpuacct"): one directory then serves both.
  const roots = [...new Set(hierarchies.values())];
  // Every other cgroup hierarchy mounted here: devices, blkio, cpuset, name=systemd... and the
  // cgroup2 one of a hybrid host ("unified"). No limit of ours is set in most of them, but the
  // container gets a cgroup in each, so that it is nowhere at a root (see the top of this file).
  const others = findOtherHierarchies(mountRoot, roots);
  const placed = [...roots, ...others.map((h) => h.root)];
  const otherRoot = (has: (h: Hierarchy) => boolean) => others.find(has)?.root;
  const cpusetRoot = otherRoot((h) => h.version === 1 && h.options.includes('cpuset'));
  const devicesRoot = otherRoot((h) => h.version === 1 && h.options.includes('devices'));
  const unifiedRoot = otherRoot((h) => h.version === 2);
  const v1Dirs = (id: string) => {
    checkId(id);
    return (controller: V1Controller) => join(hierarchies.get(controller)!, subtree, id);
  };
  return {
    version: 1,
    create(id, limits) {
      const dirOf = v1Dirs(id);
      const inside = (root: string) => join(root, subtree, id);
      const setLimits = () => {
        if (cpusetRoot) copyCpuset(cpusetRoot, subtree, id);
        setV1Limits(dirOf, limits);
        if (limits.devices) setV1DeviceRules(limits.devices, devicesRoot && inside(devicesRoot), unifiedRoot && inside(unifiedRoot), mountRoot);
      };
      return createCgroup(placed.map(inside), setLimits, () => readV1Usage(dirOf), v1Freezer(dirOf('freezer')));
    },
    open(id) {
      const dirOf = v1Dirs(id);
      // A container started by an engine before chapter 09, or before a hierarchy was mounted,
      // has no cgroup in the other hierarchies: those it has are the ones to join and remove.
      const elsewhere = others.map((h) => join(h.root, subtree, id)).filter((dir) => existsSync(dir));
      return openCgroup([...roots.map((root) => join(root, subtree, id)), ...elsewhere], () => readV1Usage(dirOf), v1Freezer(dirOf('freezer')));
    },
    removeStale: (minAgeMs = STALE_MIN_AGE_MS) => removeStaleCgroups(placed.map((root) => join(root, subtree)), minAgeMs),
  };
}

/** Where each controller's hierarchy is mounted, symlinks resolved. */
function findV1Hierarchies(mountRoot: string): Map<V1Controller, string> {
  const names = readdirSync(mountRoot);
  const found = new Map<V1Controller, string>();
  for (const controller of V1_CONTROLLERS) {
    // A v1 hierarchy's directory is named after the controllers mounted in it: "memory", or
    // "cpu,cpuacct" when two share one hierarchy (systemd then adds "cpu" and "cpuacct" links).
    const name = names.find((n) => n.split(',').includes(controller));
    if (!name) {
      throw new UserError(
        `cgroup v1 controller "${controller}" not found: no directory named "${controller}" (or a list with it, like "cpu,cpuacct") in ${mountRoot}`,
      );
    }
    found.set(controller, realpathSync(join(mountRoot, name)));
  }
  return found;
}

function setV1Limits(dirOf: (controller: V1Controller) => string, limits: Limits): void {
  if (limits.memoryBytes !== undefined) {
    const memory = dirOf('memory');
    const bytes = String(limits.memoryBytes);
    writeCgroupFile(memory, 'memory.limit_in_bytes', bytes, 'past this the kernel reclaims pages, then its OOM killer ends a process in here');
    // memsw counts memory + swap together; the same value leaves no room for swap, so a
    // container cannot dodge its limit by being swapped out. It must come second: the kernel
    // refuses a memsw limit below the memory limit. Absent when swap accounting is off.
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) {
      writeCgroupFile(memory, 'memory.memsw.limit_in_bytes', bytes, 'memory + swap: the same value means no swap');
    }
  }
  if (limits.cpus !== undefined) {
    const cpu = dirOf('cpu');
    writeCgroupFile(cpu, 'cpu.cfs_period_us', String(CFS_PERIOD_US), 'the CFS bandwidth window, in µs');
    writeCgroupFile(cpu, 'cpu.cfs_quota_us', String(cfsQuota(limits.cpus)), quotaWhy(limits.cpus));
  }
  if (limits.pidsMax !== undefined) writePidsMax(dirOf('pids'), limits.pidsMax);
}

function readV1Usage(dirOf: (controller: V1Controller) => string): Usage {
  const memory = dirOf('memory');
  const limit = readNumber(memory, 'memory.limit_in_bytes');
  return {
    memoryPeakBytes: readNumber(memory, 'memory.max_usage_in_bytes'),
    memoryLimitBytes: limit !== undefined && limit < V1_UNLIMITED ? limit : undefined,
    cpuNanos: readNumber(dirOf('cpuacct'), 'cpuacct.usage') ?? 0, // cpuacct counts in ns
    // memory.oom_control has had an "oom_kill N" line since Linux 4.13; older kernels do not say.
    oomKilled: (readKeyed(memory, 'memory.oom_control').get('oom_kill') ?? 0) > 0,
    pids: readNumber(dirOf('pids'), 'pids.current'),
  };
}

/** v1: the freezer controller. After FROZEN is written, freezer.state reads FREEZING until
 *  every task in the cgroup and below it has stopped, then FROZEN. */
function v1Freezer(dir: string): Freezer {
  const thaw = () => writeCgroupFile(dir, 'freezer.state', 'THAWED', 'let every task in here run on');
  return {
    freeze() {
      writeCgroupFile(dir, 'freezer.state', 'FROZEN', 'stop every task in here and below, where it stands');
      waitUntilFrozen(dir, () => readCgroupFile(dir, 'freezer.state')?.trim() === 'FROZEN', thaw);
    },
    thaw,
  };
}

/** A cgroup hierarchy mounted in the cgroup root: where, which version, and its mount options,
 *  which name a v1 hierarchy's controllers ("rw,cpu,cpuacct", "rw,devices", "rw,name=systemd"). */
interface Hierarchy {
  root: string;
  version: 1 | 2;
  options: string[];
}

/** The hierarchies mounted in `mountRoot` other than `managed`, from the mount table: each cgroup
 *  or cgroup2 filesystem mounted at mountRoot/<name> with its own root ("/") as the mount's root.
 *  The cgroup2 one is the unified hierarchy of a hybrid host. (A fake tree in a test has none.) */
function findOtherHierarchies(mountRoot: string, managed: string[]): Hierarchy[] {
  const root = realpathSync(mountRoot);
  const found: Hierarchy[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices" (man 5 proc_pid_mountinfo)
    const [mount = '', filesystem = ''] = line.split(' - ');
    const [, , , mountedRoot, mountPoint = ''] = mount.split(' ');
    const [type, , options = ''] = filesystem.split(' ');
    if ((type !== 'cgroup' && type !== 'cgroup2') || mountedRoot !== '/') continue;
    const path = mountPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))); // "\040" is a space
    if (dirname(path) !== root || managed.includes(path) || found.some((h) => h.root === path)) continue;
    found.push({ root: path, version: type === 'cgroup2' ? 2 : 1, options: options.split(',') });
  }
  return found;
}

/** A new cpuset cgroup has no CPUs and no memory nodes, and the kernel refuses to move a task
 *  into it (ENOSPC) until it has both: give ours those of the parent, as runc does, first to our
 *  sub-tree's directory, then to the container's. */
function copyCpuset(cpusetRoot: string, subtree: string, id: string): void {
  for (const [parent, dir] of [[cpusetRoot, join(cpusetRoot, subtree)], [join(cpusetRoot, subtree), join(cpusetRoot, subtree, id)]] as const) {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (readCgroupFile(dir, file)?.trim()) continue;
      writeCgroupFile(dir, file, readCgroupFile(parent, file)?.trim() ?? '', `the parent's: a new cpuset cgroup has none, and no task may join it until it has some`);
    }
  }
}

/** The devices of a v1 (or hybrid) host. The v1 devices controller enforces the rules; on a
 *  hybrid host the eBPF program is attached to the container's cgroup2 directory too. The kernel
 *  asks both, and either may refuse: the v2 path then runs here as it does on a v2-only host. */
function setV1DeviceRules(rules: DeviceRule[], devicesDir: string | undefined, unifiedDir: string | undefined, mountRoot: string): void {
  // runc refuses to start a container without the devices controller: its root would reach
  // every device of the host. So do we.
  if (!devicesDir && !unifiedDir) throw new UserError(`no "devices" hierarchy and no cgroup2 one in ${mountRoot}: the container's devices cannot be limited`);
  if (devicesDir) {
    // A new cgroup starts with its parent's list: ours, with every device. Clear it, then allow.
    if (!allowsEverything(rules)) writeCgroupFile(devicesDir, 'devices.deny', 'a', 'deny every device: what follows is an allow list');
    for (const rule of rules) writeCgroupFile(devicesDir, 'devices.allow', formatDeviceRule(rule), rule.why);
  }
  if (unifiedDir) attachDevicePrograms(unifiedDir, rules);
}

/** The eBPF program for `rules`, unless they allow everything (--privileged): then none. */
function attachDevicePrograms(dir: string, rules: DeviceRule[]): void {
  if (allowsEverything(rules)) traceStep(`no device program for ${dir}`, 'every device is allowed: nothing to check');
  else attachDeviceProgram(dir, rules);
}

// ---------------------------------------------------------------- cgroup v2

const V2_CONTROLLERS = ['cpu', 'memory', 'pids'];

function cgroupV2(mountRoot: string, subtree: string): CgroupDriver {
  const available = readWords(mountRoot, 'cgroup.controllers');
  for (const controller of V2_CONTROLLERS) {
    if (!available.includes(controller)) {
      throw new UserError(
        `cgroup v2 controller "${controller}" is not available: ${join(mountRoot, 'cgroup.controllers')} lists "${available.join(' ')}"`,
      );
    }
  }
  const parent = join(mountRoot, subtree);
  return {
    version: 2,
    create(id, limits) {
      checkId(id);
      // The "no internal processes" rule: a cgroup other than the root may hold processes or
      // hand controllers down to children, never both. So the tree is root → nutshell (hands
      // cpu, memory and pids down, holds no process) → <id> (holds the container, has limits).
      enableControllers(mountRoot, 'the root may hand controllers down and hold processes: it is exempt from the rule');
      makeDir(parent, "the engine's own sub-tree");
      enableControllers(parent, 'so each container below gets cpu.max, memory.max and pids.max');
      const dir = join(parent, id);
      return createCgroup([dir], () => setV2Limits(dir, limits), () => readV2Usage(dir), v2Freezer(dir));
    },
    open(id) {
      checkId(id);
      const dir = join(parent, id);
      return openCgroup([dir], () => readV2Usage(dir), v2Freezer(dir));
    },
    removeStale: (minAgeMs = STALE_MIN_AGE_MS) => removeStaleCgroups([parent], minAgeMs),
  };
}

/** Write "+cpu +memory +pids" to cgroup.subtree_control — only the ones not yet on. */
function enableControllers(dir: string, why: string): void {
  const enabled = readWords(dir, 'cgroup.subtree_control');
  const missing = V2_CONTROLLERS.filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  writeCgroupFile(dir, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '), why, {
    EBUSY: 'this cgroup holds processes, and a non-root cgroup cannot also hand controllers down',
  });
}

function setV2Limits(dir: string, limits: Limits): void {
  if (limits.memoryBytes !== undefined) {
    writeCgroupFile(dir, 'memory.max', String(limits.memoryBytes), 'past this the kernel reclaims pages, then its OOM killer ends a process in here');
    // v2 counts swap apart from memory: 0 here means no swap at all. Absent without swap support.
    if (existsSync(join(dir, 'memory.swap.max'))) writeCgroupFile(dir, 'memory.swap.max', '0', 'so swapping out cannot dodge memory.max');
  }
  if (limits.cpus !== undefined) {
    writeCgroupFile(dir, 'cpu.max', `${cfsQuota(limits.cpus)} ${CFS_PERIOD_US}`, `"quota period" in µs: ${quotaWhy(limits.cpus)}`);
  }
  if (limits.pidsMax !== undefined) writePidsMax(dir, limits.pidsMax);
  // cgroup v2 has no devices controller: the kernel runs the eBPF program of the cgroup instead.
  if (limits.devices) attachDevicePrograms(dir, limits.devices);
}

function readV2Usage(dir: string): Usage {
  return {
    memoryPeakBytes: readNumber(dir, 'memory.peak'), // since Linux 5.19
    memoryLimitBytes: readNumber(dir, 'memory.max'), // "max" when unlimited
    cpuNanos: (readKeyed(dir, 'cpu.stat').get('usage_usec') ?? 0) * 1000,
    oomKilled: (readKeyed(dir, 'memory.events').get('oom_kill') ?? 0) > 0,
    pids: readNumber(dir, 'pids.current'),
  };
}

/** v2: cgroup.freeze, which every cgroup but the root has, with no controller to enable.
 *  cgroup.events reads "frozen 1" once every process in the cgroup and below it has stopped. */
function v2Freezer(dir: string): Freezer {
  const thaw = () => writeCgroupFile(dir, 'cgroup.freeze', '0', 'let every process in here run on');
  return {
    freeze() {
      writeCgroupFile(dir, 'cgroup.freeze', '1', 'stop every process in here and below, where it stands');
      waitUntilFrozen(dir, () => readKeyed(dir, 'cgroup.events').get('frozen') === 1, thaw);
    },
    thaw,
  };
}

// ---------------------------------------------------------------- shared by both versions

/** Per CFS period, the cgroup may run this many µs of CPU time, summed over all its CPUs. */
function cfsQuota(cpus: number): number {
  return Math.round(cpus * CFS_PERIOD_US);
}

function quotaWhy(cpus: number): string {
  return `${cfsQuota(cpus)} µs of CPU time per ${CFS_PERIOD_US} µs = ${cpus} CPU, then the cgroup waits for the next period`;
}

/** A task in the kernel's uninterruptible sleep (state D) stops only once it leaves it. */
const FREEZE_TIMEOUT_MS = 5000;

/** Poll until the kernel says the cgroup is frozen. If it never does, thaw it again: a
 *  container is never left half stopped. */
function waitUntilFrozen(dir: string, isFrozen: () => boolean, thaw: () => void): void {
  const deadline = Date.now() + FREEZE_TIMEOUT_MS;
  while (!isFrozen()) {
    if (Date.now() > deadline) {
      thaw();
      throw new UserError(`cgroup ${dir} did not freeze within ${FREEZE_TIMEOUT_MS / 1000} s (a process stuck in the kernel?); it was thawed again`);
    }
    sleepSync(10);
  }
  traceStep(`frozen ${dir}`, 'the kernel says every process in here has stopped');
}

function writePidsMax(dir: string, pidsMax: number): void {
  const value = pidsMax < 0 ? 'max' : String(pidsMax);
  writeCgroupFile(dir, 'pids.max', value, 'fork(2) and clone(2) fail with EAGAIN once this many tasks are in here');
}

/** A container id becomes a directory name: no "/", no "..". */
function checkId(id: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    throw new UserError(`invalid cgroup id "${id}": use up to 128 letters, digits, "_", "." and "-"`);
  }
}

/** mkdir each cgroup directory (cgroupfs fills it with interface files), then set the limits.
 *  If a limit is refused, the directories made so far are removed again. */
function createCgroup(dirs: string[], setLimits: () => void, readUsage: () => Usage, freezer: Freezer): Cgroup {
  const made: string[] = [];
  try {
    for (const dir of dirs) {
      makeDir(dirname(dir), "the engine's own sub-tree");
      makeCgroupDir(dir);
      made.push(dir);
    }
    setLimits();
  } catch (err) {
    for (const dir of made.reverse()) {
      try {
        removeCgroupDir(dir);
      } catch {
        // the first error is the one to report
      }
    }
    throw err;
  }
  return cgroupHandle(dirs, readUsage, freezer);
}

/** An existing cgroup, or a one-line error saying there is none. */
function openCgroup(dirs: string[], readUsage: () => Usage, freezer: Freezer): Cgroup {
  const missing = dirs.find((dir) => !existsSync(dir));
  if (missing) throw new UserError(`no cgroup at ${missing}: has the container exited?`);
  return cgroupHandle(dirs, readUsage, freezer);
}

function cgroupHandle(dirs: string[], readUsage: () => Usage, freezer: Freezer): Cgroup {
  return {
    paths: dirs,
    join(pid) {
      // v1: each hierarchy has its own tree, so the process must be moved in each of them.
      for (const dir of dirs) writeCgroupFile(dir, 'cgroup.procs', String(pid), 'move the process in; its future children start here too');
    },
    usage: readUsage,
    remove() {
      removeCgroupTrees(dirs);
    },
    ...freezer,
  };
}

function makeCgroupDir(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') {
      throw new UserError(`cgroup ${dir} already exists: is a container with this id still running?`);
    }
    throw cgroupfsError('mkdir', JSON.stringify(dir), err);
  }
  traceStep(`mkdir ${dir}`, 'a new cgroup: the kernel fills the directory with its interface files');
}

/** mkdir -p, traced only when something was created. */
function makeDir(dir: string, why: string): void {
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw cgroupfsError('mkdir', JSON.stringify(dir), err);
  }
  if (created) traceStep(`mkdir ${dir}`, why);
}

/** rmdir(2) each cgroup and every cgroup below it. Root inside a container may mount cgroupfs
 *  and mkdir cgroups of its own: its cgroup namespace shows the container's cgroup as the root,
 *  so they land inside ours. rmdir(2) refuses a cgroup that still has children (EBUSY), so the
 *  trees go deepest first, and only once no process is left anywhere in them. */
function removeCgroupTrees(dirs: string[]): void {
  const trees = dirs.map(cgroupTree);
  for (const dir of trees.flat()) {
    const procs = readProcs(dir);
    if (procs.length > 0) {
      throw new UserError(`cannot remove cgroup ${dir}: processes still in it (${procs.join(', ')}); stop them first`);
    }
  }
  for (const tree of trees) for (const dir of tree.reverse()) removeCgroupDir(dir);
}

/** A cgroup and the cgroups below it, parents first. Only real directories are walked, by
 *  names readdir(2) gave (no "/", no ".."): a walk that starts in a container's cgroup never
 *  leaves it. (cgroupfs has no symlinks; a fake tree in a test might.) */
function cgroupTree(dir: string): string[] {
  return [dir, ...childDirs(dir).flatMap((name) => cgroupTree(join(dir, name)))];
}

/** rmdir(2) one empty cgroup; gone already is fine. */
function removeCgroupDir(dir: string): void {
  // The kernel lets go of an exited process's cgroup a moment after the process was reaped,
  // so rmdir(2) may still answer EBUSY just then. Retry for up to a second.
  const deadline = Date.now() + 1000;
  for (;;) {
    try {
      rmdirSync(dir);
      traceStep(`rmdir ${dir}`, 'the cgroup is empty: remove it (its interface files go with it)');
      return;
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) throw cgroupfsError('rmdir', JSON.stringify(dir), err);
      sleepSync(10);
    }
  }
}

/** The cgroups an engine left behind when it was killed (SIGKILL gives it no time to clean
 *  up). An id counts as stale only when no process is left in any of its directories or the
 *  cgroups below them — a detached container may still own it — and it is at least
 *  `minAgeMs` old: another engine may have just created it and not yet moved its process in. */
function removeStaleCgroups(subtrees: string[], minAgeMs: number): string[] {
  const ids = new Set(subtrees.flatMap(childDirs));
  const removed: string[] = [];
  for (const id of ids) {
    const dirs = subtrees.map((s) => join(s, id)).filter((d) => existsSync(d));
    // mtimeMs has a fraction and Date.now() none: floored, a cgroup made this very millisecond
    // is 0 ms old, never -0.4.
    const stale = dirs.every(
      (d) => Date.now() - Math.floor(statSync(d).mtimeMs) >= minAgeMs && cgroupTree(d).every((below) => readProcs(below).length === 0),
    );
    if (!stale) continue;
    removeCgroupTrees(dirs);
    removed.push(...dirs);
  }
  return removed;
}

function childDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw cgroupfsError('readdir', JSON.stringify(dir), err);
  }
}

// ---------------------------------------------------------------- reading and writing cgroupfs

/** Write one value to one interface file. The kernel parses each write(2) on its own. */
function writeCgroupFile(dir: string, file: string, value: string, why: string, hints: Record<string, string> = {}): void {
  const path = join(dir, file);
  try {
    writeFileSync(path, value);
  } catch (err) {
    const code = errorCode(err) ?? '';
    throw cgroupfsError('write', `${JSON.stringify(path)}, "${value}"`, err, hints[code] ?? WRITE_HINTS[code]);
  }
  traceStep(`write ${path} = ${value}`, why);
}

const WRITE_HINTS: Record<string, string> = {
  EINVAL: 'the kernel refused this value',
  ENOENT: 'no such interface file: is the controller enabled for this cgroup?',
};

/** A file's text, or undefined when it does not exist (an older kernel, a controller off). */
function readCgroupFile(dir: string, file: string): string | undefined {
  const path = join(dir, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw cgroupfsError('read', JSON.stringify(path), err);
  }
}

/** A file holding one number; undefined if absent or not a number ("max"). */
function readNumber(dir: string, file: string): number | undefined {
  const text = readCgroupFile(dir, file)?.trim();
  return text && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** A flat-keyed file: "usage_usec 1234\nuser_usec 1000\n..." */
function readKeyed(dir: string, file: string): Map<string, number> {
  const entries = (readCgroupFile(dir, file) ?? '').split('\n').map((line) => line.trim().split(/\s+/));
  return new Map(entries.filter((e) => e.length === 2).map(([key, value]) => [key!, Number(value)]));
}

function readWords(dir: string, file: string): string[] {
  return (readCgroupFile(dir, file) ?? '').split(/\s+/).filter(Boolean);
}

/** The PIDs in a cgroup (not its children). */
function readProcs(dir: string): number[] {
  return readWords(dir, 'cgroup.procs').map(Number);
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** A failed call on cgroupfs as one line: the call, the file, the errno and what to do. */
function cgroupfsError(call: string, target: string, err: unknown, hint?: string): Error {
  const errno = (err as NodeJS.ErrnoException).errno;
  if (typeof errno !== 'number') return err as Error;
  const code = errorCode(err);
  return new SyscallError(call, target, Math.abs(errno), hint ?? (code === 'EACCES' || code === 'EPERM' ? 'are you root?' : undefined));
}

/** Block this thread for `ms`: remove() is synchronous, and the wait is short and bounded. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
