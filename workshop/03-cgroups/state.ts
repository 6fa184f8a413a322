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
  /** The container's cgroup, for `stats` and `exec` (new in chapter 03). */
  cgroupId: string;
}

export function stateDir(): string {
  return process.env.NUTSHELL_STATE_DIR ?? '/run/nutshell';
}

const recordPath = (name: string) => join(stateDir(), `${name}.json`);

export function checkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new UserError(`invalid container name "${name}": use letters, digits, _ . -`);
}

/** Field 22 of /proc/PID/stat, or undefined when there is no such process — or only its
 *  zombie (state Z), which keeps PID and start time until its parent reaps it, while its
 *  PID namespace takes no newcomer (fork(2) there fails with ENOMEM). After our container
 *  exits, the kernel may give its PID to an unrelated process: the start time differs. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** The running container called `name`, or an error that says there is none. */
export function findContainer(name: string): ContainerRecord {
  checkName(name);
  let record: ContainerRecord;
  try {
    record = JSON.parse(readFileSync(recordPath(name), 'utf8'));
  } catch {
    throw new UserError(`no running container named "${name}"`);
  }
  if (processStartTime(record.pid) !== record.startTime) throw new UserError(`no running container named "${name}" (it has exited)`);
  return record;
}

/** Write the record atomically (temporary file, then rename), so a reader never sees half of it. */
export function recordContainer(record: ContainerRecord): void {
  mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
  const tmp = `${recordPath(record.name)}.${process.pid}.tmp`;
  // 0600, whatever the directory's mode: mkdir(2) leaves one that existed as it was. The
  // record is root's alone: from chapter 05 on it holds the env, where -e puts passwords.
  writeFileSync(tmp, JSON.stringify({ ...record, startTime: processStartTime(record.pid) }), { mode: 0o600 });
  renameSync(tmp, recordPath(record.name));
}

/** Refuse a name that a running container already has. */
export function claimName(name: string): void {
  checkName(name);
  try {
    findContainer(name);
  } catch {
    return; // free, or only a stale record that recordContainer will replace
  }
  throw new UserError(`a container named "${name}" is already running`);
}

/** Remove the record, unless another container has taken the name since. */
export function forgetContainer(name: string, pid: number): void {
  try {
    if (JSON.parse(readFileSync(recordPath(name), 'utf8')).pid !== pid) return;
  } catch {
    return;
  }
  rmSync(recordPath(name), { force: true });
}
