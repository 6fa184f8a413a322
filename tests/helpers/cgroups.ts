/** Test helper: the cgroups the engine made, read from the host's cgroup filesystem. */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isFrom } from './ladder.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';

export const CGROUP_V2 = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));

/** The v1 controllers a chapter's engine puts a container in: freezer too from chapter 08,
 *  where `commit` pauses a running container. */
export function engineControllers(chapter: string): string[] {
  return ['memory', 'cpu', 'cpuacct', 'pids', ...(isFrom(chapter, '08') ? ['freezer'] : [])];
}

/** The engine's sub-trees: <hierarchy>/nutshell (v1, every controller any chapter uses) or nutshell (v2). */
function engineSubtrees(): string[] {
  return CGROUP_V2 ? [join(CGROUP_ROOT, 'nutshell')] : engineControllers('08').map((c) => join(CGROUP_ROOT, c, 'nutshell'));
}

function childDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/** The engine's cgroups: every directory under <controller>/nutshell (v1) or nutshell (v2). */
export function engineCgroups(): string[] {
  return engineSubtrees().flatMap(childDirs);
}

/** The engine's cgroups that hold a cgroup named `name`: a container's, found by a cgroup it made. */
export function engineCgroupsHolding(name: string): string[] {
  return engineCgroups().filter((dir) => existsSync(join(dir, name)));
}

/** The v1 hierarchies that hold a chapter's controllers, by the directory names that are also
 *  their mount options ("memory", or "cpu,cpuacct" when two share one hierarchy). */
export function engineHierarchies(chapter: string): string[] {
  const wanted = engineControllers(chapter);
  return readdirSync(CGROUP_ROOT).filter(
    (name) => !lstatSync(join(CGROUP_ROOT, name)).isSymbolicLink() && name.split(',').some((c) => wanted.includes(c)),
  );
}
