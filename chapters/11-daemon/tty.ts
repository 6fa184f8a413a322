/** Chapter 07 · pseudo-terminals for `run -it` and `exec -it`: a pty pair, the user's terminal copied to
 *  and from its master by the engine, and its slave made the command's controlling terminal.
 *
 *  The design, and why (docs/07-terminals.md):
 *  - The container has its own devpts instance (mounted with newinstance at /dev/pts), so the
 *    pty is made THERE, as runc does: then `tty` in the container prints /dev/pts/0, a name
 *    that exists inside it, and nothing of the host's /dev/pts is ever shown to it.
 *    A slave from the host's devpts would work as a terminal, but its name would point
 *    nowhere inside the container (`tty` says "not a tty") and it would be a host object.
 *  - The ENGINE opens the master, through the container's root: openPty(`/proc/PID/root`).
 *    It keeps the master (and copies the user's keys into it); the child stage only ever
 *    sees the slave. For `run`, /dev/pts exists once the child stage has said "ready"
 *    (mountDev); for `exec`, the container is running already.
 *  - The CHILD STAGE opens the slave by its name inside the container, last thing before
 *    execve(2): becomeControllingTerminal('/dev/pts/N').
 *  Reading a master whose slave was never opened waits (no EIO), so the engine may attach
 *  before the child stage has opened the slave. */
import { chmodSync, fstatSync, closeSync, constants, openSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { ReadStream } from 'node:tty';
import { traceStep } from '../../lib/trace.ts';
import {
  dup2, getWindowSize, grantpt, O_CLOEXEC, openat2, posixOpenpt, ptsname, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, setControllingTerminal, setsid, setWinsize, unlockpt,
  openPtyPeer,
} from './syscalls.ts';

/** /dev/ptmx and every devpts instance's pts/ptmx are character device 5:2. */
const PTMX_RDEV = (5 << 8) | 2;

/** How often the end of a piped stdin is said again (see attachTerminal). */
const EOF_REPEAT_MS = 200;
/** How much of a terminal's output waits for the first client of a console (it may come late). */
const REPLAY_BYTES = 64 * 1024;

export interface WindowSize {
  rows: number;
  cols: number;
}

// ---------------------------------------------------------------- engine (host side)

/** Make a pseudo-terminal pair and return its master and the slave's name.
 *  Without `root`, on the host's /dev/ptmx. With `root` (`/proc/PID/root` of the child stage
 *  or of a running container), in the devpts instance mounted at that root's /dev/pts: the
 *  slave's name is then the one the container sees. */
export function openPty(root?: string): { master: number; slavePath: string } {
  // O_NOCTTY: the engine must not make this pty its own controlling terminal by accident.
  // O_CLOEXEC: the master stays in the engine; no child we start may inherit it.
  const flags = constants.O_RDWR | constants.O_NOCTTY | O_CLOEXEC;
  const master = root === undefined
    ? posixOpenpt(flags, 'O_RDWR|O_NOCTTY|O_CLOEXEC', 'a new pty pair on the host: we get the master end')
    : openPtmxIn(root, flags);
  try {
    // grantpt: give the slave to our uid (devpts does this itself; POSIX asks for the call).
    grantpt(master, 'the slave belongs to whoever opened the master');
    // A new slave is locked, so nobody can open it before the master's owner is ready.
    unlockpt(master, 'let the slave be opened');
    const slavePath = ptsname(master, 'the slave\'s name, as seen where that devpts is mounted at /dev/pts');
    return { master, slavePath };
  } catch (err) {
    closeSync(master);
    throw err;
  }
}

/** Open `root`/dev/pts/ptmx with every path step resolved inside `root`. The container owns
 *  its /dev: through /proc/PID/root a symlink such as /dev/pts -> /host-path would otherwise
 *  be followed on the HOST; RESOLVE_IN_ROOT makes "/" and ".." mean the container's root. */
function openPtmxIn(root: string, flags: number): number {
  const rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const fd = openat2(rootFd, 'dev/pts/ptmx', flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, 'a pty in the container\'s own devpts instance', {
      target: `${JSON.stringify(root)}, "dev/pts/ptmx", {O_RDWR|O_NOCTTY|O_CLOEXEC, RESOLVE_IN_ROOT}`,
      hint: { ENOENT: 'is devpts mounted at /dev/pts in the container yet?' },
    });
    const st = fstatSync(fd);
    if (!st.isCharacterDevice() || st.rdev !== PTMX_RDEV) {
      closeSync(fd); // the container put something else there: never treat it as a terminal
      throw new Error(`${root}/dev/pts/ptmx is not the ptmx device (5:2)`);
    }
    return fd;
  } finally {
    closeSync(rootFd);
  }
}

/** Tell the pty its window size. The kernel sends SIGWINCH to the foreground process group
 *  of the terminal, and full-screen programs (vi, top) redraw for the new size. */
export function setWindowSize(fd: number, size: WindowSize): void {
  setWinsize(fd, size.rows, size.cols, 'pass the user\'s window size on to the container\'s terminal');
}

export { getWindowSize };

export interface TerminalIO {
  /** What the user types: process.stdin by default (put in raw mode when it is a terminal). */
  input?: NodeJS.ReadableStream;
  /** Where the container's output goes: process.stdout by default. */
  output?: NodeJS.WritableStream;
}

export interface AttachedTerminal {
  /** Settles when the master has nothing more to give: every process closed the slave (EIO). */
  ended: Promise<void>;
  /** Wait for `ended` (at most `graceMs`: a background process may still hold the slave),
   *  then detach. Call it once the container's process has exited. */
  finish(graceMs?: number): Promise<void>;
  /** Stop copying, close the master and give the user's terminal back as it was. Idempotent. */
  detach(): void;
  /** Set the window size from elsewhere than our own terminal (a client of the daemon's). */
  resize(size: WindowSize): void;
}

/** Engine side of `-it`: connect the user's terminal to the pty's master. Takes ownership of
 *  `master` (detach closes it). */
export function attachTerminal(master: number, io: TerminalIO = {}): AttachedTerminal {
  const input = io.input ?? process.stdin;
  const output = io.output ?? process.stdout;
  const userTty = (input as Partial<ReadStream>).isTTY ? (input as ReadStream) : undefined;

  // A pty master is a terminal to libuv, so a tty.ReadStream reads it with epoll (no thread
  // blocked in read(2)) and writes to it too. It owns the fd from now on.
  const pty = new ReadStream(master);
  let endedDone = () => {};
  const ended = new Promise<void>((resolve) => (endedDone = resolve));
  pty.on('data', (chunk: Buffer) => output.write(chunk));
  // When the last holder of the slave closes it, read(2) on the master fails with EIO: for
  // a pty that is "end of file", not an error. Output written before is read first.
  pty.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EIO') process.stderr.write(`nutshell: terminal: ${err.message}\n`);
  });
  pty.on('close', () => endedDone());
  pty.on('end', () => endedDone());

  // Raw mode: no echo, no line editing, no signals from Ctrl-C on OUR side. Every key goes to
  // the container as typed, and the pty's own line discipline there does echo, editing and
  // turns ^C into SIGINT for the container's foreground process group.
  if (userTty) {
    userTty.setRawMode(true);
    traceStep('stdin raw mode', 'the container\'s terminal interprets the keys, not ours');
  }
  const onInput = (chunk: Buffer | string) => {
    if (!pty.destroyed) pty.write(chunk);
  };
  // Input that is not a terminal (a pipe, /dev/null) ends: say EOF the way a terminal does,
  // with ^D, and say it again every EOF_REPEAT_MS while the container runs. Once is not enough:
  // a ^D that arrives before the shell has read its first line (stdin was at its end from the
  // start) is lost when the shell switches the terminal to its own line editing, and the shell
  // would then wait for a key nobody can type. Input at its end answers every read with EOF,
  // so repeating it tells the container nothing new.
  let eofRepeater: NodeJS.Timeout | undefined;
  const onInputEnd = () => {
    onInput('\x04');
    eofRepeater = setInterval(() => onInput('\x04'), EOF_REPEAT_MS);
    eofRepeater.unref(); // the container's end, not this timer, decides when the engine exits
  };
  input.on('data', onInput);
  input.on('end', onInputEnd);
  input.resume();

  // The window size now, and again each time the user's terminal is resized (SIGWINCH).
  const fdOf = (stream: object): number | undefined => (stream as { isTTY?: boolean; fd?: number }).isTTY ? (stream as { fd?: number }).fd : undefined;
  const sizeSource = fdOf(output) ?? fdOf(input);
  const passSize = () => {
    const size = sizeSource === undefined ? null : getWindowSize(sizeSource);
    if (size && !pty.destroyed) setWindowSize(master, size);
  };
  passSize();
  process.on('SIGWINCH', passSize);

  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    process.off('SIGWINCH', passSize);
    process.off('exit', detach);
    input.off('data', onInput);
    input.off('end', onInputEnd);
    clearInterval(eofRepeater);
    input.pause(); // or the engine would stay alive, reading stdin
    if (userTty) userTty.setRawMode(false);
    pty.destroy(); // closes the master: a process still on the slave gets SIGHUP
    endedDone();
  };
  process.on('exit', detach); // never leave the user's terminal in raw mode

  const finish = async (graceMs = 250) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    detach();
  };
  const resize = (size: WindowSize) => {
    if (!pty.destroyed) setWindowSize(master, size); // the master is closed once detached
  };
  return { ended, finish, detach, resize };
}

/** Monitor side (`run -d`): serve the container's console on `path` (<dir>/console.sock: the
 *  daemon connects with console.ts, connectConsole) until the container ends.
 *  `master` (-t): the pty's output goes to every connection (and to the monitor's stdout, the
 *  log file, so that `logs` shows it too), and what a connection sends goes into the master, as
 *  keys. `stdin` (-i without -t): what a connection sends goes into the command's stdin, and a
 *  connection that ends its side (shutdown(2), socket.end()) ends that stdin: `cat` sees EOF.
 *  One end is all a stdin has, as with docker's StdinOnce. Takes ownership of `master`. */
export function serveConsole(path: string, source: { master: number } | { stdin: NodeJS.WritableStream }): AttachedTerminal {
  const connections = new Set<Socket>();
  // The master through libuv, as attachTerminal reads it: epoll, no thread blocked in read(2).
  const master = 'master' in source ? source.master : undefined;
  const pty = master === undefined ? undefined : new ReadStream(master);
  const input = pty ?? (source as { stdin: NodeJS.WritableStream }).stdin;
  // We hold the slave open too, until the container has ended. The daemon resizes the terminal
  // by opening the slave and closing it (console.ts, resizeTerminal); were its close the last
  // one — before the container has opened the slave — the master would read EIO, the end of a
  // terminal, and the container would start on a terminal that has hung up.
  let slave = master === undefined ? undefined : openPtyPeer(master, constants.O_RDWR | constants.O_NOCTTY | O_CLOEXEC, 'hold the slave open while the container may not have it yet');
  const closeSlave = () => {
    if (slave !== undefined) closeSync(slave);
    slave = undefined;
  };
  input.on('error', () => {}); // EPIPE: the command ended before its input did
  let replay: Buffer | undefined = Buffer.alloc(0); // until the first client comes

  let endedDone = () => {};
  const ended = pty ? new Promise<void>((resolve) => (endedDone = resolve)) : Promise.resolve();
  // The pty must be read whether a client listens or not: a full pty blocks the container's writes.
  pty?.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (replay) replay = Buffer.concat([replay, chunk]).subarray(-REPLAY_BYTES); // the latest 64 KiB
    for (const connection of connections) connection.write(chunk);
  });
  pty?.on('close', () => endedDone()); // EIO once every holder of the slave has closed it: its end

  // allowHalfOpen: a client that ends its input still gets the output.
  const server = createServer({ allowHalfOpen: true }, (connection) => {
    if (replay && pty) connection.write(replay);
    replay = undefined;
    connections.add(connection);
    connection.on('data', (chunk: Buffer) => {
      if (!(input as { writableEnded?: boolean }).writableEnded) input.write(chunk);
    });
    connection.on('end', () => {
      if (!pty) input.end(); // the command's stdin ends: `cat` exits. A terminal has no such end.
    });
    connection.on('error', () => {}); // a client that went away: the container goes on
    connection.on('close', () => connections.delete(connection));
  });
  rmSync(path, { force: true }); // left by a monitor that was killed: bind(2) would say EADDRINUSE
  // The container's directory is root's alone (0700) already; the socket is too, should that change.
  server.listen(path, () => chmodSync(path, 0o600));

  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    server.close();
    rmSync(path, { force: true });
    for (const connection of connections) {
      connection.end(); // what was written still reaches the client, then its end
      setTimeout(() => connection.destroy(), 1000).unref(); // a client that keeps its side open
    }
    closeSlave();
    pty?.destroy(); // closes the master: a process still on the slave gets SIGHUP
    endedDone();
  };
  const finish = async (graceMs = 250) => {
    closeSlave(); // the container has ended: the master reads EIO once its last process lets go
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    detach();
  };
  const resize = (size: WindowSize) => {
    if (master !== undefined && !pty!.destroyed) setWindowSize(master, size);
  };
  return { ended, finish, detach, resize };
}

// ---------------------------------------------------------------- child stage

/** Child-stage side of `-it`, last before execve(2): make the pty's slave the controlling
 *  terminal of a new session, and the command's stdin, stdout and stderr. `slave` is its
 *  name (open it where that name means the right devpts: inside the container) or an fd. */
export function becomeControllingTerminal(slave: string | number): void {
  // 1. A terminal controls a SESSION, and only a session leader can acquire one. setsid(2)
  //    makes us the leader of a new session (and of a new process group) with no terminal:
  //    we leave the engine's session, so the user's terminal no longer controls us.
  //    (It fails with EPERM in a process-group leader; a spawned child stage is not one.)
  setsid('a new session, whose leader may take a controlling terminal', {
    hint: 'the caller leads its process group: setsid(2) needs a process that does not',
  });
  // 2. Open the slave. O_NOCTTY so that the next step, not a side effect of open(2), is
  //    what makes it ours.
  let fd: number;
  if (typeof slave === 'number') fd = slave;
  else {
    fd = openSync(slave, constants.O_RDWR | constants.O_NOCTTY);
    traceStep(`open(${JSON.stringify(slave)}, O_RDWR|O_NOCTTY) = ${fd}`, 'the slave end of the pty, by its name in the container');
  }
  // 3. TIOCSCTTY: the slave becomes the session's controlling terminal and our process
  //    group its foreground group. This is what makes job control work: ^C and ^Z typed by
  //    the user become SIGINT and SIGTSTP for the foreground group, a background job that
  //    reads gets SIGTTIN, /dev/tty opens this terminal, and closing the master sends SIGHUP.
  setControllingTerminal(fd, 'make the pty the controlling terminal of our session', {
    hint: { EPERM: 'the terminal already controls another session' },
  });
  // 4. The command's stdin, stdout and stderr are the terminal. dup2(2) leaves FD_CLOEXEC
  //    clear on the copies, so they survive execve(2).
  for (const target of [0, 1, 2]) {
    dup2(fd, target, `fd ${target} is the terminal`);
  }
  // 5. The extra descriptor would leak into the command: close it.
  if (fd > 2) closeSync(fd);
}
