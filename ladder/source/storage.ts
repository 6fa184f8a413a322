//@ unionfs..
//> ..images
//| /** Chapter 04 · where a container's writes live. The image layers are read-only lower dirs
//|  *  that many containers share; each container owns one directory under the engine's root
//|  *  (NUTSHELL_ROOT, default /var/lib/nutshell):
//|  *      containers/<name>/upper    everything the container wrote: the only place writes land
//|  *      containers/<name>/work     overlayfs's scratch space (same filesystem as upper)
//|  *      containers/<name>/merged   the mount point of the merged view, in the container only
//|  *      containers/<name>/config.json   its layers, so `diff` and a second `run` find them
//|  *  A named container keeps this directory until `rm`; an unnamed one loses it when it exits. */
//| import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
//< ..images
//> lifecycle..
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
//< lifecycle..
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';
//> lifecycle..
import type { ProcessSpec } from './container.ts';
//< lifecycle..

//> lifecycle..
/** What a container runs, fixed when it is created. */
export interface ContainerSpec extends ProcessSpec {
  id: string;
  name?: string;
  image: string;
  lowerDirs: string[];
  hostname: string;
  created: string;
}

//< lifecycle..
export interface ContainerDirs {
  //> ..images
  //| name: string;
  //< ..images
  //> lifecycle..
  spec: ContainerSpec;
  //< lifecycle..
  dir: string;
  //> ..images
  //| lowerDirs: string[];
  //< ..images
  upperDir: string;
  workDir: string;
  mergedDir: string;
  //> lifecycle..
  logFile: string;
  //< lifecycle..
  //> daemon..
  /** What the container wrote on stderr, apart from stdout's logFile (docker keeps the two). */
  errorLogFile: string;
  /** Where its monitor serves its terminal or stdin (-t, -i), to the daemon (console.ts). */
  consoleSocket: string;
  //< daemon..
}

/** NUTSHELL_ROOT, or /var/lib/nutshell when it is unset or empty. */
export function engineRoot(): string {
  return process.env.NUTSHELL_ROOT || '/var/lib/nutshell';
}

//> ..images
//| function containerDir(name: string): string {
//|   return join(engineRoot(), 'containers', name);
//< ..images
//> lifecycle..
const containersDir = () => join(engineRoot(), 'containers');

function dirsOf(spec: ContainerSpec): ContainerDirs {
  const dir = join(containersDir(), spec.id);
  //> ..network
  //| return { spec, dir, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mergedDir: join(dir, 'merged'), logFile: join(dir, 'container.log') };
  //< ..network
  //> daemon..
  return { spec, dir, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mergedDir: join(dir, 'merged'), logFile: join(dir, 'container.log'), errorLogFile: join(dir, 'stderr.log'), consoleSocket: join(dir, 'console.sock') };
  //< daemon..
//< lifecycle..
}

//> ..images
//| function dirsOf(name: string, lowerDirs: string[]): ContainerDirs {
//|   const dir = containerDir(name);
//|   return { name, dir, lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mergedDir: join(dir, 'merged') };
//< ..images
//> lifecycle..
/** Write a JSON file so that a reader sees the old or the new one, never half of it. */
export function writeJSONAtomically(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2));
  renameSync(tmp, path);
//< lifecycle..
}

//> ..images
//| /** The directories of container `name`: made on its first run, found again on later runs.
//|  *  A container's upper dir only makes sense on top of the layers it was made on. */
//| export function prepareContainerDirs(name: string, lowerDirs: string[]): ContainerDirs {
//|   const dirs = dirsOf(name, lowerDirs);
//|   if (existsSync(join(dirs.dir, 'config.json'))) {
//|     const made = findContainerDirs(name);
//|     if (made.lowerDirs.join(':') !== lowerDirs.join(':')) {
//|       throw new UserError(`container "${name}" was made on other layers (${made.lowerDirs.join(', ')}): rm it first`);
//|     }
//|     return made;
//< ..images
//> lifecycle..
/** Make a new container's directories; config.json comes last, so a directory without it
 *  is an unfinished one that nothing lists. */
export function createContainerDirs(spec: ContainerSpec): ContainerDirs {
  if (spec.name) {
    const taken = listContainers().find((c) => c.spec.name === spec.name);
    if (taken) throw new UserError(`the name "${spec.name}" is in use by container ${taken.spec.id}: rm it or choose another`);
//< lifecycle..
  }
  //> lifecycle..
  const dirs = dirsOf(spec);
  //< lifecycle..
  mkdirSync(dirs.dir, { recursive: true, mode: 0o700 }); // the container's files are nobody else's business
  // ...but upper's own mode becomes the mode of the container's "/": 0755, or a non-root
  // process inside could not even look up /bin.
  for (const sub of [dirs.upperDir, dirs.workDir, dirs.mergedDir]) mkdirSync(sub, { mode: 0o755 });
  //> ..images
  //| const tmp = join(dirs.dir, `config.json.${process.pid}.tmp`);
  //| writeFileSync(tmp, JSON.stringify({ lowerDirs }));
  //| renameSync(tmp, join(dirs.dir, 'config.json')); // last: a directory without config.json is unfinished
  //< ..images
  //> lifecycle..
  writeJSONAtomically(join(dirs.dir, 'config.json'), spec);
  //< lifecycle..
  return dirs;
}

//> ..images
//| /** A container made by an earlier `run --name`, running or not. */
//| export function findContainerDirs(name: string): ContainerDirs {
//|   let config: { lowerDirs: string[] };
//|   try {
//|     config = JSON.parse(readFileSync(join(containerDir(name), 'config.json'), 'utf8'));
//|   } catch {
//|     throw new UserError(`no container named "${name}"`);
//< ..images
//> lifecycle..
/** Every container, running or not, oldest first. */
export function listContainers(): ContainerDirs[] {
  if (!existsSync(containersDir())) return [];
  const found: ContainerDirs[] = [];
  for (const id of readdirSync(containersDir())) {
    try {
      found.push(dirsOf(JSON.parse(readFileSync(join(containersDir(), id, 'config.json'), 'utf8'))));
    } catch {
      // unfinished (no config.json yet) or being removed
    }
//< lifecycle..
  }
  //> ..images
  //| return dirsOf(name, config.lowerDirs);
  //< ..images
  //> lifecycle..
  return found.sort((a, b) => a.spec.created.localeCompare(b.spec.created));
  //< lifecycle..
}

//> lifecycle..
/** A container by name, by id, or by a prefix of its id that only it has (as docker allows). */
export function findContainerDirs(ref: string): ContainerDirs {
  const all = listContainers();
  const exact = all.find((c) => c.spec.name === ref || c.spec.id === ref);
  if (exact) return exact;
  const byPrefix = /^[0-9a-f]+$/.test(ref) ? all.filter((c) => c.spec.id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new UserError(`"${ref}" matches ${byPrefix.length} containers: give more of the id`);
  throw new UserError(`no container named "${ref}"`);
}

//< lifecycle..
/** Delete everything the container wrote. */
export function removeContainerDirs(dirs: ContainerDirs): void {
  rmSync(dirs.dir, { recursive: true, force: true });
}
