/** Chapter 02 · where named containers are found: one small JSON file per running container,
 *  holding the PID that `exec` needs to reach its namespaces through /proc/PID/ns. The files
 *  live under a runtime directory (NUTSHELL_STATE_DIR, default /run/nutshell) and are removed
 *  when the container exits; a file whose PID is gone (the engine was killed) is stale. */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';

export interface ContainerRecord {
  name: string;
  pid: number;
  hostname: string;
  rootfs: string;
  argv: string[];
  /** When the process started (clock ticks after boot): tells our PID from a reused one. */
  startTime?: string;
}

export function stateDir(): string {
  throw new Error('TODO (chapter 02): write stateDir()');
}

const recordPath = (name: string) => join(stateDir(), `${name}.json`);

export function checkName(name: string): void {
  throw new Error('TODO (chapter 02): write checkName()');
}

/** Field 22 of /proc/PID/stat, or undefined when there is no such process — or only its
 *  zombie (state Z), which keeps PID and start time until its parent reaps it, while its
 *  PID namespace takes no newcomer (fork(2) there fails with ENOMEM). After our container
 *  exits, the kernel may give its PID to an unrelated process: the start time differs. */
export function processStartTime(pid: number): string | undefined {
  throw new Error('TODO (chapter 02): write processStartTime(), as the comment above it says');
}

/** The running container called `name`, or an error that says there is none. */
export function findContainer(name: string): ContainerRecord {
  throw new Error('TODO (chapter 02): write findContainer(), as the comment above it says');
}

/** Write the record atomically (temporary file, then rename), so a reader never sees half of it. */
export function recordContainer(record: ContainerRecord): void {
  // 0600, whatever the directory's mode: mkdir(2) leaves one that existed as it was. The
  // record is root's alone: from chapter 05 on it holds the env, where -e puts passwords.
  throw new Error('TODO (chapter 02): write recordContainer(), as the comment above it says');
}

/** Refuse a name that a running container already has. */
export function claimName(name: string): void {
  throw new Error('TODO (chapter 02): write claimName(), as the comment above it says');
}

/** Remove the record, unless another container has taken the name since. */
export function forgetContainer(name: string, pid: number): void {
  throw new Error('TODO (chapter 02): write forgetContainer(), as the comment above it says');
}
