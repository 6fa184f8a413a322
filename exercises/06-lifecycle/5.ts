/** Exercise 06-5: a `wait` verb, like `docker wait`: block until the container has ended, then
 *  print its exit code. */
import { defineExercise, notYet } from '../lib.ts';
import { importImage, runDetached } from './common.ts';

export default defineExercise({
  title: 'wait',
  async check(copy) {
    await importImage(copy);
    await runDetached(copy, 'w', ['sh', '-c', 'sleep 2; exit 5']);
    const started = Date.now();
    const r = await copy.run(['wait', 'w'], { timeout: 30_000 });
    if (r.timedOut) notYet('wait w did not return within 30 s of a container that runs for 2 s');
    if (/unknown verb/.test(r.stderr)) notYet('the engine has no verb "wait" yet');
    if (r.code !== 0) notYet(`wait w exited with ${r.code}: ${r.stderr.trim()}`);
    if (r.stdout.trim() !== '5') notYet(`wait w printed "${r.stdout.trim()}", expected the container's exit code, 5`);
    return `wait w returned after ${((Date.now() - started) / 1000).toFixed(1)} s and printed 5, the code of "exit 5"`;
  },
});
