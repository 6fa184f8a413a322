/** Chapter 06 · the container lifecycle after `run`: stop, kill, rm, ps and logs. A detached
 *  container's engine (its monitor) may be gone — killed, or the machine's engine restarted —
 *  so every verb here works from the state file and the kernel alone: the PID and its start
 *  time say whether the container still runs, and whoever sees it end cleans up after it. */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as os } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { detectCgroups, type Cgroup } from './cgroups.ts';
import { isAlive, readRecordedState, readState, recordExited, type ContainerState } from './state.ts';
import { listContainers, removeContainerDirs, type ContainerDirs } from './storage.ts';

/** Wait until `done()` or `seconds` pass; true if it happened. */
async function waitFor(done: () => boolean, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Send a signal to the container's PID 1 (from the host, so even SIGKILL gets through). */
export function killContainer(dirs: ContainerDirs, signal: NodeJS.Signals): void {
  const state = readState(dirs);
  if (state.status !== 'running') throw new UserError(`container "${dirs.spec.name ?? dirs.spec.id}" is not running`);
  traceStep(`kill(${state.pid}, ${signal})`, 'signal the container\'s PID 1, as the host sees it');
  try {
    process.kill(state.pid!, signal);
  } catch (err) {
    // It ended, and its monitor reaped it, between readState's check and this call.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    return;
  }
}

/** `docker stop`: SIGTERM, then SIGKILL after `timeout` seconds — a PID 1 without a SIGTERM
 *  handler ignores it (chapter 02). Then make sure the end is recorded and the cgroup gone. */
export async function stopContainer(dirs: ContainerDirs, timeout: number): Promise<void> {
  const state = readState(dirs);
  const ended = () => !isAlive(state);
  if (timeout > 0) {
    killContainer(dirs, 'SIGTERM');
    if (await waitFor(ended, timeout)) return settle(dirs, state, 128 + os.signals.SIGTERM);
  }
  killContainer(dirs, 'SIGKILL');
  await waitFor(ended, 10);
  return settle(dirs, state, 128 + os.signals.SIGKILL);
}

/** The container has ended. Its monitor, if alive, records how and removes the cgroup; if it
 *  was killed, nobody will: do it here. */
async function settle(dirs: ContainerDirs, state: ContainerState, exitCode: number): Promise<void> {
  const recorded = () => readRecordedState(dirs).status !== 'running';
  if (await waitFor(recorded, 2)) return;
  // A monitor that is alive but slow (a busy machine) may be removing the same cgroup at this
  // moment: the loser of that race sees its files vanish as it reads them. Its record wins.
  try {
    removeCgroup(state);
  } catch (err) {
    if (await waitFor(recorded, 5)) return;
    throw err;
  }
  recordExited(dirs, exitCode);
}

function removeCgroup(state: ContainerState): void {
  if (state.cgroupId) openCgroup(state.cgroupId)?.remove();
}

/** The container's cgroup, or undefined once whoever saw the container end has removed it. */
function openCgroup(cgroupId: string): Cgroup | undefined {
  try {
    return detectCgroups().open(cgroupId);
  } catch (err) {
    if (!(err instanceof UserError && /no cgroup/.test(err.message))) throw err;
    return undefined;
  }
}

/** `rm [-f]`: a running container only with force (it is killed first). */
export async function removeContainer(dirs: ContainerDirs, force: boolean): Promise<void> {
  const state = readState(dirs);
  if (state.status === 'running') {
    if (!force) throw new UserError(`container "${dirs.spec.name ?? dirs.spec.id}" is running: stop it first, or rm -f`);
    await stopContainer(dirs, 0);
  }
  removeCgroup(readRecordedState(dirs));
  removeContainerDirs(dirs);
}

/** "Up 5 seconds", "Exited (0) 2 minutes ago", like docker ps. */
function describe(state: ContainerState): string {
  if (state.status === 'created') return 'Created';
  if (state.status === 'running') return `Up ${ago(state.startedAt)}`;
  return `Exited (${state.exitCode ?? 'unknown'}) ${ago(state.finishedAt)} ago`;
}

function ago(iso: string | undefined): string {
  if (!iso) return 'a while';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

/** `ps [-a]`: one line per container, running ones only unless `all`. */
export function listTable(all: boolean): string {
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES']];
  for (const c of listContainers()) {
    const state = readState(c);
    if (!all && state.status !== 'running') continue;
    const command = JSON.stringify(c.spec.argv.join(' ').slice(0, 30));
    rows.push([c.spec.id, c.spec.image, command, `${ago(c.spec.created)} ago`, describe(state), c.spec.name ?? '']);
  }
  return rows.map((r) => r.join('\t')).join('\n') + '\n';
}

/** `logs [-f]`: what the detached container printed. The log is the container's stdout, so the
 *  container decides its size: it can print gigabytes, or ftruncate(2) it to any length. So the
 *  log is copied a chunk at a time from an offset, never read whole (Node refuses to read 2 GiB
 *  or more at once, and would hold it all in memory). With `follow`, the offset is kept between
 *  looks, so each look copies only what was appended since; it ends once the container has. */
export async function printLogs(dirs: ContainerDirs, follow: boolean): Promise<void> {
  const chunk = Buffer.alloc(1 << 20);
  let offset = 0; // how much of the log we have copied
  const copyAppended = async () => {
    if (!existsSync(dirs.logFile)) return;
    const fd = openSync(dirs.logFile, 'r');
    try {
      // Shorter than what we copied: it was truncated. Start again at 0, as tail -f does: all it
      // holds may have been written since, and a line printed twice beats a line lost.
      if (fstatSync(fd).size < offset) offset = 0;
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, offset); // pread(2): from the offset, not the file position
        if (n === 0) break; // its end, for now
        await writeOut(chunk.subarray(0, n));
        offset += n;
      }
    } finally {
      closeSync(fd);
    }
  };
  await copyAppended();
  if (!follow) return;
  while (readState(dirs).status === 'running') {
    await sleep(200);
    await copyAppended();
  }
  await copyAppended(); // what it printed between our last look and its end
}

/** Write to stdout and wait until it is taken: the chunk is reused, and a slow reader (a pipe,
 *  a terminal) must slow us down rather than pile the log up in our memory. */
function writeOut(bytes: Buffer): Promise<void> {
  return new Promise((done, fail) => process.stdout.write(bytes, (err) => (err ? fail(err) : done())));
}
