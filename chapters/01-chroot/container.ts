/** Chapter 01 · chroot: the oldest isolation trick. The container is just a process whose
 *  "/" is the rootfs directory. Two stages, because Node cannot safely fork itself:
 *  the engine (host side) re-executes this program as a child stage, and the child stage
 *  calls chroot(2) on itself and then execve(2)s the command.     Lesson: docs/01-chroot.md */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as os } from 'node:os';
import { extname, resolve } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { chdir, chroot, closeFromOnExec, execve, keepOpenAcrossExec } from './syscalls.ts';

/** What the engine hands to the child stage (as JSON on its command line). */
export interface ContainerConfig {
  rootfs: string;
  argv: string[];
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Our own entry point: main.ts under tsx, main.js once compiled (npm run build). */
const THIS_PROGRAM = new URL(`./main${extname(import.meta.url)}`, import.meta.url).pathname;

// ---------------------------------------------------------------- engine (host side)

/** Start the container and return its exit code (128+signal if it was killed). */
export async function runContainer(config: ContainerConfig): Promise<number> {
  const child = startChildStage('init', { ...config, rootfs: checkRootfs(config.rootfs) });
  forwardSignals(child);
  return exitCodeOf(child);
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

/** Re-execute this program as the child stage. Node has helper threads, and fork(2) from a
 *  multi-threaded process copies only the calling thread, so we start a fresh process
 *  (the same node binary, the same loader flags) instead. stdio is passed straight through. */
export function startChildStage(stage: string, config: object): ChildProcess {
  const argv = [...process.execArgv, THIS_PROGRAM, `__${stage}`, JSON.stringify(config)];
  traceStep(`spawn ${process.execPath} ${THIS_PROGRAM} __${stage}`, 're-exec ourselves as the child stage');
  return spawn(process.execPath, argv, {
    stdio: 'inherit',
    // The child stage makes no TLS connection: spare it the reading of extra CA
    // certificates that Node does as it starts (~35 ms where NODE_EXTRA_CA_CERTS is set).
    env: { ...process.env, NUTSHELL_STAGE: stage, NODE_EXTRA_CA_CERTS: undefined },
  });
}

/** Ctrl-C and `kill` reach the engine; pass them on so the container ends first. */
function forwardSignals(child: ChildProcess): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    process.on(signal, () => child.kill(signal));
  }
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
  prepareContainer(config);
  return execCommand(config.argv);
}

/** The whole isolation recipe of chapter 01, in order. */
export function prepareContainer(config: ContainerConfig): void {
  chroot(config.rootfs, 'from now on "/" means the rootfs, for this process and its children');
  chdir('/', 'chroot(2) does not move the working directory: step inside, or ".." leads out');
}

/** Replace the child stage with the user's command, found inside the rootfs. */
function execCommand(argv: string[]): never {
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
