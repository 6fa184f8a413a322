/** Chapter 04 · where a container's writes live. The image layers are read-only lower dirs
 *  that many containers share; each container owns one directory under the engine's root
 *  (NUTSHELL_ROOT, default /var/lib/nutshell):
 *      containers/<name>/upper    everything the container wrote: the only place writes land
 *      containers/<name>/work     overlayfs's scratch space (same filesystem as upper)
 *      containers/<name>/merged   the mount point of the merged view, in the container only
 *      containers/<name>/config.json   its layers, so `diff` and a second `run` find them
 *  A named container keeps this directory until `rm`; an unnamed one loses it when it exits. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';

export interface ContainerDirs {
  name: string;
  dir: string;
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  mergedDir: string;
}

/** NUTSHELL_ROOT, or /var/lib/nutshell when it is unset or empty. */
export function engineRoot(): string {
  throw new Error('TODO (chapter 04): write engineRoot(), as the comment above it says');
}

function containerDir(name: string): string {
  throw new Error('TODO (chapter 04): write containerDir()');
}

function dirsOf(name: string, lowerDirs: string[]): ContainerDirs {
  throw new Error('TODO (chapter 04): write dirsOf()');
}

/** The directories of container `name`: made on its first run, found again on later runs.
 *  A container's upper dir only makes sense on top of the layers it was made on. */
export function prepareContainerDirs(name: string, lowerDirs: string[]): ContainerDirs {
  // ...but upper's own mode becomes the mode of the container's "/": 0755, or a non-root
  // process inside could not even look up /bin.
  throw new Error('TODO (chapter 04): write prepareContainerDirs(), as the comment above it says');
}

/** A container made by an earlier `run --name`, running or not. */
export function findContainerDirs(name: string): ContainerDirs {
  throw new Error('TODO (chapter 04): write findContainerDirs(), as the comment above it says');
}

/** Delete everything the container wrote. */
export function removeContainerDirs(dirs: ContainerDirs): void {
  throw new Error('TODO (chapter 04): write removeContainerDirs(), as the comment above it says');
}
