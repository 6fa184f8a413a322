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
  throw new Error('TODO (chapter 01): write runContainer(), as the comment above it says');
}

/** A rootfs must be a directory: say so in one line rather than let chroot(2) say ENOTDIR. */
export function checkRootfs(rootfs: string): string {
  throw new Error('TODO (chapter 01): write checkRootfs(), as the comment above it says');
}

/** Re-execute this program as the child stage. Node has helper threads, and fork(2) from a
 *  multi-threaded process copies only the calling thread, so we start a fresh process
 *  (the same node binary, the same loader flags) instead. stdio is passed straight through. */
export function startChildStage(stage: string, config: object): ChildProcess {
  // The child stage makes no TLS connection: spare it the reading of extra CA
  // certificates that Node does as it starts (~35 ms where NODE_EXTRA_CA_CERTS is set).
  throw new Error('TODO (chapter 01): write startChildStage(), as the comment above it says');
}

/** Ctrl-C and `kill` reach the engine; pass them on so the container ends first. */
function forwardSignals(child: ChildProcess): void {
  throw new Error('TODO (chapter 01): write forwardSignals(), as the comment above it says');
}

/** Wait for the child and turn its end into a shell-style exit code. */
export function exitCodeOf(child: ChildProcess): Promise<number> {
  throw new Error('TODO (chapter 01): write exitCodeOf(), as the comment above it says');
}

// ---------------------------------------------------------------- child stage

/** The child stage: build the container around ourselves, then become the command. */
export function containerInit(config: ContainerConfig): never {
  throw new Error('TODO (chapter 01): write containerInit(), as the comment above it says');
}

/** The whole isolation recipe of chapter 01, in order. */
export function prepareContainer(config: ContainerConfig): void {
  throw new Error('TODO (chapter 01): write prepareContainer(), as the comment above it says');
}

/** Replace the child stage with the user's command, found inside the rootfs. */
function execCommand(argv: string[]): never {
  // Any other descriptor that whoever started the engine left open without FD_CLOEXEC has come
  // through the engine and us (Node marks only 0 to 15 as it starts, and stops at the first
  // gap), and one on a host directory leads out of the container: /proc/self/fd/N/.. or
  // fchdir(2). Close-on-exec rather than close: Node still needs its own until execve(2) works.
  throw new Error('TODO (chapter 01): write execCommand(), as the comment above it says');
}

/** Look the command up in PATH inside the rootfs, as a shell would. execve(2) itself does
 *  no search. Sync calls only: they run on this thread, the one whose root we changed. */
export function findProgram(command: string, path: string): string {
  throw new Error('TODO (chapter 01): write findProgram(), as the comment above it says');
}
