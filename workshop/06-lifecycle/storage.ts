/** Chapter 06 · where a container lives, from `run` until `rm`. Each container owns one
 *  directory under the engine's root (--root, or NUTSHELL_ROOT, default /var/lib/nutshell):
 *      containers/<id>/upper    everything the container wrote: the only place writes land
 *      containers/<id>/work     overlayfs's scratch space (same filesystem as upper)
 *      containers/<id>/merged   the mount point of the merged view, in the container only
 *      containers/<id>/config.json   what it runs: image, layers, command, env, name
 *      containers/<id>/state.json    running or exited, its PID, its exit code (state.ts)
 *      containers/<id>/container.log what a detached container printed (`logs`)
 *  Like docker, a container stays after it exits (see `ps -a`) until `rm`, or `run --rm`. */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import type { ProcessSpec } from './container.ts';

/** What a container runs, fixed when it is created. */
export interface ContainerSpec extends ProcessSpec {
  id: string;
  name?: string;
  image: string;
  lowerDirs: string[];
  hostname: string;
  created: string;
}

export interface ContainerDirs {
  spec: ContainerSpec;
  dir: string;
  upperDir: string;
  workDir: string;
  mergedDir: string;
  logFile: string;
}

/** NUTSHELL_ROOT, or /var/lib/nutshell when it is unset or empty. */
export function engineRoot(): string {
  return process.env.NUTSHELL_ROOT || '/var/lib/nutshell';
}

const containersDir = () => join(engineRoot(), 'containers');

function dirsOf(spec: ContainerSpec): ContainerDirs {
  throw new Error('TODO (chapter 06): dirsOf() changes in this chapter: write it again');
}

/** Write a JSON file so that a reader sees the old or the new one, never half of it. */
export function writeJSONAtomically(path: string, value: unknown): void {
  throw new Error('TODO (chapter 06): writeJSONAtomically() changes in this chapter: write it again, as the comment above it says');
}

/** Make a new container's directories; config.json comes last, so a directory without it
 *  is an unfinished one that nothing lists. */
export function createContainerDirs(spec: ContainerSpec): ContainerDirs {
  // ...but upper's own mode becomes the mode of the container's "/": 0755, or a non-root
  // process inside could not even look up /bin.
  throw new Error('TODO (chapter 06): createContainerDirs() changes in this chapter: write it again, as the comment above it says');
}

/** Every container, running or not, oldest first. */
export function listContainers(): ContainerDirs[] {
  // unfinished (no config.json yet) or being removed
  throw new Error('TODO (chapter 06): listContainers() changes in this chapter: write it again, as the comment above it says');
}

/** A container by name, by id, or by a prefix of its id that only it has (as docker allows). */
export function findContainerDirs(ref: string): ContainerDirs {
  throw new Error('TODO (chapter 06): write findContainerDirs(), as the comment above it says');
}

/** Delete everything the container wrote. */
export function removeContainerDirs(dirs: ContainerDirs): void {
  rmSync(dirs.dir, { recursive: true, force: true });
}
