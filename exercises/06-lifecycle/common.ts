/** What the checks of chapter 06's exercises share: an image in the copy's store, detached
 *  containers removed after the check, and what the kernel says about their processes. */
import { readFileSync } from 'node:fs';
import { listChapters } from '../../scripts/chapters.ts';
import { notYet, ROOTFS, type Copy } from '../lib.ts';

export const IMAGE = 'demo/x';

/** Chapter 06 cannot make images: our last chapter imports the busybox rootfs into the same store. */
export async function importImage(copy: Copy): Promise<void> {
  const r = await copy.runReference(listChapters().at(-1)!, ['import', ROOTFS, IMAGE], { timeout: 60_000 });
  if (r.code !== 0) throw new Error(`import of ${ROOTFS} as ${IMAGE} failed: ${r.stderr}`);
}

export interface Inspected {
  dir: string;
  state: { status: string; pid?: number; startTime?: string; cgroupId?: string; exitCode?: number };
}

export async function inspect(copy: Copy, name: string): Promise<Inspected> {
  const r = await copy.run(['inspect', name], { timeout: 30_000 });
  if (r.code !== 0) notYet(`inspect ${name} exited with ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Inspected;
}

/** `run -d --name <name> demo/x <command>`; the container is removed (killed first) after the check. */
export async function runDetached(copy: Copy, name: string, command: string[]): Promise<Inspected> {
  copy.defer(() => copy.run(['rm', '-f', name], { timeout: 30_000 }));
  const r = await copy.run(['run', '-d', '--name', name, IMAGE, ...command], { timeout: 60_000 });
  if (r.code !== 0) notYet(`run -d --name ${name} exited with ${r.code}: ${r.stderr.trim()}`);
  const found = await inspect(copy, name);
  const { pid } = found.state;
  // Whatever the exercise's changes do to rm, the container's process must not outlive the check.
  if (pid !== undefined) {
    const startTime = startTimeOf(pid);
    copy.defer(() => startTimeOf(pid) === startTime && process.kill(pid, 'SIGKILL'));
  }
  return found;
}

/** Field 22 of /proc/PID/stat (when the process started), or undefined if it is gone or a zombie. */
export function startTimeOf(pid: number): string | undefined {
  const fields = statFields(pid);
  return fields && fields[0] !== 'Z' ? fields[19] : undefined;
}

/** The parent of a process: the monitor, for a detached container's PID 1. */
export function parentOf(pid: number): number {
  const fields = statFields(pid);
  if (!fields) throw new Error(`no process ${pid}`);
  return Number(fields[1]);
}

/** The fields of /proc/PID/stat after the command's name, from the state (field 3) on. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export async function waitUntil(done: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) return false;
  }
  return true;
}

/** The STATUS column of `ps -a` for container `name`. */
export async function statusOf(copy: Copy, name: string): Promise<string> {
  const r = await copy.run(['ps', '-a'], { timeout: 30_000 });
  if (r.code !== 0) notYet(`ps -a exited with ${r.code}: ${r.stderr.trim()}`);
  const row = r.stdout.split('\n').map((line) => line.split('\t')).find((cells) => cells[5] === name);
  if (!row) notYet(`ps -a does not list the container ${name}`);
  return row[4]!;
}
