/** Exercise 01-3: `run --pid-file F` writes the container's PID as the host numbers it. The
 *  check reads /proc/PID/root of that process while it runs: the kernel's own record of its
 *  root directory, which must be the rootfs. */
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineExercise, notYet, ROOTFS, type Result } from '../lib.ts';

/** The PID in the file, what that process runs now (node while it is the child stage, the
 *  command once it has called execve) and its root; undefined while there is nothing to read. */
function readContainer(pidFile: string): { pid: number; comm: string; root: string } | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!(pid > 0)) return undefined;
    return { pid, comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), root: readlinkSync(`/proc/${pid}/root`) };
  } catch {
    return undefined;
  }
}

export default defineExercise({
  title: 'Find the container from the host',
  async check(copy) {
    const pidFile = join(copy.scratch(), 'container.pid');
    const rootfs = realpathSync(ROOTFS);
    let ended: Result | undefined;
    const running = copy.run(['run', '--pid-file', pidFile, ROOTFS, 'sh', '-c', 'echo $$; exec sleep 30'], { timeout: 60_000 }).then((r) => (ended = r));
    let seen: ReturnType<typeof readContainer>;
    copy.defer(async () => {
      if (seen && readContainer(pidFile)?.root === rootfs) process.kill(seen.pid, 'SIGKILL');
      await running;
    });
    for (let waited = 0; !ended && waited < 30_000; waited += 100) {
      seen = readContainer(pidFile);
      if (seen?.comm === 'sleep') break;
      await sleep(100);
    }
    if (ended) notYet(`run --pid-file ${pidFile} … ended (exit ${ended.code}) before a PID file showed the container: ${ended.stderr.trim() || ended.stdout.trim()}`);
    if (!seen) notYet(`after 30 s, ${pidFile} still holds no PID of a running process`);
    if (seen.comm !== 'sleep') notYet(`after 30 s, process ${seen.pid} of the PID file still runs "${seen.comm}", not the command (sleep)`);
    if (seen.root !== rootfs) notYet(`/proc/${seen.pid}/root points to "${seen.root}", not to the rootfs ${rootfs}: is ${seen.pid} the container's PID?`);
    process.kill(seen.pid, 'SIGKILL');
    const r = await running;
    const inside = r.stdout.trim();
    if (inside !== String(seen.pid)) notYet(`the PID file says ${seen.pid}, but "echo $$" inside printed "${inside}": write the PID of the process that becomes the command`);
    return `the PID file says ${seen.pid}, "echo $$" inside printed the same number, and /proc/${seen.pid}/root points to ${rootfs}: chroot changed its root, not its PID`;
  },
});
