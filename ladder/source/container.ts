//> ..chroot
//| /** Chapter 01 · chroot: the oldest isolation trick. The container is just a process whose
//|  *  "/" is the rootfs directory. Two stages, because Node cannot safely fork itself:
//|  *  the engine (host side) re-executes this program as a child stage, and the child stage
//|  *  calls chroot(2) on itself and then execve(2)s the command.     Lesson: docs/01-chroot.md */
//< ..chroot
//> namespaces..namespaces
//| /** Chapter 02 · namespaces: the container gets its own hostname (UTS), IPC objects, PIDs,
//|  *  mounts and network, and a root that cannot be walked out of (pivot_root instead of chroot).
//|  *  The engine unshares the PID namespace before it spawns the child stage, because a new PID
//|  *  namespace only ever applies to children; the child stage unshares the rest itself, builds
//|  *  the root filesystem, tells the engine it is ready and waits for a "go" on a pipe before it
//|  *  execve(2)s the command — which then is PID 1.                       Lesson: docs/02-namespaces.md */
//< namespaces..namespaces
//> cgroups..cgroups
//| /** Chapter 03 · cgroups: the container of chapter 02, now with limits on what it may use.
//|  *  The engine makes the container's cgroup before anything runs, and moves the child stage
//|  *  into it while the child waits on the sync pipe — so the command is limited from its first
//|  *  instruction. When the container ends, the engine reads what it used (and whether the OOM
//|  *  killer ended it) and removes the cgroup.                                Lesson: docs/03-cgroups.md
//|  *  (Chapter 02's namespaces are all still here: see docs/02-namespaces.md.) */
//< cgroups..cgroups
//> unionfs..unionfs
//| /** Chapter 04 · union filesystems: the container of chapter 03, whose root is no longer one
//|  *  directory but read-only layers stacked under a private upper directory with overlayfs.
//|  *  The child stage mounts the overlay inside its own mount namespace — so the mount is never
//|  *  seen on the host and goes away with the container — and pivots into it. Nothing of the
//|  *  layers is copied: starting costs the same for a 1 MB image and a 1 GB one.
//|  *  Lesson: docs/04-unionfs.md     (cgroups: docs/03-cgroups.md, namespaces: docs/02-namespaces.md) */
//< unionfs..unionfs
//> images..images
//| /** Chapter 05 · images: the container of chapter 04, whose layers now come from an image, and
//|  *  whose process is the image's: its Entrypoint and Cmd, Env, WorkingDir and User.
//|  *  Lesson: docs/05-images.md   (overlay: docs/04-unionfs.md, cgroups: docs/03-cgroups.md,
//|  *  namespaces: docs/02-namespaces.md) */
//< images..images
//> lifecycle..lifecycle
//| /** Chapter 06 · lifecycle: the container of chapter 05, which can now outlive the engine's
//|  *  command: `run -d` starts a monitor in the background, every container records its state
//|  *  under containers/<id> (storage.ts, state.ts), and host directories can be shown inside (-v).
//|  *  Lesson: docs/06-lifecycle.md   (images: docs/05-images.md, overlay: docs/04-unionfs.md,
//|  *  cgroups: docs/03-cgroups.md, namespaces: docs/02-namespaces.md) */
//< lifecycle..lifecycle
//> terminals..
/** Chapter 07 · terminals: the container of chapter 06, whose process can have a terminal of
 *  its own (-t): a pseudo-terminal made in the container's devpts, which the engine copies to and
 *  from the user's terminal, and which the child stage makes its controlling terminal.
 *  Lesson: docs/07-terminals.md   (lifecycle: docs/06-lifecycle.md, images: docs/05-images.md,
 *  overlay: docs/04-unionfs.md, cgroups: docs/03-cgroups.md, namespaces: docs/02-namespaces.md) */
//< terminals..
import { spawn, type ChildProcess } from 'node:child_process';
//> ..chroot
//| import { accessSync, constants, statSync } from 'node:fs';
//< ..chroot
//> namespaces..
import { randomBytes } from 'node:crypto';
//< namespaces..
//> namespaces..unionfs
//| import { accessSync, chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, readSync, statSync, symlinkSync, writeSync } from 'node:fs';
//< namespaces..unionfs
//> images..images
//| import { accessSync, chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, symlinkSync, writeSync } from 'node:fs';
//< images..images
//> lifecycle..
import { accessSync, chmodSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, symlinkSync, writeSync } from 'node:fs';
//< lifecycle..
//> lifecycle..
import type { Socket } from 'node:net';
//< lifecycle..
import { constants as os } from 'node:os';
//> ..unionfs
//| import { extname, resolve } from 'node:path';
//< ..unionfs
//> images..images
//| import { extname } from 'node:path';
//< images..images
//> lifecycle..
import { extname, resolve } from 'node:path';
//< lifecycle..
//> ..images
//| import { UserError } from '../../lib/errors.ts';
//< ..images
//> lifecycle..
import { SyscallError, UserError } from '../../lib/errors.ts';
//< lifecycle..
import { traceStep } from '../../lib/trace.ts';
//> ..chroot
//| import { chdir, chroot, closeFromOnExec, execve, keepOpenAcrossExec } from './syscalls.ts';
//< ..chroot
//> security..
import { defaultSecurity, limitBoundingSet, setThreadCapabilities, type SecurityConfig } from './capabilities.ts';
//< security..
//> cgroups..
import { detectCgroups, type Cgroup, type Limits, type Usage } from './cgroups.ts';
//< cgroups..
//> security..
import { DEFAULT_SUBTREE } from './cgroups.ts';
import { deviceRulesFor } from './devices.ts';
//< security..
//> unionfs..
import { mountOverlay } from './overlay.ts';
//< unionfs..
//> security..
import { installSeccomp } from './seccomp.ts';
//< security..
//> namespaces..images
//| import { forgetContainer, recordContainer } from './state.ts';
//< namespaces..images
//> lifecycle..
import { readRecordedState, recordExited, recordRunning } from './state.ts';
import type { ContainerDirs } from './storage.ts';
//< lifecycle..
//> terminals..network
//| import { attachTerminal, becomeControllingTerminal, openPty, type AttachedTerminal } from './tty.ts';
//< terminals..network
//> daemon..
import { attachTerminal, becomeControllingTerminal, openPty, serveConsole, type AttachedTerminal } from './tty.ts';
//< daemon..
//> cgroups..
import { formatBytes } from './units.ts';
//< cgroups..
//> namespaces..
import {
  //> ..unionfs
  //| chdir, closeFromOnExec, CLONE, dieWithParent, execve, S_IFCHR, interfaceUp, keepOpenAcrossExec, mknod, mount, MNT_DETACH, MS, pivotRoot, sethostname, setns, umount2, unshare,
  //< ..unionfs
  //> images..
  becomeUser, chdir, closeFromOnExec, CLONE, dieWithParent, execve, S_IFCHR, interfaceUp, keepOpenAcrossExec, mknod, mount, MNT_DETACH, MS, pivotRoot, sethostname, setns, umount2, unshare,
  //< images..
  //> lifecycle..
  mkdirat, O_CLOEXEC, O_PATH, openat, openat2, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS,
  //< lifecycle..
} from './syscalls.ts';
//< namespaces..
//> security..
import { keepCapabilitiesAcrossSetuid, setDumpable, setNoNewPrivs } from './syscalls.ts';
//< security..
//> daemon..
import { dup2 } from './syscalls.ts';
//< daemon..
//> network..
import {
  configureContainerInterface, connectContainer, disconnectContainer, plugInContainer, writeNetworkFiles, type NetworkFile, type NetworkLease, type NetworkSpec,
} from './network.ts';
//< network..

//> images..
/** The process a container runs: the command, its environment, where it starts and as whom
 *  (from the image's config, and -e, -w, -u). `exec` runs another with the same settings. */
export interface ProcessSpec {
  argv: string[];
  env: string[];
  workdir: string;
  user?: string;
  //> security..
  /** Capabilities, no_new_privs and the seccomp filter: docker's defaults, or --cap-add,
   *  --cap-drop, --privileged and --security-opt. Recorded with the container, for `exec`. */
  security?: SecurityConfig;
  //< security..
  //> network..
  /** --network and -p, as `run` was given them. */
  network?: NetworkSpec;
  //< network..
}

//< images..
//> ..chroot
//| /** What the engine hands to the child stage (as JSON on its command line). */
//< ..chroot
//> namespaces..
/** What the engine hands to the child stage (as a JSON line on the sync socket, fd 3). */
//< namespaces..
//> ..unionfs
//| export interface ContainerConfig {
//< ..unionfs
//> images..
export interface ContainerConfig extends ProcessSpec {
//< images..
  //> unionfs..
  /** The merged view of the layers: the overlay's mount point, and the container's "/". */
  //< unionfs..
  rootfs: string;
  //> unionfs..
  //> unionfs..unionfs
  //| /** The image layers, bottom first, and the container's own upper and work dirs. */
  //| layers: { lowerDirs: string[]; upperDir: string; workDir: string };
  //< unionfs..unionfs
  //> images..
  /** The image layers, bottom first, and the container's own upper and work dirs; volatile
   *  when the upper dir is thrown away at the end (overlay.ts, mountVolatile). */
  layers: { lowerDirs: string[]; upperDir: string; workDir: string; volatile?: boolean };
  //< images..
  //< unionfs..
  //> ..unionfs
  //| argv: string[];
  //< ..unionfs
  //> namespaces..
  hostname: string;
  //> ..images
  //| name?: string;
  //< ..images
  //> lifecycle..
  /** A detached container outlives the engine that started it (`run -d`). */
  detached?: boolean;
  /** Remove the container when it exits (`run --rm`); the monitor does it for `run -d --rm`. */
  autoRemove?: boolean;
  //> terminals..
  /** Give the command a pseudo-terminal of the container's own (`run -t`). */
  tty?: boolean;
  //< terminals..
  //> daemon..
  /** Keep the command's stdin open for clients (`run -d -i`): a pipe the monitor feeds. */
  interactive?: boolean;
  /** For a child stage started ahead of its container (spares.ts): the streams it takes then. */
  streams?: ContainerStreams;
  //< daemon..
  /** Host directories or files shown inside (`-v host:container[:ro]`). */
  volumes?: Volume[];
  //< lifecycle..
  /** Seconds a PID 1 that ignores SIGTERM gets before SIGKILL. */
  stopTimeout?: number;
  //< namespaces..
  //> cgroups..
  limits: Limits;
  /** Print what the container used when it ends. */
  stats?: boolean;
  //< cgroups..
  //> network..
  /** Filled in by the engine before the child stage starts: the address a bridged container
   *  was leased, and the /etc files it binds over the image's. */
  lease?: NetworkLease;
  networkFiles?: NetworkFile[];
  //< network..
}

//> ..unionfs
//| const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
//< ..unionfs
//> images..
/** The PATH of a process whose image sets none (docker's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
//< images..
/** Our own entry point: main.ts under tsx, main.js once compiled (npm run build). */
const THIS_PROGRAM = new URL(`./main${extname(import.meta.url)}`, import.meta.url).pathname;
//> namespaces..
/** The sync pipe is the child stage's fd 3 (after stdin, stdout, stderr). */
const SYNC_FD = 3;
//< namespaces..

// ---------------------------------------------------------------- engine (host side)

/** Start the container and return its exit code (128+signal if it was killed). */
//> ..images
//| export async function runContainer(config: ContainerConfig): Promise<number> {
//< ..images
  //> ..chroot
  //| const child = startChildStage('init', { ...config, rootfs: checkRootfs(config.rootfs) });
  //| forwardSignals(child);
  //| return exitCodeOf(child);
  //< ..chroot
  //> namespaces..cgroups
  //| const rootfs = checkRootfs(config.rootfs);
  //< namespaces..cgroups
  //> namespaces..namespaces
  //| unshare(CLONE.CLONE_NEWPID, 'a PID namespace is for children: the next process we start is its PID 1');
  //| const child = startChildStage('init', { ...config, rootfs }, true);
  //| const ended = exitCodeOf(child);
  //| const signals = forwardSignals(child, config.stopTimeout ?? 10);
  //< namespaces..namespaces
//> lifecycle..
//> ..network
//| export async function runContainer(config: ContainerConfig, dirs: ContainerDirs): Promise<number> {
//< ..network
//> daemon..
/** `preStarted`: a child stage that a spare monitor started before the container was known
 *  (spares.ts), in the PID namespace it unshared then; it waits for its configuration. */
export async function runContainer(config: ContainerConfig, dirs: ContainerDirs, preStarted?: ChildProcess): Promise<number> {
//< daemon..
//< lifecycle..
  //> unionfs..
  const rootfs = config.rootfs;
  //< unionfs..
  //> cgroups..
  const cgroups = detectCgroups();
  cgroups.removeStale(); // left by engines that were killed before they could clean up
  const cgroupId = generateId();
  //> ..distribution
  //| const cgroup = cgroups.create(cgroupId, config.limits); // first: if a limit is refused, nothing has run yet
  //< ..distribution
  //> security..
  // The devices the container may use are limits too, set before anything runs in the cgroup.
  const devices = deviceRulesFor(config.security?.privileged === true);
  const cgroup = cgroups.create(cgroupId, { ...config.limits, devices }); // first: if a limit is refused, nothing has run yet
  //< security..
  //< cgroups..
  //> lifecycle..
  let exitCodeSeen: number | undefined;
  //< lifecycle..
  //> terminals..
  let terminal: AttachedTerminal | undefined;
  //< terminals..
  //> namespaces..
  try {
    //> ..namespaces
    //| if (!(await childIsReady(child))) return await ended; // set-up failed; the child stage said why
    //| if (config.name) recordContainer({ name: config.name, pid: child.pid!, hostname: config.hostname, rootfs, argv: config.argv });
    //| sendGo(child);
    //| return signals.exitCode(await ended);
    //< ..namespaces
    //> cgroups..
    //> network..
    // First the address and the ports: if a port is taken, nothing has run yet.
    const mode = config.network?.mode ?? 'bridge';
    if (mode === 'bridge') config.lease = await connectContainer(dirs.spec.id, config.network?.ports ?? []);
    config.networkFiles = writeNetworkFiles(dirs.dir, { ...dirs.spec, mode, ipAddress: config.lease?.ipAddress });
    //< network..
    //> ..network
    //| unshare(CLONE.CLONE_NEWPID, 'a PID namespace is for children: the next process we start is its PID 1');
    //| const child = startChildStage('init', { ...config, rootfs }, true);
    //< ..network
    //> daemon..
    // -i under a monitor (which has no stdin of its own): the command's stdin is a pipe that the
    // monitor feeds from console.sock. Without -i it stays /dev/null.
    const stdinPiped = config.detached === true && config.interactive === true && !config.tty;
    let child: ChildProcess;
    if (preStarted) {
      // It has a stdin pipe from us whatever comes, and our /dev/null as stdout and stderr: it
      // opens the container's own files once it reads where they are.
      child = preStarted;
      sendStageConfig(child, { ...config, rootfs, streams: { stdout: dirs.logFile, stderr: dirs.errorLogFile, stdinFromNull: !stdinPiped } });
      if (!stdinPiped) child.stdin?.destroy();
    } else {
      unshare(CLONE.CLONE_NEWPID, 'a PID namespace is for children: the next process we start is its PID 1');
      child = startChildStage('init', { ...config, rootfs }, true, [stdinPiped ? 'pipe' : 'inherit', 'inherit', 'inherit']);
    }
    //< daemon..
    const ended = exitCodeOf(child);
    const signals = forwardSignals(child, config.stopTimeout ?? 10);
    try {
      if (!(await childIsReady(child))) return await ended; // set-up failed; the child stage said why
      cgroup.join(child.pid!); // while it waits: the command will start inside the limits
      //> network..
      // The child stage has its network namespace by now (it unshared it before "ready").
      if (config.lease) plugInContainer(config.lease, child.pid!);
      //< network..
      //> ..unionfs
      //| if (config.name) recordContainer({ name: config.name, pid: child.pid!, hostname: config.hostname, rootfs, argv: config.argv, cgroupId });
      //< ..unionfs
      //> images..images
      //| if (config.name) recordContainer({ name: config.name, pid: child.pid!, hostname: config.hostname, rootfs, argv: config.argv, env: config.env, workdir: config.workdir, user: config.user, cgroupId });
      //< images..images
      //> lifecycle..security
      //| recordRunning(dirs, child.pid!, cgroupId);
      //< lifecycle..security
      //> network..network
      //| recordRunning(dirs, child.pid!, cgroupId, config.lease);
      //< network..network
      //> ..lifecycle
      //| sendGo(child);
      //< ..lifecycle
      //> terminals..
      // -t: a pseudo-terminal in the container's own devpts (its /dev/pts is mounted by now);
      // the engine keeps the master end and copies between it and our terminal.
      const pty = config.tty ? openPty(`/proc/${child.pid}/root`) : undefined;
      //> ..network
      //| terminal = pty && attachTerminal(pty.master);
      //< ..network
      //> daemon..
      // A monitor has no user's terminal to copy to: it serves the master (or the stdin pipe) on
      // console.sock instead, to clients that come and go through the daemon (tty.ts, console.ts).
      if (config.detached && (pty || stdinPiped)) terminal = serveConsole(dirs.consoleSocket, pty ? { master: pty.master } : { stdin: child.stdin! });
      else terminal = pty && attachTerminal(pty.master);
      // Running, with the slave's name when a monitor holds the terminal, in one write: a client
      // that sees "running" may resize it at once (console.ts, resizeTerminal).
      recordRunning(dirs, child.pid!, cgroupId, config.lease, pty && config.detached ? pty.slavePath : undefined);
      //< daemon..
      sendGo(child, pty?.slavePath);
      //< terminals..
      const code = signals.exitCode(await ended);
      //> terminals..
      await terminal?.finish();
      //< terminals..
      //> lifecycle..
      exitCodeSeen = code;
      //< lifecycle..
      reportUsage(cgroup.usage(), code, config.stats);
      return code;
    } finally {
      //> ..images
      //| if (config.name) forgetContainer(config.name, child.pid!);
      //< ..images
      //> terminals..
      terminal?.detach();
      //< terminals..
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL'); // the engine failed: the cgroup can only go once the container has
        await ended;
      }
    }
    //< cgroups..
  } finally {
    //> ..namespaces
    //| if (config.name) forgetContainer(config.name, child.pid!);
    //< ..namespaces
    //> cgroups..
    cgroup.remove();
    //< cgroups..
    //> network..
    if (config.lease) {
      // disconnectContainer() runs the nft program. Our children are still meant for the
      // container's PID namespace, and a PID namespace whose init has died takes no newcomer
      // (fork(2) fails with ENOMEM): children go back to our own one first.
      joinNamespace(process.pid, 'pid', CLONE.CLONE_NEWPID, 'the container\'s PID namespace is dead: our next child must be born in ours');
      await disconnectContainer(dirs.spec.id);
    }
    //< network..
    //> lifecycle..
    if (readRecordedState(dirs).status === 'running') recordExited(dirs, exitCodeSeen);
    //< lifecycle..
  }
  //< namespaces..
}

//> cgroups..
/** After the container ends: say if the OOM killer ended it, and (with --stats) what it used. */
function reportUsage(usage: Usage, code: number, all = false): void {
  const limit = usage.memoryLimitBytes === undefined ? 'no limit' : `limit ${formatBytes(usage.memoryLimitBytes)}`;
  if (usage.oomKilled && code === 137) process.stderr.write(`nutshell: killed: out of memory (${limit})\n`);
  if (!all) return;
  const peak = usage.memoryPeakBytes === undefined ? 'unknown' : formatBytes(usage.memoryPeakBytes);
  process.stderr.write(`nutshell: used: CPU ${(usage.cpuNanos / 1e9).toFixed(2)} s, peak memory ${peak} (${limit})${usage.oomKilled ? ', OOM killer struck' : ''}\n`);
}

//< cgroups..
//> ..cgroups
//| /** A rootfs must be a directory: say so in one line rather than let chroot(2) say ENOTDIR. */
//| export function checkRootfs(rootfs: string): string {
//|   const path = resolve(rootfs);
//< ..cgroups
//> unionfs..unionfs
//| /** A layer must be a directory: say so in one line rather than let mount(2) say ENOENT. */
//| export function checkLayer(layer: string): string {
//|   const path = resolve(layer);
//< unionfs..unionfs
//> ..unionfs
//|   let isDir = false;
//|   try {
//|     isDir = statSync(path).isDirectory();
//|   } catch (err) {
    //> ..cgroups
    //| if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new UserError(`rootfs not accessible: ${rootfs} (permission denied — are you root?)`);
    //| throw new UserError(`rootfs not found: ${rootfs}`);
    //< ..cgroups
    //> unionfs..
    //| if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new UserError(`layer not accessible: ${layer} (permission denied — are you root?)`);
    //| throw new UserError(`layer not found: ${layer}`);
    //< unionfs..
//|   }
  //> ..cgroups
  //| if (!isDir) throw new UserError(`rootfs is not a directory: ${rootfs}`);
  //< ..cgroups
  //> unionfs..
  //| if (!isDir) throw new UserError(`layer is not a directory: ${layer}`);
  //< unionfs..
//|   return path;
//| }
//|
//< ..unionfs
//> ..chroot
//| /** Re-execute this program as the child stage. Node has helper threads, and fork(2) from a
//|  *  multi-threaded process copies only the calling thread, so we start a fresh process
//|  *  (the same node binary, the same loader flags) instead. stdio is passed straight through. */
//| export function startChildStage(stage: string, config: object): ChildProcess {
//< ..chroot
//> namespaces..
/** 12 random hex digits, like docker's short container ids: the default hostname. */
export function generateId(): string {
  return randomBytes(6).toString('hex');
}

/** Re-execute this program as the child stage. Node has helper threads, and fork(2) from a
 *  multi-threaded process copies only the calling thread, so we start a fresh process
 *  (the same node binary, the same loader flags) instead. stdio is passed straight through;
 *  with `sync`, fd 3 is a socket pair that the two stages talk over, and the configuration
 *  goes over it too. */
//> ..network
//| export function startChildStage(stage: string, config: object, sync = false): ChildProcess {
//< ..network
//> daemon..
export function startChildStage(stage: string, config: object | undefined, sync = false, stdio: ('inherit' | 'pipe')[] = ['inherit', 'inherit', 'inherit']): ChildProcess {
//< daemon..
//< namespaces..
  //> ..chroot
  //| const argv = [...process.execArgv, THIS_PROGRAM, `__${stage}`, JSON.stringify(config)];
  //< ..chroot
  //> namespaces..
  // Not on the command line when there is a socket: every user of the host reads command lines
  // (ps, /proc/PID/cmdline), and from chapter 05 on the configuration holds -e passwords.
  const argv = [...process.execArgv, THIS_PROGRAM, `__${stage}`, ...(sync ? [] : [JSON.stringify(config)])];
  //< namespaces..
  //> security..
  showOurProgramReadOnly();
  //< security..
  traceStep(`spawn ${process.execPath} ${THIS_PROGRAM} __${stage}`, 're-exec ourselves as the child stage');
  //> ..chroot
  //| return spawn(process.execPath, argv, {
  //< ..chroot
  //> namespaces..
  const child = spawn(process.execPath, argv, {
  //< namespaces..
    //> ..chroot
    //| stdio: 'inherit',
    //< ..chroot
    //> namespaces..network
    //| stdio: sync ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit',
    //< namespaces..network
    //> daemon..
    stdio: sync ? [...stdio, 'pipe'] : stdio,
    //< daemon..
    // The child stage makes no TLS connection: spare it the reading of extra CA
    // certificates that Node does as it starts (~35 ms where NODE_EXTRA_CA_CERTS is set).
    //> ..distribution
    //| env: { ...process.env, NUTSHELL_STAGE: stage, NODE_EXTRA_CA_CERTS: undefined },
    //< ..distribution
    //> security..
    env: { ...variablesForStages(), NUTSHELL_STAGE: stage, NODE_EXTRA_CA_CERTS: undefined },
    //< security..
  });
  //> namespaces..
  // The first line on the socket, which only the two stages hold: the stage reads it before
  // anything else (lib/cli.ts), then "ready" and "go" follow as before.
  //> namespaces..network
  //| if (sync) (child.stdio[SYNC_FD] as NodeJS.WritableStream).write(`${JSON.stringify(config)}\n`);
  //< namespaces..network
  //> daemon..
  if (sync && config) sendStageConfig(child, config); // a spare's child stage gets it later (spares.ts)
  //< daemon..
  return child;
  //< namespaces..
}
//> daemon..

export function sendStageConfig(child: ChildProcess, config: object): void {
  (child.stdio[SYNC_FD] as NodeJS.WritableStream).write(`${JSON.stringify(config)}\n`);
}

/** Where a process started before its container was known (spares.ts) sends its output. */
export interface ContainerStreams {
  stdout: string;
  stderr: string;
  /** No -i: stdin is /dev/null, as for any container started without it. */
  stdinFromNull?: boolean;
}

/** Make the container's two log files our stdout and stderr, and /dev/null our stdin if asked:
 *  open(2) each, dup2(2) it onto 1, 2 or 0, close the original. A spare monitor and its child
 *  stage were started with /dev/null there, before anyone knew their container. The copies that
 *  dup2 makes are not close-on-exec: the child stage, then the command, inherit them. (Node has
 *  not opened its own process.stdout yet: it does so at the first write, on whatever fd 1 is.) */
export function takeStreams(streams: ContainerStreams): void {
  const redirect = (path: string, flags: string, fd: number, why: string) => {
    const opened = openSync(path, flags);
    try {
      dup2(opened, fd, why);
    } finally {
      closeSync(opened);
    }
  };
  redirect(streams.stdout, 'a', 1, 'the container\'s stdout log becomes our fd 1');
  redirect(streams.stderr, 'a', 2, 'and its stderr log our fd 2: our own errors go there too');
  if (streams.stdinFromNull) redirect('/dev/null', 'r', 0, 'no -i: the command reads nothing');
}
//< daemon..

//> security..
/** The variables of ours that a child stage reads: nutshell's (--trace), Node's and its loader's,
 *  the temporary directory, and what decides the colours of a trace. The rest of the engine's
 *  environment (the user's tokens, passwords) stays out: `exec`'s child stage starts the command
 *  as its child, and that child holds a copy of our memory until its execve(2). */
const STAGE_VARIABLES = /^(NUTSHELL_|NODE_|TSX_|PATH$|TMPDIR$|TERM$|COLORTERM$|FORCE_COLOR$|NO_COLOR$)/;

function variablesForStages(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => STAGE_VARIABLES.test(name)));
}

let programShownReadOnly = false;

/** CVE-2019-5736. A child stage is the host's node until it execve(2)s the command, and the
 *  container can have that execve(2) start /proc/self/exe, which is our node: an image whose
 *  program is a script beginning "#!/proc/self/exe" (or naming a symlink to it). The kernel opens
 *  the interpreter as the process that calls execve(2), so the container's /proc/self is ours, and
 *  the program then runs as the container's process, with /proc/self/exe leading to the host's
 *  node binary: it may open it for writing and wait until no node runs (ETXTBSY until then) to
 *  replace the program that every nutshell command runs as root. runc, whose child stage is runc,
 *  re-executes itself from a sealed copy (libcontainer/exeseal: a read-only overlayfs, or a sealed
 *  memfd). We start our child stages through a read-only bind mount of node instead, made in a
 *  mount namespace of the engine's own: /proc/self/exe of every process they become then names a
 *  file on a read-only mount, and open(2) for writing fails with EROFS, whoever asks. */
function showOurProgramReadOnly(): void {
  if (programShownReadOnly) return; // once per engine: `run` starts one child stage, `exec` one
  // unshare(2) moves only the calling thread, and spawn(2) forks from it: only the processes we
  // start see the new mount namespace. Nothing of it reaches the host.
  unshare(CLONE.CLONE_NEWNS, 'a mount namespace for this thread, where node can be read-only');
  mount(null, '/', null, MS.MS_REC | MS.MS_SLAVE, null, 'our mounts stay here; the host\'s mounts and unmounts still reach us');
  mount(process.execPath, process.execPath, null, MS.MS_BIND, null, 'node on a mount of its own: read-only belongs to a mount, not to a file');
  mount(null, process.execPath, null, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV, null,
    'read-only: MS_RDONLY is ignored when a bind mount is made, so a second call changes the flags of that mount alone');
  programShownReadOnly = true;
}

//< security..
//> ..chroot
//| /** Ctrl-C and `kill` reach the engine; pass them on so the container ends first. */
//| function forwardSignals(child: ChildProcess): void {
//< ..chroot
//> lifecycle..
//> ..network
//| /** `run -d`: the engine starts a copy of itself in the background — a monitor, in a session
//|  *  of its own so that the terminal's Ctrl-C and hang-up do not reach it — which runs the
//|  *  container exactly as `run` does, with stdout and stderr going to the container's log file. */
//< ..network
//> daemon..
/** `run -d`: the engine starts a copy of itself in the background — a monitor, in a session
 *  of its own so that the terminal's Ctrl-C and hang-up do not reach it — which runs the
 *  container exactly as `run` does, with stdout and stderr going to the container's two log
 *  files, and holds its console (-t, -i: serveConsole in tty.ts). */
//< daemon..
export function startMonitor(config: ContainerConfig, dirs: ContainerDirs): ChildProcess {
  const log = openSync(dirs.logFile, 'a');
  //> daemon..
  const errorLog = openSync(dirs.errorLogFile, 'a'); // stderr apart, as docker keeps it: `logs` gives each back on its own stream
  //< daemon..
  // Its command line names the container, for ps; the configuration, -e values and all, goes
  // over a socket on its fd 3, as a child stage's does: a command line is everybody's to read.
  const argv = [...process.execArgv, THIS_PROGRAM, '__monitor', dirs.spec.id];
  traceStep(`spawn ${process.execPath} ${THIS_PROGRAM} __monitor ${dirs.spec.id} (detached)`, 'a background engine that waits for the container and records how it ends');
  //> ..network
  //| const monitor = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', log, log, 'pipe'], env: { ...process.env, NUTSHELL_STAGE: 'monitor' } });
  //< ..network
  //> daemon..
  const monitor = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', log, errorLog, 'pipe'], env: { ...process.env, NUTSHELL_STAGE: 'monitor' } });
  closeSync(errorLog);
  //< daemon..
  closeSync(log);
  const socket = monitor.stdio[SYNC_FD] as Socket;
  socket.end(`${JSON.stringify({ config, id: dirs.spec.id })}\n`);
  // Neither the monitor nor our socket to it may keep `run -d` waiting. The line is sent all the
  // same: runDetached() waits until the container runs, and the monitor has read it by then.
  socket.unref();
  monitor.unref();
  return monitor;
}

//> daemon..
/** A monitor started before its container exists (spares.ts): no id on its command line yet,
 *  /dev/null for its streams until it is given a container, its fd 3 a socket to the daemon. */
export function startSpareMonitor(): ChildProcess {
  const argv = [...process.execArgv, THIS_PROGRAM, '__spare', '{}'];
  traceStep(`spawn ${process.execPath} ${THIS_PROGRAM} __spare (detached)`, 'a monitor started ahead of its container: it boots now, not when the container is asked for');
  return spawn(process.execPath, argv, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: { ...process.env, NUTSHELL_STAGE: 'monitor' } });
}

//< daemon..
//< lifecycle..
//> namespaces..
/** Wait until the child stage writes "ready" on the sync pipe; false if it exits instead
 *  (its set-up failed, and it has printed why). */
function childIsReady(child: ChildProcess): Promise<boolean> {
  const pipe = child.stdio[SYNC_FD] as NodeJS.ReadableStream;
  return new Promise((done) => {
    pipe.once('data', (data: Buffer) => done(data.toString() === 'ready'));
    child.once('exit', () => done(false));
  });
}

//> ..lifecycle
//| function sendGo(child: ChildProcess): void {
//|   (child.stdio[SYNC_FD] as NodeJS.WritableStream).end('go');
//< ..lifecycle
//> terminals..
/** "go" — with -t, followed by the name of the terminal the command is to have. */
function sendGo(child: ChildProcess, terminal?: string): void {
  (child.stdio[SYNC_FD] as NodeJS.WritableStream).end(terminal ? `go ${terminal}` : 'go');
//< terminals..
}

/** Ctrl-C and `kill` reach the engine; pass them on so the container ends first. A PID 1
 *  gets no signal it has no handler for (the kernel protects a namespace's init), so a
 *  command that ignores SIGTERM is killed after `stopTimeout` seconds, like `docker stop`. */
function forwardSignals(child: ChildProcess, stopTimeout: number) {
  let forced: NodeJS.Signals | undefined;
//< namespaces..
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    //> ..chroot
    //| process.on(signal, () => child.kill(signal));
    //< ..chroot
    //> namespaces..
    process.on(signal, () => {
      child.kill(signal);
      setTimeout(() => {
        process.stderr.write(`nutshell: PID 1 ignored ${signal} (it has no handler for it): killed after ${stopTimeout}s\n`);
        forced = signal;
        child.kill('SIGKILL');
      }, stopTimeout * 1000).unref();
    });
    //< namespaces..
  }
  //> namespaces..
  return {
    /** A container we had to kill ends as if the signal it ignored had worked. */
    exitCode: (code: number) => (forced ? 128 + os.signals[forced] : code),
  };
  //< namespaces..
}

/** Wait for the child and turn its end into a shell-style exit code. */
export function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      done(signal ? 128 + os.signals[signal] : (code ?? 0));
    });
  });
}

// ---------------------------------------------------------------- child stage

/** The child stage: build the container around ourselves, then become the command. */
export function containerInit(config: ContainerConfig): never {
  //> namespaces..images
  //| dieWithParent(os.signals.SIGKILL, 'if the engine dies, the container goes too: nobody would be left to wait for it');
  //< namespaces..images
  //> lifecycle..
  // A detached container must outlive the engine that started it: `stop` and `rm` find it by
  // its PID later. One in the foreground goes with its engine, which is its only way out.
  if (!config.detached) dieWithParent(os.signals.SIGKILL, 'if the engine dies, the container goes too: nobody would be left to wait for it');
  //< lifecycle..
  //> daemon..
  if (config.streams) takeStreams(config.streams); // started ahead of time by a spare (spares.ts): /dev/null until now
  //< daemon..
  prepareContainer(config);
  //> namespaces..
  writeSync(SYNC_FD, 'ready');
  //< namespaces..
  //> namespaces..lifecycle
  //| waitForGo();
  //< namespaces..lifecycle
  //> terminals..
  const terminal = waitForGo();
  //< terminals..
  //> network..
  if (config.lease) configureContainerInterface(config.lease); // the engine has made our eth0 by now
  //< network..
  //> security..
  const hierarchies = hierarchiesOfOurCgroup();
  //< security..
  //> cgroups..
  unshare(CLONE.CLONE_NEWCGROUP, 'the engine has moved us into our cgroup: make it the root of what /proc/self/cgroup shows');
  //< cgroups..
  //> security..
  mountCgroupView(hierarchies, isPrivileged(config));
  //< security..
  //> ..unionfs
  //| return execCommand(config.argv);
  //< ..unionfs
  //> terminals..
  if (terminal) becomeControllingTerminal(terminal); // before execCommand drops root: the slave is root's
  //< terminals..
  //> images..
  return execCommand(config);
  //< images..
}

//> ..chroot
//| /** The whole isolation recipe of chapter 01, in order. */
//< ..chroot
//> namespaces..
/** The whole isolation recipe of chapter 02, in order. We are PID 1 of a new PID namespace. */
//< namespaces..
export function prepareContainer(config: ContainerConfig): void {
  //> ..chroot
  //| chroot(config.rootfs, 'from now on "/" means the rootfs, for this process and its children');
  //| chdir('/', 'chroot(2) does not move the working directory: step inside, or ".." leads out');
  //< ..chroot
  //> namespaces..
  //> namespaces..security
  //| unshare(
  //|   CLONE.CLONE_NEWNS | CLONE.CLONE_NEWUTS | CLONE.CLONE_NEWIPC | CLONE.CLONE_NEWNET,
  //|   'our own mount table, hostname, IPC objects and network stack',
  //| );
  //< namespaces..security
  //> network..
  // --network host: no network namespace, the container uses the host's interfaces.
  const hostNetwork = config.network?.mode === 'host';
  unshare(
    CLONE.CLONE_NEWNS | CLONE.CLONE_NEWUTS | CLONE.CLONE_NEWIPC | (hostNetwork ? 0 : CLONE.CLONE_NEWNET),
    hostNetwork ? 'our own mount table, hostname and IPC objects (--network host: the host\'s network stack)' : 'our own mount table, hostname, IPC objects and network stack',
  );
  //< network..
  sethostname(config.hostname, 'only this UTS namespace sees the new name');
  mount(null, '/', null, MS.MS_REC | MS.MS_PRIVATE, null, 'the host\'s "/" is shared: without this our mounts would appear on the host');
  //> ..cgroups
  //| mount(config.rootfs, config.rootfs, null, MS.MS_BIND | MS.MS_REC, null, 'pivot_root(2) needs the new root to be a mount point');
  //< ..cgroups
  //> unionfs..
  // The overlay mount is a mount point already, as pivot_root(2) wants: no bind mount needed.
  mountOverlay({ ...config.layers, target: config.rootfs });
  //< unionfs..
  //> lifecycle..
  for (const volume of config.volumes ?? []) bindVolume(config.rootfs, volume);
  //< lifecycle..
  //> network..
  for (const file of config.networkFiles ?? []) bindNetworkFile(config.rootfs, file);
  //< network..
  chdir(config.rootfs, 'pivot_root(".", ".") below works on the current directory');
  pivotRoot('.', '.', 'the rootfs becomes "/"; the old root is stacked on top of it, at "/"');
  umount2('.', MNT_DETACH, 'peel the old root off: nothing of the host\'s tree is reachable any more');
  chdir('/', 'start at the new root');
  for (const mountPoint of ['/proc', '/dev', '/sys']) makeMountPoint(mountPoint); // all checked before the first mount
  mountProc();
  mountDev();
  //> namespaces..distribution
  //| mount('sysfs', '/sys', 'sysfs', MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'a read-only /sys that shows this network namespace');
  //< namespaces..distribution
  //> security..
  const privileged = isPrivileged(config);
  if (privileged) mount('sysfs', '/sys', 'sysfs', MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, '--privileged: a /sys the container may write to, as docker gives it');
  else mount('sysfs', '/sys', 'sysfs', MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'a read-only /sys that shows this network namespace');
  if (!privileged) hideKernelInterfaces(); // after /dev (its null is what masks a file) and /sys
  //< security..
  //> namespaces..security
  //| interfaceUp('lo', 'a new network namespace has only a loopback interface, and it is down');
  //< namespaces..security
  //> network..
  if (!hostNetwork) interfaceUp('lo', 'a new network namespace has only a loopback interface, and it is down');
  //< network..
  //< namespaces..
}

//> security..
/** `--privileged` (capabilities.ts sets it): docker then masks nothing, and makes nothing of
 *  /proc read-only; /sys and the cgroup view at /sys/fs/cgroup are writable. */
function isPrivileged(config: ContainerConfig): boolean {
  return (config as { security?: { privileged?: boolean } }).security?.privileged === true;
}

// What docker hides and locks in every container but a privileged one: MaskedPaths and
// ReadonlyPaths in moby's oci/defaults.go, which runc applies (libcontainer/rootfs_linux.go).
// No namespace covers them: the container's /proc and /sys are its own mounts, yet these files
// are the host kernel's, and root may read and write them as on the host.
/** Covered: the kernel's memory as an ELF core (kcore), the keys in the kernel's keyrings, the
 *  timers and scheduler state of every process on the machine, firmware tables, the CPU's energy
 *  counters (powercap: a side channel, CVE-2020-8694). */
const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
/** Read-only: the sysctls (/proc/sys, most of them global: vm, kernel, fs), the magic SysRq key
 *  (one write reboots the host), interrupt routing, bus and filesystem settings. */
const READ_ONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Make READ_ONLY_PATHS read-only and cover MASKED_PATHS, as runc does: read-only first. A path
 *  this kernel does not have is skipped (a kernel built without SCSI has no /proc/scsi). */
function hideKernelInterfaces(): void {
  for (const path of READ_ONLY_PATHS) if (exists(path)) makeReadOnly(path);
  for (const path of MASKED_PATHS) if (exists(path)) maskPath(path);
}

function exists(path: string): boolean {
  if (existsSync(path)) return true;
  traceStep(`skip ${path}`, 'this kernel has no such file: nothing to hide');
  return false;
}

/** Read-only is a flag of a mount, not of a file: give the path a mount of its own (a bind
 *  mount onto itself), then change that mount's flags. */
function makeReadOnly(path: string): void {
  mount(path, path, null, MS.MS_BIND | MS.MS_REC, null, 'a mount of its own, whose flags can change alone');
  // mount(2) ignores MS_RDONLY when it makes a bind mount (the new mount takes the flags of the
  // one it copies), and a remount without MS_BIND would change /proc's superblock: every mount
  // of it. MS_REMOUNT|MS_BIND sets the flags of this one mount, all of them: nosuid, nodev and
  // noexec again, or they would be dropped.
  mount(null, path, null, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'read-only: writes fail with EROFS');
}

/** Cover a path: a file with /dev/null (reads as empty, writes go nowhere), a directory with an
 *  empty read-only tmpfs. Removing the cover takes umount(2), which takes CAP_SYS_ADMIN. */
function maskPath(path: string): void {
  if (statSync(path).isDirectory()) mount('tmpfs', path, 'tmpfs', MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'an empty read-only directory over it');
  else mount('/dev/null', path, null, MS.MS_BIND, null, 'our /dev/null over it: reads are empty');
}

/** One cgroup hierarchy the engine put us in (man 7 cgroups): v1 names its controllers
 *  ("memory", "cpu,cpuacct"); v2 has one hierarchy, and none. */
interface CgroupHierarchy {
  version: 1 | 2;
  controllers: string;
}

/** The hierarchies where we are in a cgroup of the engine's: /proc/self/cgroup has a line
 *  "ID:controllers:path" per hierarchy, and the engine's cgroups are /nutshell/<id> in each.
 *  Read before the cgroup namespace is unshared: from then on every path reads "/". */
function hierarchiesOfOurCgroup(): CgroupHierarchy[] {
  traceStep('read /proc/self/cgroup', 'which hierarchies hold us in a cgroup of the engine\'s: those we see at /sys/fs/cgroup');
  return readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')
    .map((line) => line.split(':'))
    .filter(([, , path]) => path?.startsWith(`/${DEFAULT_SUBTREE}/`))
    .map(([id, controllers]) => ({ version: id === '0' ? 2 : 1, controllers: controllers! }));
}

/** /sys/fs/cgroup inside: the container's own cgroups, read-only. In a cgroup namespace, a
 *  cgroup filesystem mounted shows the namespace's root cgroup as its root: ours. Read-only,
 *  so that nothing inside can raise its limits (memory.limit_in_bytes, pids.max). What keeps
 *  root from mounting a writable one elsewhere is the capability drop (mount(2) needs
 *  CAP_SYS_ADMIN); a hierarchy the host has not made, the kernel refuses in any cgroup
 *  namespace but the first. Like runc with a cgroup namespace: on v1 a tmpfs with one
 *  directory per hierarchy, on v2 the one hierarchy. */
function mountCgroupView(hierarchies: CgroupHierarchy[], privileged: boolean): void {
  const flags = (privileged ? 0 : MS.MS_RDONLY) | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC;
  const v1 = hierarchies.filter((h) => h.version === 1);
  const v2 = hierarchies.some((h) => h.version === 2);
  const why = privileged ? '--privileged: our cgroup, writable' : 'our cgroup, read-only: its limits stay the engine\'s';
  if (v1.length === 0) {
    if (v2) mount('cgroup2', '/sys/fs/cgroup', 'cgroup2', flags, null, why);
    return;
  }
  mount('tmpfs', '/sys/fs/cgroup', 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, 'mode=755', 'a directory per cgroup hierarchy, as on the host');
  for (const { controllers } of v1) {
    const dir = controllers.replace(/^name=/, ''); // a named hierarchy: "name=systemd" is at systemd
    mkdirSync(`/sys/fs/cgroup/${dir}`);
    mount('cgroup', `/sys/fs/cgroup/${dir}`, 'cgroup', flags, controllers, why);
    // Two controllers in one hierarchy ("cpu,cpuacct"): each name leads to it, as on the host.
    if (controllers.includes(',')) for (const name of controllers.split(',')) symlinkSync(dir, `/sys/fs/cgroup/${name}`);
  }
  if (v2) {
    mkdirSync('/sys/fs/cgroup/unified');
    mount('cgroup2', '/sys/fs/cgroup/unified', 'cgroup2', flags, null, why);
  }
  if (!privileged) mount(null, '/sys/fs/cgroup', null, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'and no directory added beside them');
}

//< security..
//> lifecycle..
export interface Volume {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

/** `-v host:container[:ro]`, checked before anything runs. */
export function parseVolume(text: string): Volume {
  const [hostPath, containerPath, mode, extra] = text.split(':');
  if (!hostPath || !containerPath || extra !== undefined || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new UserError(`invalid volume "${text}": use -v /host/path:/container/path[:ro]`);
  }
  if (!containerPath.startsWith('/') || containerPath.split('/').includes('..')) throw new UserError(`invalid volume "${text}": the container path must be absolute, without ".."`);
  if (!existsSync(hostPath)) throw new UserError(`volume source not found: ${hostPath}`);
  return { hostPath: resolve(hostPath), containerPath, readOnly: mode === 'ro' };
}

/** A bind mount of a host path into the merged view, made before pivot_root while both are
 *  in sight. Every path is walked once, by descriptor. A name is resolved again at each use,
 *  and a container that shares a volume with this one could swap a directory on the way for a
 *  symlink between two uses: with -v shared:/data -v other:/data/sub/x, /data/sub -> /etc
 *  right after we checked it would have us make and mount the host's /etc/x. A descriptor
 *  holds the directory itself, whatever its name comes to mean. */
function bindVolume(rootfs: string, volume: Volume): void {
  const names = volume.containerPath.split('/').filter((name) => name !== '' && name !== '.');
  if (names.length === 0) throw new UserError(`volume target ${volume.containerPath}: cannot mount over the container's root`);
  // The source by descriptor too: the kind we check (file or directory) is the one we mount.
  const source = openSync(volume.hostPath, O_PATH | O_CLOEXEC);
  traceStep(`open(${JSON.stringify(volume.hostPath)}, O_PATH|O_CLOEXEC) = ${source}`, 'the volume\'s source, held by descriptor');
  const opened = [source];
  try {
    const isDir = fstatSync(source).isDirectory();
    let parent = openSync(rootfs, O_PATH | O_CLOEXEC | constants.O_DIRECTORY);
    traceStep(`open(${JSON.stringify(rootfs)}, O_PATH|O_CLOEXEC|O_DIRECTORY) = ${parent}`, 'the container\'s root (our overlay): the walk to the mount point starts here');
    opened.push(parent);
    let target = parent;
    names.forEach((name, i) => {
      parent = target;
      target = makeMountPointAt(parent, name, i === names.length - 1 && !isDir, volume.containerPath);
      opened.push(target);
    });
    // /proc is still the host's here, and /proc/self/fd/N is the file that descriptor N holds.
    mount(`/proc/self/fd/${source}`, `/proc/self/fd/${target}`, null, MS.MS_BIND | MS.MS_REC, null, `show ${volume.hostPath} at ${volume.containerPath}`);
    if (volume.readOnly) {
      // MS_RDONLY is ignored on the first bind mount: read-only takes a second, remounting call.
      // `target` holds what the mount now covers, and only the name leads onto the mount: open
      // it again, and check that it is the source we mounted, not a name swapped in since.
      const mounted = openComponent(parent, names.at(-1)!, isDir, volume.containerPath);
      opened.push(mounted);
      const [want, got] = [fstatSync(source), fstatSync(mounted)];
      if (got.dev !== want.dev || got.ino !== want.ino) throw new UserError(`volume target ${volume.containerPath} was replaced while it was mounted: refused`);
      mount(null, `/proc/self/fd/${mounted}`, null, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY, null, 'make the volume read-only');
    }
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}

//> network..
/** /etc/hosts, /etc/hostname, /etc/resolv.conf: bound over the image's files like a volume, so
 *  the image's layers are never written. An image may have put a symlink there (to
 *  /run/systemd/resolve/stub-resolv.conf, say, or to a host path it hopes we write): we never
 *  mount through one, and leave that file as the image has it. */
function bindNetworkFile(rootfs: string, file: NetworkFile): void {
  try {
    bindVolume(rootfs, { ...file, readOnly: false });
  } catch (err) {
    if (!(err instanceof UserError && err.message.endsWith('passes through a symlink: refused'))) throw err;
    traceStep(`skip ${file.containerPath}`, 'the image has a symlink on the way to it: left as the image has it');
  }
}

//< network..
/** Open `name` in the directory `dirFd`, as a descriptor that only names it (O_PATH). With
 *  RESOLVE_NO_SYMLINKS a symlink is ELOOP, never followed. (No O_NOFOLLOW: with O_PATH it
 *  would hand back the symlink itself, and a mount through that would land on the link.) */
function openComponent(dirFd: number, name: string, directory: boolean, containerPath: string): number {
  const flags = O_PATH | O_CLOEXEC | (directory ? constants.O_DIRECTORY : 0);
  try {
    return openat2(dirFd, name, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, `the next step to ${containerPath}, never through a symlink`, {
      target: `${dirFd}, ${JSON.stringify(name)}, {O_PATH|O_CLOEXEC${directory ? '|O_DIRECTORY' : ''}, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS}`,
    });
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ELOOP') throw new UserError(`volume target ${containerPath} passes through a symlink: refused`);
    throw err;
  }
}

/** `name` in the directory `dirFd`, made if it is missing: a directory, or an empty file for
 *  the last step of a file volume. Neither mkdirat(2) nor O_CREAT|O_EXCL follows a symlink,
 *  and the open after them checks again what is there. */
function makeMountPointAt(dirFd: number, name: string, file: boolean, containerPath: string): number {
  try {
    return openComponent(dirFd, name, !file, containerPath);
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'ENOENT')) throw err;
  }
  const why = `the image has no ${JSON.stringify(name)} on the way to ${containerPath}: make it`;
  try {
    if (file) {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_CLOEXEC;
      closeSync(openat(dirFd, name, flags, 0o644, why, { target: `${dirFd}, ${JSON.stringify(name)}, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644` }));
    } else {
      mkdirat(dirFd, name, 0o755, why);
    }
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'EEXIST')) throw err; // made meanwhile: checked below
  }
  return openComponent(dirFd, name, !file, containerPath);
}

//< lifecycle..
//> namespaces..
/** A directory to mount on, in the new root. A small image need not have one (FROM scratch with
 *  one static binary has no /proc, /dev or /sys): make it, as runc does. mkdir(2) never follows
 *  a symlink (EEXIST), and lstat(2) then says what is there. mount(2) would follow a symlink the
 *  image put at /proc and mount somewhere else; runc refuses such a mount point, and so do we. */
function makeMountPoint(path: string): void {
  try {
    mkdirSync(path, 0o755);
    traceStep(`mkdir ${path}`, 'the image has no directory to mount on here: make one, as runc does');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const found = lstatSync(path);
  if (found.isSymbolicLink()) throw new UserError(`${path} in the container's root is a symlink: refused as a mount point (mount(2) would follow it)`);
  if (!found.isDirectory()) throw new UserError(`${path} in the container's root is not a directory: cannot mount on it`);
}

/** /proc shows the PID namespace of the process that mounted it, so it is mounted from in here. */
function mountProc(): void {
  mount('proc', '/proc', 'proc', MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'ps and /proc/self must see our PID namespace');
}

const DEVICES = [
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
];

/** A minimal /dev of our own: the host's has disks and consoles the container must not touch. */
function mountDev(): void {
  mount('tmpfs', '/dev', 'tmpfs', MS.MS_NOSUID | MS.MS_STRICTATIME, 'mode=755,size=65536k', 'a fresh /dev, empty');
  for (const d of DEVICES) {
    mknod(`/dev/${d.name}`, S_IFCHR | 0o666, d.major, d.minor, 'only harmless character devices');
    chmodSync(`/dev/${d.name}`, 0o666); // mknod(2) applies our umask (022): every user may use these
  }
  for (const [link, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx']]) {
    symlinkSync(target!, `/dev/${link}`);
  }
  mkdirSync('/dev/pts');
  mount('devpts', '/dev/pts', 'devpts', MS.MS_NOSUID | MS.MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620', 'our own pseudo-terminals, not the host\'s');
  mkdirSync('/dev/shm');
  mount('shm', '/dev/shm', 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, 'mode=1777,size=65536k', 'POSIX shared memory, private to us');
}

/** Block until the engine writes "go" on the sync pipe (a blocking read on this thread). */
//> ..lifecycle
//| function waitForGo(): void {
//|   const buffer = Buffer.alloc(16);
//< ..lifecycle
//> terminals..
function waitForGo(): string | undefined {
  const buffer = Buffer.alloc(64);
//< terminals..
  const n = readSync(SYNC_FD, buffer);
  closeSync(SYNC_FD);
  //> ..lifecycle
  //| if (buffer.toString('utf8', 0, n) !== 'go') process.exit(125); // the engine went away
  //< ..lifecycle
  //> terminals..
  const [word, terminal] = buffer.toString('utf8', 0, n).split(' ');
  if (word !== 'go') process.exit(125); // the engine went away
  return terminal;
  //< terminals..
}

//< namespaces..
//> ..unionfs
//| /** Replace the child stage with the user's command, found inside the rootfs. */
//> ..chroot
//| function execCommand(argv: string[]): never {
//< ..chroot
//> namespaces..
//| export function execCommand(argv: string[]): never {
//< namespaces..
//|   const env = [`PATH=${DEFAULT_PATH}`, 'HOME=/root', `TERM=${process.env.TERM ?? 'xterm'}`];
//|   const program = findProgram(argv[0]!, DEFAULT_PATH);
//< ..unionfs
//> images..distribution
//| /** Replace the child stage with the image's process, found inside the rootfs. */
//| export function execCommand(spec: ProcessSpec): never {
//< images..distribution
//> security..
/** Replace the child stage with the image's process, found inside the rootfs. */
export function execCommand(spec: ProcessSpec): never {
  const command = prepareCommand(spec);
  return execve(command.program, command.argv, command.env, 'become the command: same PID, new program');
}

/** What `exec` and `run` start in the end: a program of the image, its argv and environment. */
interface Command {
  program: string;
  argv: string[];
  env: string[];
}

/** Make this process the image's process, all but the last step: its working directory, its
 *  user, its descriptors. `run` then execve(2)s the command; `exec` spawns it (spawnCommand). */
function prepareCommand(spec: ProcessSpec): Command {
//< security..
//> images..
  mkdirSync(spec.workdir, { recursive: true }); // docker makes a missing WorkingDir too
  chdir(spec.workdir, 'the image\'s WorkingDir (or -w)');
  const path = spec.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const program = findProgram(spec.argv[0]!, path);
  // As runc does, always: even root gets the groups /etc/group gives it, not the engine's.
  const user = lookUpUser(spec.user ?? '');
  //> security..
  // From here on, the order is the kernel's (capabilities.ts says why, step by step).
  const security = spec.security ?? defaultSecurity();
  limitBoundingSet(security); // 1. while we are the engine's root, with CAP_SETPCAP
  // 2. the user, while we still have CAP_SETUID and CAP_SETGID (step 3 may take them away)
  keepCapabilitiesAcrossSetuid(true, 'setuid(2) to another user would empty the permitted set, and the seccomp filter may still need CAP_SYS_ADMIN from it');
  //< security..
  becomeUser(user.uid, user.gid, user.groups, spec.user ? `the image runs as "${spec.user}"` : 'the image names no User: root, as the image sees it');
  //> security..
  setThreadCapabilities(security, user.uid); // 3. after setuid(2), which needed CAP_SETUID
  // 4. no_new_privs, if asked
  if (security.noNewPrivileges) setNoNewPrivs('--security-opt no-new-privileges: no set-user-ID bit or file capability will give the program more than we hold now');
  //< security..
  // HOME comes from the user's passwd line, unless the image's Env or -e set it (runc, docker).
  const env = spec.env.some((e) => /^HOME=./.test(e)) ? spec.env : [...spec.env.filter((e) => !e.startsWith('HOME=')), `HOME=${user.home}`];
//< images..
  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd, 'Node marks stdio close-on-exec; the command needs it open');
  // Any other descriptor that whoever started the engine left open without FD_CLOEXEC has come
  // through the engine and us (Node marks only 0 to 15 as it starts, and stops at the first
  // gap), and one on a host directory leads out of the container: /proc/self/fd/N/.. or
  // fchdir(2). Close-on-exec rather than close: Node still needs its own until execve(2) works.
  closeFromOnExec(3, 'the command starts with stdin, stdout and stderr only: nothing of the host comes along');
  //> security..
  // 5. The filter last: from now on it judges every call this thread makes, and what is left
  // is execve(2) (`run`), or spawning the command and waiting for it (`exec`), which the filter
  // allows. Loading it takes no_new_privs or CAP_SYS_ADMIN, which setThreadCapabilities() left
  // us for this when no_new_privs is off (execve(2) never passes it on: it is not in the bounding set).
  // The container's capabilities lift the rules docker ties to them (--cap-add SYS_ADMIN: mount).
  installSeccomp(security.seccomp, 'from the program\'s first instruction, the calls it may make', security.capabilities);
  //< security..
  //> ..unionfs
  //| return execve(program, argv, env, 'become the command: same PID, new program');
  //< ..unionfs
  //> images..distribution
  //| return execve(program, spec.argv, env, 'become the command: same PID, new program');
  //< images..distribution
  //> security..
  return { program, argv: spec.argv, env };
  //< security..
}

//> images..
/** Who the process becomes, resolved as runc does (libcontainer/user, GetExecUser). */
export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary groups: what umoci writes as additionalGids, and runc gives setgroups(2). */
  groups: number[];
  home: string;
}

/** "name", "uid", "name:group", "uid:gid" or "" (root), looked up in the image's /etc/passwd
 *  and /etc/group. A number is always an id, never a name. */
export function lookUpUser(user: string): ExecUser {
  const [who = '', group = ''] = user.split(':');
  const isId = (s: string) => /^\d+$/.test(s);
  const lines = (file: string) => readFileOr(file).split('\n').map((line) => line.split(':'));
  // "name:x:uid:gid:comment:home:shell" (man 5 passwd); no user at all means uid 0.
  const account = lines('/etc/passwd').find((f) => (isId(who || '0') ? f[2] !== undefined && Number(f[2]) === Number(who || 0) : f[0] === who));
  if (!account && !isId(who || '0')) throw new UserError(`user "${who}" not found in the image's /etc/passwd`);
  // A uid with no entry gets gid 0 and HOME=/, as with runc and docker.
  const uid = Number(account?.[2] ?? (who || 0));
  let gid = Number(account?.[3] ?? 0);
  const home = account ? (account[5] ?? '') : '/';
  // "name:x:gid:member,member" (man 5 group).
  const groupLines = lines('/etc/group');
  if (group) {
    const g = groupLines.find((f) => (isId(group) ? f[2] !== undefined && Number(f[2]) === Number(group) : f[0] === group));
    if (!g && !isId(group)) throw new UserError(`group "${group}" not found in the image's /etc/group`);
    gid = Number(g?.[2] ?? group);
    return { uid, gid, groups: [], home }; // an explicit group is the only one: no supplementary groups
  }
  // Supplementary groups: every group that lists the user's name as a member.
  const groups = account ? groupLines.filter((f) => (f[3] ?? '').split(',').includes(account[0]!)).map((f) => Number(f[2])) : [];
  return { uid, gid, groups, home };
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

//< images..
/** Look the command up in PATH inside the rootfs, as a shell would. execve(2) itself does
 *  no search. Sync calls only: they run on this thread, the one whose root we changed. */
export function findProgram(command: string, path: string): string {
  const candidates = command.includes('/') ? [command] : path.split(':').map((dir) => `${dir}/${command}`);
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      throw new UserError(`permission denied: ${command} is not executable`, 126);
    }
    return candidate;
  }
  throw new UserError(`command not found in the rootfs: ${command}`, 127);
}
//> namespaces..

// ---------------------------------------------------------------- exec: enter a running container

/** The namespaces `exec` joins, and the order: mnt last, because once we are in the
 *  container's mount namespace the host's /proc/PID/ns paths are out of sight. */
const JOINED_NAMESPACES = [
  ['uts', CLONE.CLONE_NEWUTS],
  ['ipc', CLONE.CLONE_NEWIPC],
  ['net', CLONE.CLONE_NEWNET],
//< namespaces..
  //> cgroups..
  ['cgroup', CLONE.CLONE_NEWCGROUP],
  //< cgroups..
//> namespaces..
  ['mnt', CLONE.CLONE_NEWNS],
] as const;

//> ..namespaces
//| /** Engine side of `exec`: join the PID namespace (it applies to our next child), then start a
//|  *  child stage that joins the others and execs the command. */
//| export function execInContainer(pid: number, argv: string[]): Promise<number> {
//< ..namespaces
//> cgroups..distribution
//| /** Engine side of `exec`: join the PID namespace (it applies to our next child), then start a
//|  *  child stage that joins the others; move it into the container's cgroup while it waits, so
//|  *  what it runs counts against the container's limits. */
//< cgroups..distribution
//> security..
/** Engine side of `exec`: start a child stage that joins the container's namespaces and starts
 *  the command; move it into the container's cgroup while it waits, so that the command counts
 *  against the container's limits. The child stage is never in the container's PID namespace:
 *  see enterContainer. */
//< security..
//> cgroups..unionfs
//| export async function execInContainer(pid: number, cgroup: Cgroup, argv: string[]): Promise<number> {
//< cgroups..unionfs
//> images..lifecycle
//| export async function execInContainer(pid: number, cgroup: Cgroup, spec: ProcessSpec): Promise<number> {
//< images..lifecycle
//> terminals..network
//| export async function execInContainer(pid: number, cgroup: Cgroup, spec: ProcessSpec, tty = false): Promise<number> {
//< terminals..network
//> daemon..
export async function execInContainer(pid: number, cgroup: Cgroup, spec: ProcessSpec, tty = false, streams?: ExecStreams): Promise<number> {
//< daemon..
  //> ..distribution
  //| joinNamespace(pid, 'pid', CLONE.CLONE_NEWPID, 'the process we start next will be in the container\'s PID namespace');
  //< ..distribution
  //> ..namespaces
  //| const child = startChildStage('exec', { pid, argv });
  //< ..namespaces
  //> cgroups..unionfs
  //| const child = startChildStage('exec', { pid, argv }, true);
  //< cgroups..unionfs
  //> images..network
  //| const child = startChildStage('exec', { pid, ...spec }, true);
  //< images..network
  //> daemon..
  const child = startChildStage('exec', { pid, ...spec }, true, streams ? ['pipe', 'pipe', 'pipe'] : undefined);
  //< daemon..
  //> cgroups..network
  //| const ended = exitCodeOf(child);
  //< cgroups..network
  //> ..network
  //| const signals = forwardSignals(child, 10);
  //< ..network
  //> daemon..
  const ended = streams ? connectStreams(child, streams, tty) : exitCodeOf(child);
  // The daemon's signals are its own: a SIGTERM that stops the daemon must not reach the commands
  // it has exec'd for clients (they are the containers' processes).
  const signals = streams ? { exitCode: (code: number) => code } : forwardSignals(child, 10);
  //< daemon..
  //> ..namespaces
  //| return exitCodeOf(child).then(signals.exitCode);
  //< ..namespaces
  //> cgroups..
  if (!(await childIsReady(child))) return ended;
  cgroup.join(child.pid!);
  //< cgroups..
  //> cgroups..lifecycle
  //| sendGo(child);
  //| return signals.exitCode(await ended);
  //< cgroups..lifecycle
  //> terminals..
  //> terminals..terminals
  //| const pty = tty ? openPty(`/proc/${pid}/root`) : undefined; // a new terminal in the container's devpts
  //| const terminal = pty && attachTerminal(pty.master);
  //| try {
  //|   sendGo(child, pty?.slavePath);
  //|   const code = signals.exitCode(await ended);
  //|   await terminal?.finish();
  //|   return code;
  //| } finally {
  //|   terminal?.detach();
  //| }
  //< terminals..terminals
  //> distribution..
  let terminal: AttachedTerminal | undefined;
  try {
    const pty = tty ? openPty(`/proc/${pid}/root`) : undefined; // a new terminal in the container's devpts
    //> distribution..network
    //| terminal = pty && attachTerminal(pty.master);
    //< distribution..network
    //> daemon..
    terminal = pty && attachTerminal(pty.master, streams && { input: streams.stdin, output: streams.stdout });
    if (terminal) streams?.onTerminal?.(terminal);
    //< daemon..
    sendGo(child, pty?.slavePath);
    const code = signals.exitCode(await ended);
    await terminal?.finish();
    return code;
  } finally {
    terminal?.detach();
    // Failed before "go" (no terminal to be had): the child stage still waits for it, and its
    // pipe would keep this engine running. (Exercise 07-5 asks for this in chapter 07.)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  //< distribution..
  //< terminals..
}

//> daemon..
/** Where `exec`'s command reads and writes when they are not the engine's own stdin, stdout and
 *  stderr: the daemon's connection to a client (console.ts, execWithStreams). */
export interface ExecStreams {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Given the terminal once there is one (-t), to resize it. */
  onTerminal?(terminal: AttachedTerminal): void;
}

/** The child stage's stdin, stdout and stderr are pipes, copied to and from `streams`; the
 *  command inherits them. It has ended at 'close', not 'exit': once its last byte of output
 *  has been passed on. With -t they carry only what the child stage says before the command
 *  takes the terminal (its set-up errors). */
function connectStreams(child: ChildProcess, streams: ExecStreams, tty: boolean): Promise<number> {
  child.stdout!.pipe(streams.stdout, { end: false });
  child.stderr!.pipe(streams.stderr, { end: false });
  child.stdin!.on('error', () => {}); // EPIPE: the command ended before its input did
  if (tty) child.stdin!.end(); // the keys go to the terminal (attachTerminal)
  else streams.stdin.pipe(child.stdin!); // the input's end is the end of the command's stdin
  return new Promise((done) => child.once('close', (code, signal) => done(signal ? 128 + os.signals[signal] : (code ?? 0))));
}

//< daemon..
//> ..distribution
//| /** Child side of `exec`: join the running container's namespaces, then become the command. */
//< ..distribution
//> ..unionfs
//| export function enterContainer(config: { pid: number; argv: string[] }): never {
//< ..unionfs
//> images..distribution
//| export function enterContainer(config: ProcessSpec & { pid: number }): never {
//< images..distribution
//> security..
/** Child side of `exec`: join the running container's namespaces, then start the command.
 *
 *  We are a Node process of the host: its root, working directory, environment, descriptors and
 *  the node binary. Whatever can see a process in its PID namespace can reach all of these
 *  through /proc/PID/{root,cwd,environ,fd,exe} and ptrace(2), as long as the process is
 *  "dumpable" (or the one who looks holds CAP_SYS_PTRACE). Up to chapter 08 the engine joined the
 *  container's PID namespace before it started us, so we were in it from our first instruction,
 *  dumpable, while Node started: a root process in the container could walk through
 *  /proc/<our PID>/root into the host's "/". Now the order is the kernel's:
 *    1. not dumpable, first: the children we start inherit it, and keep it until their execve(2);
 *    2. join every namespace. setns(2) of a PID namespace never moves the caller, only the
 *       children it starts next, so we stay invisible in the container; the mount namespace
 *       last, as it takes the host's /proc (and its /proc/PID/ns files) out of our sight;
 *    3. prepare the command (user, capabilities, descriptors), then start it as our child: the
 *       first process of ours the container can see, with its root, working directory and
 *       namespaces already the container's, and not dumpable until execve(2) makes it the
 *       container's program. We wait for it and pass its exit code on. */
export function enterContainer(config: ProcessSpec & { pid: number }): Promise<number> {
  setDumpable(false, 'nobody without CAP_SYS_PTRACE may look into us, or into the children we start, until they execve(2)');
  joinNamespace(config.pid, 'pid', CLONE.CLONE_NEWPID, 'only for the children we start: the command will be in the container\'s PID namespace, we never are');
//< security..
  unshare(CLONE.CLONE_FS, 'setns(2) into a mount namespace refuses a thread that shares its root and cwd with others');
  for (const [ns, flag] of JOINED_NAMESPACES) joinNamespace(config.pid, ns, flag, `see the container's ${ns}`);
  chdir('/', 'joining a mount namespace moved our root: start at it');
  //> cgroups..
  writeSync(SYNC_FD, 'ready');
  //< cgroups..
  //> cgroups..lifecycle
  //| waitForGo();
  //< cgroups..lifecycle
  //> ..unionfs
  //| return execCommand(config.argv);
  //< ..unionfs
  //> terminals..
  const terminal = waitForGo();
  if (terminal) becomeControllingTerminal(terminal);
  //< terminals..
  //> images..distribution
  //| return execCommand(config);
  //< images..distribution
  //> security..
  return spawnCommand(config);
  //< security..
}
//> security..

/** `exec`'s last step: the command as a child of ours (see enterContainer), with the same
 *  stdin, stdout and stderr, and only the container's environment (which its spec holds, -e
 *  included). We stay to wait for it, and pass on the signals the engine forwards to us. */
function spawnCommand(spec: ProcessSpec): Promise<number> {
  const command = prepareCommand(spec);
  const env = Object.fromEntries(command.env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  traceStep(`spawn ${command.program} ${JSON.stringify(command.argv)}`, 'the command becomes our child: the first process of ours in the container\'s PID namespace');
  const child = spawn(command.program, command.argv.slice(1), { argv0: command.argv[0], env, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(signal, () => child.kill(signal));
  return exitCodeOf(child);
}
//< security..

function joinNamespace(pid: number, ns: string, flag: number, why: string): void {
  const path = `/proc/${pid}/ns/${ns}`;
  const fd = openSync(path, 'r');
  try {
    setns(fd, flag, why, path);
  } finally {
    closeSync(fd);
  }
}
//< namespaces..
