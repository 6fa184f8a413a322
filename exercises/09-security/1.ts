/** Exercise 09-1: CAP_SYS_ADMIN in the default set gives mount(2) back (docker's seccomp rules,
 *  which ours follow, allow it to a container that holds the capability), and the demos that
 *  only needed a mount get out; the others are still stopped by defences that do not depend
 *  on it. */
import { defineExercise, notYet } from '../lib.ts';
import { importDemoImage, runEscape } from './escape.ts';

const DEMOS = ['ro-volume', 'sys-rw', 'release-agent', 'kernel'];

export default defineExercise({
  title: 'One capability too many',
  async check(copy) {
    await importDemoImage(copy, 'demo/busybox:1');
    const verdicts = await Promise.all(DEMOS.map((demo) => runEscape(copy, demo, 'demo/busybox:1')));
    const out = verdicts.filter((v) => v.escaped);
    const stopped = verdicts.filter((v) => !v.escaped);
    if (out.length === 0) notYet(`every demo was stopped (${DEMOS.join(', ')}), e.g. ${stopped[0]!.demo}: ${stopped[0]!.said}: is CAP_SYS_ADMIN in DEFAULT_CAPABILITIES?`);
    return `escaped: ${out.map((v) => v.demo).join(', ')}; still stopped: ${stopped.map((v) => `${v.demo} (${v.said})`).join('; ') || 'none'}`;
  },
});
