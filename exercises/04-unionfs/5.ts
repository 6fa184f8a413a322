/** Exercise 04-5: the volatile option skips every sync of upper, and leaves a mark in the work
 *  dir so that the same upper is never mounted again: after a crash it may be incomplete. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Volatile',
  async check(copy) {
    const run = () => copy.run(['run', '--name', 'fast', '--layer', ROOTFS, 'sh', '-c', 'echo written > /file'], { timeout: 30_000 });
    const first = await run();
    if (first.code !== 0) notYet(`the first run exited with ${first.code}: ${first.stderr.trim()}`);
    const mark = join(copy.root, 'containers', 'fast', 'work', 'work', 'incompat', 'volatile');
    if (!existsSync(mark)) notYet('overlay left no work/work/incompat/volatile in the work dir: the mount has no "volatile" option');
    const second = await run();
    if (second.code === 0) notYet('a second run of the same container mounted its upper again: expected the kernel to refuse a volatile upper');
    return 'overlay left work/work/incompat/volatile, and the second run of the same container failed: the kernel does not mount a volatile upper again';
  },
});
