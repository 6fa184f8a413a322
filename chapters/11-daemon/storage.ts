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
  /** What the container wrote on stderr, apart from stdout's logFile (docker keeps the two). */
  errorLogFile: string;
  /** Where its monitor serves its terminal or stdin (-t, -i), to the daemon (console.ts). */
  consoleSocket: string;
}

/** NUTSHELL_ROOT, or /var/lib/nutshell when it is unset or empty. */
export function engineRoot(): string {
  return process.env.NUTSHELL_ROOT || '/var/lib/nutshell';
}

const containersDir = () => join(engineRoot(), 'containers');

function dirsOf(spec: ContainerSpec): ContainerDirs {
  const dir = join(containersDir(), spec.id);
  return { spec, dir, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mergedDir: join(dir, 'merged'), logFile: join(dir, 'container.log'), errorLogFile: join(dir, 'stderr.log'), consoleSocket: join(dir, 'console.sock') };
}

/** Write a JSON file so that a reader sees the old or the new one, never half of it. */
export function writeJSONAtomically(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2));
  renameSync(tmp, path);
}

/** Make a new container's directories; config.json comes last, so a directory without it
 *  is an unfinished one that nothing lists. */
export function createContainerDirs(spec: ContainerSpec): ContainerDirs {
  if (spec.name) {
    const taken = listContainers().find((c) => c.spec.name === spec.name);
    if (taken) throw new UserError(`the name "${spec.name}" is in use by container ${taken.spec.id}: rm it or choose another`);
  }
  const dirs = dirsOf(spec);
  mkdirSync(dirs.dir, { recursive: true, mode: 0o700 }); // the container's files are nobody else's business
  // ...but upper's own mode becomes the mode of the container's "/": 0755, or a non-root
  // process inside could not even look up /bin.
  for (const sub of [dirs.upperDir, dirs.workDir, dirs.mergedDir]) mkdirSync(sub, { mode: 0o755 });
  writeJSONAtomically(join(dirs.dir, 'config.json'), spec);
  return dirs;
}

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
  }
  return found.sort((a, b) => a.spec.created.localeCompare(b.spec.created));
}

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

/** Delete everything the container wrote. */
export function removeContainerDirs(dirs: ContainerDirs): void {
  rmSync(dirs.dir, { recursive: true, force: true });
}
