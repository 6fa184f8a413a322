/** Exercise 02-5: `run --init` puts a small shell script in as PID 1. With a trap for TERM it
 *  gets the signal (the kernel gives a namespace's init only signals it has a handler for) and
 *  passes it on, so the container ends at once; and its `wait` reaps orphans, so the zombie
 *  demo of the lesson leaves no Z. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNamedContainer } from '../containers.ts';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

/** The parent of a process: field 4 of /proc/PID/stat (after the name in parentheses). */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

export default defineExercise({
  title: 'A tiny init',
  async check(copy) {
    const box = await startNamedContainer(copy, 'box', ['--init', '--stop-timeout', '10', ROOTFS, 'sleep', '60']);
    // The zombie demo: an orphan is reparented to PID 1, which must wait(2) for it.
    const orphan = await copy.run(['exec', 'box', 'sh', '-c', 'sleep 1 &'], { timeout: 30_000 });
    if (orphan.code !== 0) notYet(`exec box sh -c 'sleep 1 &' exited with ${orphan.code}: ${orphan.stderr.trim()}`);
    await sleep(2500);
    const ps = await copy.run(['exec', 'box', 'ps', '-o', 'pid,ppid,stat,comm'], { timeout: 30_000 });
    const zombies = ps.stdout.split('\n').filter((line) => / Z +\S+$/.test(line));
    if (ps.code !== 0) notYet(`exec box ps exited with ${ps.code}: ${ps.stderr.trim()}`);
    if (zombies.length > 0) notYet(`after the orphan "sleep 1" ended, ps shows a zombie: "${zombies[0]!.trim()}": PID 1 does not wait for it`);
    const pid1 = ps.stdout.split('\n').find((line) => /^\s*1\s/.test(line))?.trim().split(/\s+/).at(-1);

    // SIGTERM to the engine, as `kill` or docker stop would send it: the engine passes it to PID 1.
    const started = Date.now();
    process.kill(parentPid(box.pid), 'SIGTERM');
    const end = await box.ended;
    const seconds = (Date.now() - started) / 1000;
    if (end.stderr.includes('ignored')) notYet(`PID 1 ignored SIGTERM: "${end.stderr.trim()}" (${seconds.toFixed(1)} s): the init needs a trap for TERM that passes it on`);
    if (seconds > 5) notYet(`the container took ${seconds.toFixed(1)} s to end after SIGTERM (exit ${end.code}): expected well under the 10 s stop timeout`);
    if (end.code !== 143) notYet(`after SIGTERM the container exited with ${end.code}, not 143: the init should exit with the command's status (killed by TERM)`);
    return `PID 1 is ${pid1 ?? '?'}: ps showed no zombie after the orphan ended, and SIGTERM ended the container in ${seconds.toFixed(1)} s with exit 143`;
  },
});
