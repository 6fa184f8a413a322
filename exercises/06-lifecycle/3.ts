/** Exercise 06-3: once the monitor is gone, nobody can wait(2) for the container, so `stop` cannot
 *  learn the code its command returned. It should record none rather than guess 143. */
import { defineExercise, notYet } from '../lib.ts';
import { importImage, parentOf, runDetached, startTimeOf, statusOf, waitUntil } from './common.ts';

export default defineExercise({
  title: 'The real exit code',
  async check(copy) {
    await importImage(copy);
    // A command that ends with code 0 on SIGTERM: only its parent could learn that.
    const { state } = await runDetached(copy, 'quiet', ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']);
    const pid = state.pid!;
    const startTime = startTimeOf(pid);
    const monitor = parentOf(pid);
    process.kill(monitor, 'SIGKILL');
    const stop = await copy.run(['stop', '-t', '10', 'quiet'], { timeout: 30_000 });
    if (stop.code !== 0) notYet(`stop -t 10 quiet exited with ${stop.code}: ${stop.stderr.trim()}`);
    if (!(await waitUntil(() => startTimeOf(pid) !== startTime, 3000))) notYet(`the container's PID ${pid} still runs after stop`);
    const status = await statusOf(copy, 'quiet');
    if (/^Exited \(143\)/.test(status)) notYet(`ps -a says "${status}": stop records 143 (SIGTERM) as if it knew, but the command trapped SIGTERM and exited 0`);
    if (!/^Exited \(unknown\)/.test(status)) notYet(`ps -a says "${status}", expected "Exited (unknown) …": stop cannot know the code without the monitor`);
    return `with its monitor killed, the container that exits 0 on SIGTERM shows "${status}" in ps -a: stop records no code it cannot know`;
  },
});
