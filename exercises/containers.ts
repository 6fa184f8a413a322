/** Tooling for checks: a named container kept running while a check looks at it (`exec`,
 *  `stats`, /proc/PID), found through the state file the engine writes (chapters 02 and 03). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { notYet, type Copy, type Result, type RunOptions } from './lib.ts';

const CGROUP_MOUNT = '/sys/fs/cgroup';

export interface RunningContainer {
  /** The host's PID of the container's first process (the command, once it runs). */
  pid: number;
  /** The engine's end: resolves when the container ends (the check may end it sooner). */
  ended: Promise<Result>;
  /** End it now (SIGKILL to its PID 1 ends every process of its PID namespace) and wait for the
   *  engine; done after the check anyway. */
  stop(): Promise<Result>;
}

/** The PID the state file names, if there is one yet. */
function statePid(stateFile: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined; // no state file yet, or half-written
  }
}

/** What the process runs: "node" while it is the child stage, the command's name after execve. */
function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `run --name <name> <args…>` in the background; resolves once the command runs. The container
 *  is stopped after the check. */
export async function startNamedContainer(copy: Copy, name: string, args: string[], opts: RunOptions = {}): Promise<RunningContainer> {
  let result: Result | undefined;
  const ended = copy.run(['run', '--name', name, ...args], { timeout: 120_000, ...opts }).then((r) => (result = r));
  const stateFile = join(copy.stateDir, `${name}.json`);
  const stop = async () => {
    const pid = statePid(stateFile);
    if (pid !== undefined && !result) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended already
      }
    }
    return ended;
  };
  copy.defer(stop);
  for (let waited = 0; waited < 30_000 && !result; waited += 100) {
    const pid = statePid(stateFile);
    const running = pid === undefined ? undefined : processName(pid);
    if (pid !== undefined && running !== undefined && running !== 'node') return { pid, ended, stop };
    await sleep(100);
  }
  if (result) notYet(`run --name ${name} ${args.join(' ')} ended (exit ${result.code}) before its command ran: ${result.stderr.trim()}`);
  notYet(`run --name ${name} ${args.join(' ')}: the container was not running after 30 s`);
}

/** The directory of a process's cgroup for `controller` (cgroup v1), or its one cgroup (v2),
 *  from /proc/PID/cgroup as the host sees it ("4:memory:/nutshell/<id>", "0::/nutshell/<id>"). */
export function cgroupDirOf(pid: number, controller: 'memory' | 'cpu' | 'cpuacct' | 'pids'): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((line) => line.split(':'));
  const v1 = lines.find(([, controllers]) => controllers!.split(',').includes(controller));
  if (v1) return join(CGROUP_MOUNT, v1[1]!, v1.slice(2).join(':'));
  const v2 = lines.find(([id, controllers]) => id === '0' && controllers === '');
  if (!v2 || !existsSync(join(CGROUP_MOUNT, 'cgroup.controllers'))) throw new Error(`no ${controller} cgroup for process ${pid} in /proc/${pid}/cgroup`);
  return join(CGROUP_MOUNT, v2.slice(2).join(':'));
}
