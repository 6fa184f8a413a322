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
  return process.env.NUTSHELL_ROOT || '/var/lib/nutshell';
}

function containerDir(name: string): string {
  return join(engineRoot(), 'containers', name);
}

function dirsOf(name: string, lowerDirs: string[]): ContainerDirs {
  const dir = containerDir(name);
  return { name, dir, lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mergedDir: join(dir, 'merged') };
}

/** The directories of container `name`: made on its first run, found again on later runs.
 *  A container's upper dir only makes sense on top of the layers it was made on. */
export function prepareContainerDirs(name: string, lowerDirs: string[]): ContainerDirs {
  const dirs = dirsOf(name, lowerDirs);
  if (existsSync(join(dirs.dir, 'config.json'))) {
    const made = findContainerDirs(name);
    if (made.lowerDirs.join(':') !== lowerDirs.join(':')) {
      throw new UserError(`container "${name}" was made on other layers (${made.lowerDirs.join(', ')}): rm it first`);
    }
    return made;
  }
  mkdirSync(dirs.dir, { recursive: true, mode: 0o700 }); // the container's files are nobody else's business
  // ...but upper's own mode becomes the mode of the container's "/": 0755, or a non-root
  // process inside could not even look up /bin.
  for (const sub of [dirs.upperDir, dirs.workDir, dirs.mergedDir]) mkdirSync(sub, { mode: 0o755 });
  const tmp = join(dirs.dir, `config.json.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify({ lowerDirs }));
  renameSync(tmp, join(dirs.dir, 'config.json')); // last: a directory without config.json is unfinished
  return dirs;
}

/** A container made by an earlier `run --name`, running or not. */
export function findContainerDirs(name: string): ContainerDirs {
  let config: { lowerDirs: string[] };
  try {
    config = JSON.parse(readFileSync(join(containerDir(name), 'config.json'), 'utf8'));
  } catch {
    throw new UserError(`no container named "${name}"`);
  }
  return dirsOf(name, config.lowerDirs);
}

/** Delete everything the container wrote. */
export function removeContainerDirs(dirs: ContainerDirs): void {
  rmSync(dirs.dir, { recursive: true, force: true });
}
