/** Chapter 01 · why chroot is not a container: the classic escape. chroot(2) changes what
 *  "/" means for path lookups, but a process that is root can chroot again into a
 *  subdirectory while its working directory stays above it — and ".." from a directory that
 *  is not under the process's root is never stopped. Walk up, chroot("."), and you are out. */
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { chdir, chroot } from './syscalls.ts';
import { type ContainerConfig } from './container.ts';

/** The host's "/" as the engine saw it, to tell afterwards whether we reached it. */
export interface EscapeConfig extends ContainerConfig {
  hostRoot: { dev: number; ino: number };
}

const HATCH = '.nutshell-escape';

/** Try to get from inside the container back to the host's root, and report what we see. */
export function tryEscape(config: EscapeConfig): number {
  throw new Error('TODO (chapter 01): write tryEscape(), as the comment above it says');
}

function listRoot(): string {
  throw new Error('TODO (chapter 01): write listRoot()');
}

function countProcesses(): string {
  throw new Error('TODO (chapter 01): write countProcesses()');
}
