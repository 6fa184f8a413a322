/** Chapter 07 · terminals: the container of chapter 06, whose process can have a terminal of
 *  its own (-t): a pseudo-terminal made in the container's devpts, which the engine copies to and
 *  from the user's terminal, and which the child stage makes its controlling terminal.
 *  Lesson: docs/07-terminals.md   (lifecycle: docs/06-lifecycle.md, images: docs/05-images.md,
 *  overlay: docs/04-unionfs.md, cgroups: docs/03-cgroups.md, namespaces: docs/02-namespaces.md) */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, symlinkSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants as os } from 'node:os';
import { extname, resolve } from 'node:path';
import { SyscallError, UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { detectCgroups, type Cgroup, type Limits, type Usage } from './cgroups.ts';
import { mountOverlay } from './overlay.ts';
import { readRecordedState, recordExited, recordRunning } from './state.ts';
import type { ContainerDirs } from './storage.ts';
import { attachTerminal, becomeControllingTerminal, openPty, type AttachedTerminal } from './tty.ts';
import { formatBytes } from './units.ts';
import {
  becomeUser, chdir, closeFromOnExec, CLONE, dieWithParent, execve, S_IFCHR, interfaceUp, keepOpenAcrossExec, mknod, mount, MNT_DETACH, MS, pivotRoot, sethostname, setns, umount2, unshare,
  mkdirat, O_CLOEXEC, O_PATH, openat, openat2, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS,
} from './syscalls.ts';

/** The process a container runs: the command, its environment, where it starts and as whom
 *  (from the image's config, and -e, -w, -u). `exec` runs another with the same settings. */
export interface ProcessSpec {
  argv: string[];
  env: string[];
  workdir: string;
  user?: string;
}

/** What the engine hands to the child stage (as a JSON line on the sync socket, fd 3). */
export interface ContainerConfig extends ProcessSpec {
  /** The merged view of the layers: the overlay's mount point, and the container's "/". */
  rootfs: string;
  /** The image layers, bottom first, and the container's own upper and work dirs; volatile
   *  when the upper dir is thrown away at the end (overlay.ts, mountVolatile). */
  layers: { lowerDirs: string[]; upperDir: string; workDir: string; volatile?: boolean };
  hostname: string;
  /** A detached container outlives the engine that started it (`run -d`). */
  detached?: boolean;
  /** Remove the container when it exits (`run --rm`); the monitor does it for `run -d --rm`. */
  autoRemove?: boolean;
  /** Give the command a pseudo-terminal of the container's own (`run -t`). */
  tty?: boolean;
  /** Host directories or files shown inside (`-v host:container[:ro]`). */
  volumes?: Volume[];
  /** Seconds a PID 1 that ignores SIGTERM gets before SIGKILL. */
  stopTimeout?: number;
  limits: Limits;
  /** Print what the container used when it ends. */
  stats?: boolean;
}

/** The PATH of a process whose image sets none (docker's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Our own entry point: main.ts under tsx, main.js once compiled (npm run build). */
const THIS_PROGRAM = new URL(`./main${extname(import.meta.url)}`, import.meta.url).pathname;
/** The sync pipe is the child stage's fd 3 (after stdin, stdout, stderr). */
const SYNC_FD = 3;

// ---------------------------------------------------------------- engine (host side)

/** Start the container and return its exit code (128+signal if it was killed). */
export async function runContainer(config: ContainerConfig, dirs: ContainerDirs): Promise<number> {
  // -t: a pseudo-terminal in the container's own devpts (its /dev/pts is mounted by now);
  // the engine keeps the master end and copies between it and our terminal.
  throw new Error('TODO (chapter 07): runContainer() changes in this chapter: write it again, as the comment above it says');
}

/** After the container ends: say if the OOM killer ended it, and (with --stats) what it used. */
function reportUsage(usage: Usage, code: number, all = false): void {
  const limit = usage.memoryLimitBytes === undefined ? 'no limit' : `limit ${formatBytes(usage.memoryLimitBytes)}`;
  if (usage.oomKilled && code === 137) process.stderr.write(`nutshell: killed: out of memory (${limit})\n`);
  if (!all) return;
  const peak = usage.memoryPeakBytes === undefined ? 'unknown' : formatBytes(usage.memoryPeakBytes);
  process.stderr.write(`nutshell: used: CPU ${(usage.cpuNanos / 1e9).toFixed(2)} s, peak memory ${peak} (${limit})${usage.oomKilled ? ', OOM killer struck' : ''}\n`);
}

/** 12 random hex digits, like docker's short container ids: the default hostname. */
export function generateId(): string {
  return randomBytes(6).toString('hex');
}

/** Re-execute this program as the child stage. Node has helper threads, and fork(2) from a
 *  multi-threaded process copies only the calling thread, so we start a fresh process
 *  (the same node binary, the same loader flags) instead. stdio is passed straight through;
 *  with `sync`, fd 3 is a socket pair that the two stages talk over, and the configuration
 *  goes over it too. */
export function startChildStage(stage: string, config: object, sync = false): ChildProcess {
  // Not on the command line when there is a socket: every user of the host reads command lines
  // (ps, /proc/PID/cmdline), and from chapter 05 on the configuration holds -e passwords.
  const argv = [...process.execArgv, THIS_PROGRAM, `__${stage}`, ...(sync ? [] : [JSON.stringify(config)])];
  traceStep(`spawn ${process.execPath} ${THIS_PROGRAM} __${stage}`, 're-exec ourselves as the child stage');
  const child = spawn(process.execPath, argv, {
    stdio: sync ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit',
    // The child stage makes no TLS connection: spare it the reading of extra CA
    // certificates that Node does as it starts (~35 ms where NODE_EXTRA_CA_CERTS is set).
    env: { ...process.env, NUTSHELL_STAGE: stage, NODE_EXTRA_CA_CERTS: undefined },
  });
  // The first line on the socket, which only the two stages hold: the stage reads it before
  // anything else (lib/cli.ts), then "ready" and "go" follow as before.
  if (sync) (child.stdio[SYNC_FD] as NodeJS.WritableStream).write(`${JSON.stringify(config)}\n`);
  return child;
}

/** `run -d`: the engine starts a copy of itself in the background — a monitor, in a session
 *  of its own so that the terminal's Ctrl-C and hang-up do not reach it — which runs the
 *  container exactly as `run` does, with stdout and stderr going to the container's log file. */
export function startMonitor(config: ContainerConfig, dirs: ContainerDirs): ChildProcess {
  const log = openSync(dirs.logFile, 'a');
  // Its command line names the container, for ps; the configuration, -e values and all, goes
  // over a socket on its fd 3, as a child stage's does: a command line is everybody's to read.
  const argv = [...process.execArgv, THIS_PROGRAM, '__monitor', dirs.spec.id];
  traceStep(`spawn ${process.execPath} ${THIS_PROGRAM} __monitor ${dirs.spec.id} (detached)`, 'a background engine that waits for the container and records how it ends');
  const monitor = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', log, log, 'pipe'], env: { ...process.env, NUTSHELL_STAGE: 'monitor' } });
  closeSync(log);
  const socket = monitor.stdio[SYNC_FD] as Socket;
  socket.end(`${JSON.stringify({ config, id: dirs.spec.id })}\n`);
  // Neither the monitor nor our socket to it may keep `run -d` waiting. The line is sent all the
  // same: runDetached() waits until the container runs, and the monitor has read it by then.
  socket.unref();
  monitor.unref();
  return monitor;
}

/** Wait until the child stage writes "ready" on the sync pipe; false if it exits instead
 *  (its set-up failed, and it has printed why). */
function childIsReady(child: ChildProcess): Promise<boolean> {
  const pipe = child.stdio[SYNC_FD] as NodeJS.ReadableStream;
  return new Promise((done) => {
    pipe.once('data', (data: Buffer) => done(data.toString() === 'ready'));
    child.once('exit', () => done(false));
  });
}

/** "go" — with -t, followed by the name of the terminal the command is to have. */
function sendGo(child: ChildProcess, terminal?: string): void {
  throw new Error('TODO (chapter 07): sendGo() changes in this chapter: write it again, as the comment above it says');
}

/** Ctrl-C and `kill` reach the engine; pass them on so the container ends first. A PID 1
 *  gets no signal it has no handler for (the kernel protects a namespace's init), so a
 *  command that ignores SIGTERM is killed after `stopTimeout` seconds, like `docker stop`. */
function forwardSignals(child: ChildProcess, stopTimeout: number) {
  let forced: NodeJS.Signals | undefined;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    process.on(signal, () => {
      child.kill(signal);
      setTimeout(() => {
        process.stderr.write(`nutshell: PID 1 ignored ${signal} (it has no handler for it): killed after ${stopTimeout}s\n`);
        forced = signal;
        child.kill('SIGKILL');
      }, stopTimeout * 1000).unref();
    });
  }
  return {
    /** A container we had to kill ends as if the signal it ignored had worked. */
    exitCode: (code: number) => (forced ? 128 + os.signals[forced] : code),
  };
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
  // A detached container must outlive the engine that started it: `stop` and `rm` find it by
  // its PID later. One in the foreground goes with its engine, which is its only way out.
  throw new Error('TODO (chapter 07): containerInit() changes in this chapter: write it again, as the comment above it says');
}

/** The whole isolation recipe of chapter 02, in order. We are PID 1 of a new PID namespace. */
export function prepareContainer(config: ContainerConfig): void {
  unshare(
    CLONE.CLONE_NEWNS | CLONE.CLONE_NEWUTS | CLONE.CLONE_NEWIPC | CLONE.CLONE_NEWNET,
    'our own mount table, hostname, IPC objects and network stack',
  );
  sethostname(config.hostname, 'only this UTS namespace sees the new name');
  mount(null, '/', null, MS.MS_REC | MS.MS_PRIVATE, null, 'the host\'s "/" is shared: without this our mounts would appear on the host');
  // The overlay mount is a mount point already, as pivot_root(2) wants: no bind mount needed.
  mountOverlay({ ...config.layers, target: config.rootfs });
  for (const volume of config.volumes ?? []) bindVolume(config.rootfs, volume);
  chdir(config.rootfs, 'pivot_root(".", ".") below works on the current directory');
  pivotRoot('.', '.', 'the rootfs becomes "/"; the old root is stacked on top of it, at "/"');
  umount2('.', MNT_DETACH, 'peel the old root off: nothing of the host\'s tree is reachable any more');
  chdir('/', 'start at the new root');
  for (const mountPoint of ['/proc', '/dev', '/sys']) makeMountPoint(mountPoint); // all checked before the first mount
  mountProc();
  mountDev();
  mount('sysfs', '/sys', 'sysfs', MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, null, 'a read-only /sys that shows this network namespace');
  interfaceUp('lo', 'a new network namespace has only a loopback interface, and it is down');
}

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
function waitForGo(): string | undefined {
  throw new Error('TODO (chapter 07): waitForGo() changes in this chapter: write it again, as the comment above it says');
}

/** Replace the child stage with the image's process, found inside the rootfs. */
export function execCommand(spec: ProcessSpec): never {
  mkdirSync(spec.workdir, { recursive: true }); // docker makes a missing WorkingDir too
  chdir(spec.workdir, 'the image\'s WorkingDir (or -w)');
  const path = spec.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const program = findProgram(spec.argv[0]!, path);
  // As runc does, always: even root gets the groups /etc/group gives it, not the engine's.
  const user = lookUpUser(spec.user ?? '');
  becomeUser(user.uid, user.gid, user.groups, spec.user ? `the image runs as "${spec.user}"` : 'the image names no User: root, as the image sees it');
  // HOME comes from the user's passwd line, unless the image's Env or -e set it (runc, docker).
  const env = spec.env.some((e) => /^HOME=./.test(e)) ? spec.env : [...spec.env.filter((e) => !e.startsWith('HOME=')), `HOME=${user.home}`];
  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd, 'Node marks stdio close-on-exec; the command needs it open');
  // Any other descriptor that whoever started the engine left open without FD_CLOEXEC has come
  // through the engine and us (Node marks only 0 to 15 as it starts, and stops at the first
  // gap), and one on a host directory leads out of the container: /proc/self/fd/N/.. or
  // fchdir(2). Close-on-exec rather than close: Node still needs its own until execve(2) works.
  closeFromOnExec(3, 'the command starts with stdin, stdout and stderr only: nothing of the host comes along');
  return execve(program, spec.argv, env, 'become the command: same PID, new program');
}

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

// ---------------------------------------------------------------- exec: enter a running container

/** The namespaces `exec` joins, and the order: mnt last, because once we are in the
 *  container's mount namespace the host's /proc/PID/ns paths are out of sight. */
const JOINED_NAMESPACES = [
  ['uts', CLONE.CLONE_NEWUTS],
  ['ipc', CLONE.CLONE_NEWIPC],
  ['net', CLONE.CLONE_NEWNET],
  ['cgroup', CLONE.CLONE_NEWCGROUP],
  ['mnt', CLONE.CLONE_NEWNS],
] as const;

/** Engine side of `exec`: join the PID namespace (it applies to our next child), then start a
 *  child stage that joins the others; move it into the container's cgroup while it waits, so
 *  what it runs counts against the container's limits. */
export async function execInContainer(pid: number, cgroup: Cgroup, spec: ProcessSpec, tty = false): Promise<number> {
  throw new Error('TODO (chapter 07): execInContainer() changes in this chapter: write it again, as the comment above it says');
}

/** Child side of `exec`: join the running container's namespaces, then become the command. */
export function enterContainer(config: ProcessSpec & { pid: number }): never {
  unshare(CLONE.CLONE_FS, 'setns(2) into a mount namespace refuses a thread that shares its root and cwd with others');
  for (const [ns, flag] of JOINED_NAMESPACES) joinNamespace(config.pid, ns, flag, `see the container's ${ns}`);
  chdir('/', 'joining a mount namespace moved our root: start at it');
  writeSync(SYNC_FD, 'ready');
  // TODO (07): call waitForGo(), becomeControllingTerminal() (2 lines in the chapter)
  return execCommand(config);
}

function joinNamespace(pid: number, ns: string, flag: number, why: string): void {
  const path = `/proc/${pid}/ns/${ns}`;
  const fd = openSync(path, 'r');
  try {
    setns(fd, flag, why, path);
  } finally {
    closeSync(fd);
  }
}
