/** Test helper: the cgroups the engine made, read from the host's cgroup filesystem. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The engine's cgroups: every directory under <controller>/nutshell (v1) or nutshell (v2). */
export function engineCgroups(): string[] {
  const subtrees = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))
    ? [join(CGROUP_ROOT, 'nutshell')]
    : ['memory', 'cpu', 'cpuacct', 'pids'].map((c) => join(CGROUP_ROOT, c, 'nutshell'));
  return subtrees.flatMap((dir) => {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
    } catch {
      return [];
    }
  });
}
