/** Chapter 02 · namespaces: the container gets its own hostname (UTS), IPC objects, PIDs,
 *  mounts and network, and a root that cannot be walked out of (pivot_root instead of chroot).
 *  The engine unshares the PID namespace before it spawns the child stage, because a new PID
 *  namespace only ever applies to children; the child stage unshares the rest itself, builds
 *  the root filesystem, tells the engine it is ready and waits for a "go" on a pipe before it
 *  execve(2)s the command — which then is PID 1.                       Lesson: docs/02-namespaces.md */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, readSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { constants as os } from 'node:os';
import { extname, resolve } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { forgetContainer, recordContainer } from './state.ts';
import {
  chdir, closeFromOnExec, CLONE, dieWithParent, execve, S_IFCHR, interfaceUp, keepOpenAcrossExec, mknod, mount, MNT_DETACH, MS, pivotRoot, sethostname, setns, umount2, unshare,
} from './syscalls.ts';

/** What the engine hands to the child stage (as a JSON line on the sync socket, fd 3). */
export interface ContainerConfig {
  rootfs: string;
  argv: string[];
  hostname: string;
  name?: string;
  /** Seconds a PID 1 that ignores SIGTERM gets before SIGKILL. */
  stopTimeout?: number;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Our own entry point: main.ts under tsx, main.js once compiled (npm run build). */
const THIS_PROGRAM = new URL(`./main${extname(import.meta.url)}`, import.meta.url).pathname;
/** The sync pipe is the child stage's fd 3 (after stdin, stdout, stderr). */
const SYNC_FD = 3;

// ---------------------------------------------------------------- engine (host side)

/** Start the container and return its exit code (128+signal if it was killed). */
export async function runContainer(config: ContainerConfig): Promise<number> {
  throw new Error('TODO (chapter 02): runContainer() changes in this chapter: write it again, as the comment above it says');
}

/** A rootfs must be a directory: say so in one line rather than let chroot(2) say ENOTDIR. */
export function checkRootfs(rootfs: string): string {
  const path = resolve(rootfs);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new UserError(`rootfs not accessible: ${rootfs} (permission denied — are you root?)`);
    throw new UserError(`rootfs not found: ${rootfs}`);
  }
  if (!isDir) throw new UserError(`rootfs is not a directory: ${rootfs}`);
  return path;
}

/** 12 random hex digits, like docker's short container ids: the default hostname. */
export function generateId(): string {
  throw new Error('TODO (chapter 02): write generateId(), as the comment above it says');
}

/** Re-execute this program as the child stage. Node has helper threads, and fork(2) from a
 *  multi-threaded process copies only the calling thread, so we start a fresh process
 *  (the same node binary, the same loader flags) instead. stdio is passed straight through;
 *  with `sync`, fd 3 is a socket pair that the two stages talk over, and the configuration
 *  goes over it too. */
export function startChildStage(stage: string, config: object, sync = false): ChildProcess {
  // Not on the command line when there is a socket: every user of the host reads command lines
  // (ps, /proc/PID/cmdline), and from chapter 05 on the configuration holds -e passwords.
  // The child stage makes no TLS connection: spare it the reading of extra CA
  // certificates that Node does as it starts (~35 ms where NODE_EXTRA_CA_CERTS is set).
  // The first line on the socket, which only the two stages hold: the stage reads it before
  // anything else (lib/cli.ts), then "ready" and "go" follow as before.
  throw new Error('TODO (chapter 02): startChildStage() changes in this chapter: write it again, as the comment above it says');
}

/** Wait until the child stage writes "ready" on the sync pipe; false if it exits instead
 *  (its set-up failed, and it has printed why). */
function childIsReady(child: ChildProcess): Promise<boolean> {
  throw new Error('TODO (chapter 02): write childIsReady(), as the comment above it says');
}

function sendGo(child: ChildProcess): void {
  throw new Error('TODO (chapter 02): write sendGo()');
}

/** Ctrl-C and `kill` reach the engine; pass them on so the container ends first. A PID 1
 *  gets no signal it has no handler for (the kernel protects a namespace's init), so a
 *  command that ignores SIGTERM is killed after `stopTimeout` seconds, like `docker stop`. */
function forwardSignals(child: ChildProcess, stopTimeout: number) {
  throw new Error('TODO (chapter 02): forwardSignals() changes in this chapter: write it again, as the comment above it says');
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
  // TODO (02): call dieWithParent() (1 line in the chapter)
  prepareContainer(config);
  // TODO (02): call writeSync(), waitForGo() (2 lines in the chapter)
  return execCommand(config.argv);
}

/** The whole isolation recipe of chapter 02, in order. We are PID 1 of a new PID namespace. */
export function prepareContainer(config: ContainerConfig): void {
  throw new Error('TODO (chapter 02): prepareContainer() changes in this chapter: write it again, as the comment above it says');
}

/** A directory to mount on, in the new root. A small image need not have one (FROM scratch with
 *  one static binary has no /proc, /dev or /sys): make it, as runc does. mkdir(2) never follows
 *  a symlink (EEXIST), and lstat(2) then says what is there. mount(2) would follow a symlink the
 *  image put at /proc and mount somewhere else; runc refuses such a mount point, and so do we. */
function makeMountPoint(path: string): void {
  throw new Error('TODO (chapter 02): write makeMountPoint(), as the comment above it says');
}

/** /proc shows the PID namespace of the process that mounted it, so it is mounted from in here. */
function mountProc(): void {
  throw new Error('TODO (chapter 02): write mountProc(), as the comment above it says');
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
  throw new Error('TODO (chapter 02): write mountDev(), as the comment above it says');
}

/** Block until the engine writes "go" on the sync pipe (a blocking read on this thread). */
function waitForGo(): void {
  throw new Error('TODO (chapter 02): write waitForGo(), as the comment above it says');
}

/** Replace the child stage with the user's command, found inside the rootfs. */
export function execCommand(argv: string[]): never {
  const env = [`PATH=${DEFAULT_PATH}`, 'HOME=/root', `TERM=${process.env.TERM ?? 'xterm'}`];
  const program = findProgram(argv[0]!, DEFAULT_PATH);
  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd, 'Node marks stdio close-on-exec; the command needs it open');
  // Any other descriptor that whoever started the engine left open without FD_CLOEXEC has come
  // through the engine and us (Node marks only 0 to 15 as it starts, and stops at the first
  // gap), and one on a host directory leads out of the container: /proc/self/fd/N/.. or
  // fchdir(2). Close-on-exec rather than close: Node still needs its own until execve(2) works.
  closeFromOnExec(3, 'the command starts with stdin, stdout and stderr only: nothing of the host comes along');
  return execve(program, argv, env, 'become the command: same PID, new program');
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
  ['mnt', CLONE.CLONE_NEWNS],
] as const;

/** Engine side of `exec`: join the PID namespace (it applies to our next child), then start a
 *  child stage that joins the others and execs the command. */
export function execInContainer(pid: number, argv: string[]): Promise<number> {
  throw new Error('TODO (chapter 02): write execInContainer(), as the comment above it says');
}

/** Child side of `exec`: join the running container's namespaces, then become the command. */
export function enterContainer(config: { pid: number; argv: string[] }): never {
  throw new Error('TODO (chapter 02): write enterContainer(), as the comment above it says');
}

function joinNamespace(pid: number, ns: string, flag: number, why: string): void {
  throw new Error('TODO (chapter 02): write joinNamespace()');
}
