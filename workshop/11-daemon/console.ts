/** Chapter 11 · a container's console: what it prints and what it reads, held where the daemon
 *  can die without them. Clients (docker attach, run -it, logs -f) reach a container through the
 *  daemon, and the daemon may restart while the container runs: so the container's ends of its
 *  streams belong to its monitor (container.ts, startMonitor), never to the daemon.
 *    - stdout and stderr go to two files in the container's directory (storage.ts), which
 *      followOutput() reads from any offset, and follows while the container runs;
 *    - with -t the monitor keeps the pty's master and serves it on <dir>/console.sock (tty.ts,
 *      serveConsole): the output to every connection, every connection's bytes to the master;
 *      with -i and no -t, the command's stdin is a pipe that it feeds from that socket, and
 *      connectConsole() is the daemon's way in;
 *    - resizeTerminal() sets the window size through the pty's slave, from the host;
 *    - execWithStreams() is `exec` for the daemon: the command's streams are a client's. */
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, statSync, watch } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../lib/errors.ts';
import type { Cgroup } from './cgroups.ts';
import { execInContainer, type ProcessSpec } from './container.ts';
import { readState } from './state.ts';
import type { ContainerDirs } from './storage.ts';
import { setWindowSize, type AttachedTerminal, type WindowSize } from './tty.ts';
import { O_CLOEXEC, openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } from './syscalls.ts';

/** The most of a log file read at once: a log is the container's to make gigabytes long. */
const CHUNK_BYTES = 64 * 1024;
/** How often a followed log is looked at again when no change has been reported. */
const FOLLOW_MS = 200;

/** A waiter woken as soon as anything in the container's directory changes: inotify(7), through
 *  fs.watch, reports a log file appended to and state.json replaced as the container ends. A
 *  timer alone would see the end up to its period late, and `docker run --rm` waits for that
 *  (the daemon removes the container once its output has been read to the end). The timer
 *  stays, as the fallback for what inotify does not report, such as a directory removed under
 *  us. A change reported while nobody waits is kept for the next wait. */
export interface ChangeWaiter {
  /** Resolve at the next change (or at once if one came since the last call), after `ms`, or on abort. */
  next(ms: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

export function watchContainer(dirs: ContainerDirs): ChangeWaiter {
  // already gone: the timer alone
  throw new Error('TODO (chapter 11): write watchContainer()');
}
/** Unix98 pty slaves are character devices of majors 136 to 143 (Documentation/admin-guide/devices.txt). */
const PTY_SLAVE_MAJORS = [136, 143];

// ---------------------------------------------------------------- output: the two log files

export interface FollowOptions {
  /** 'start': everything the container wrote; 'end': only what it writes from now on. */
  from: 'start' | 'end';
  /** Go on until the container has ended (docker logs -f, attach), or stop at the files' ends. */
  follow: boolean;
  /** 1 for stdout, 2 for stderr. A chunk is the caller's to keep. A promise slows the copy down
   *  to the reader's pace, instead of piling the log up in memory. */
  onChunk(stream: 1 | 2, chunk: Buffer): void | Promise<void>;
  signal?: AbortSignal;
}

/** Copy what the container wrote, stdout's file and stderr's, to `onChunk`, as tail -f does:
 *  by offset, a chunk at a time, each look copying only what was appended since. Following ends
 *  once the container has (or its directory is gone), after what it wrote last. Two files keep
 *  the streams apart, not the order between them: a line on stderr may come before the stdout
 *  line that was written first. */
export async function followOutput(dirs: ContainerDirs, options: FollowOptions): Promise<void> {
  throw new Error('TODO (chapter 11): write followOutput(), as the comment above it says');
}

/** Still running, or still starting ('created'): its monitor may write more. */
function isRunning(dirs: ContainerDirs): boolean {
  throw new Error('TODO (chapter 11): write isRunning(), as the comment above it says');
}

function sizeOf(path: string): number {
  throw new Error('TODO (chapter 11): write sizeOf()');
}

/** Copy `path` from `offset` up to its size now; return the new offset. pread(2) reads at the
 *  offset we give, not at the file's position, and the size bounds this look: what is appended
 *  meanwhile waits for the next one. A file shorter than our offset was truncated (the
 *  container may ftruncate(2) its log): start again at 0, as tail -f does. */
async function copyAppended(path: string, offset: number, onChunk: (chunk: Buffer) => void | Promise<void>, aborted: () => boolean): Promise<number> {
  throw new Error('TODO (chapter 11): write copyAppended(), as the comment above it says');
}

// ---------------------------------------------------------------- input, and a terminal: console.sock
// The monitor serves it (tty.ts, serveConsole); the daemon connects.

/** Client side (the daemon): connect to a container's console.sock. Its monitor makes the socket
 *  just after the container starts, so wait for it, up to 10 s, unless the container ends first. */
export async function connectConsole(dirs: ContainerDirs): Promise<Socket> {
  // not listening yet (ECONNREFUSED), or a socket file left by a dead monitor
  throw new Error('TODO (chapter 11): write connectConsole(), as the comment above it says');
}

function connectTo(path: string): Promise<Socket> {
  throw new Error('TODO (chapter 11): write connectTo()');
}

/** docker's resize: set the window size of a container's terminal (-t, held by its monitor).
 *  The kernel then sends SIGWINCH to the terminal's foreground process group (tty.ts). The
 *  monitor holds the slave open as well, so our close is never the last one, which would hang
 *  the terminal up (serveConsole). */
export function resizeTerminal(dirs: ContainerDirs, rows: number, columns: number): void {
  throw new Error('TODO (chapter 11): write resizeTerminal(), as the comment above it says');
}

/** TIOCSWINSZ on either end of a pty sets the same window size. The slave, by the name the
 *  container sees, is reached from the host through /proc/PID/root; RESOLVE_IN_ROOT keeps every
 *  step inside the container's root, so a symlink put in its /dev cannot lead us to a host file.
 *  O_NOCTTY: opening a terminal must never make it ours (the daemon's controlling terminal). */
function resizeSlave(pid: number, slavePath: string, rows: number, columns: number): void {
  throw new Error('TODO (chapter 11): write resizeSlave(), as the comment above it says');
}

// ---------------------------------------------------------------- exec, for the daemon

export interface ExecIO {
  tty: boolean;
  /** What the client types (-i); none: an input at its end already, or with -t, none at all. */
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** `docker exec` through the daemon: execInContainer (container.ts) with the client's streams
 *  for stdin, stdout and stderr, or with -t a pty whose master they are copied to and from
 *  (stdout only: a terminal has one output). The child stage is the daemon's child, and the
 *  command's streams are the daemon's pipes: unlike a container, an exec does not outlive the
 *  daemon (docker's shim would keep it; here a command that writes then gets SIGPIPE). */
export function execWithStreams(pid: number, cgroup: Cgroup, spec: ProcessSpec, io: ExecIO): { exitCode: Promise<number>; resize(rows: number, columns: number): void } {
  // Without -i: stdin at its end (the command reads EOF), or with -t an input that never ends
  // (an ended one would type ^D into the terminal: attachTerminal).
  // Through the master, which the daemon holds here (it is closed once the command has ended).
  throw new Error('TODO (chapter 11): write execWithStreams(), as the comment above it says');
}
