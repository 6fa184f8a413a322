/** Exercise 06-2: with the parent-death signal for every container, a detached container dies
 *  when its monitor is killed. */
import { defineExercise, notYet } from '../lib.ts';
import { importImage, parentOf, runDetached, startTimeOf, statusOf, waitUntil } from './common.ts';

export default defineExercise({
  title: 'Parent-death signal',
  async check(copy) {
    await importImage(copy);
    const { state } = await runDetached(copy, 'orphan', ['sleep', '600']);
    const pid = state.pid!;
    const startTime = startTimeOf(pid);
    const monitor = parentOf(pid);
    process.kill(monitor, 'SIGKILL');
    const died = await waitUntil(() => startTimeOf(pid) !== startTime, 3000);
    if (!died) notYet(`the container's sleep (PID ${pid}) still runs 3 s after its monitor (PID ${monitor}) was killed: a detached container gets no parent-death signal`);
    return `the container's sleep (PID ${pid}) died with its monitor (PID ${monitor}); ps -a says "${await statusOf(copy, 'orphan')}"`;
  },
});
