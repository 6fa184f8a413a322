/** Exercise 04-1: without the .reverse() in overlayOptions(), the kernel reads the bottom
 *  layer as the top one, so the lowest layer that has a name wins. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Layer order',
  async check(copy) {
    // Two layers on the busybox one, both with /hello.txt: which one shows says which is on top.
    const [lower, upper] = ['lower', 'upper'].map((name) => {
      const layer = copy.scratch(`nutshell-exercise-${name}-`);
      writeFileSync(join(layer, 'hello.txt'), `from the ${name} layer\n`);
      return layer;
    }) as [string, string];
    const r = await copy.run(['run', '--layer', ROOTFS, '--layer', lower, '--layer', upper, 'cat', '/hello.txt'], { timeout: 30_000 });
    if (r.code !== 0) notYet(`run … cat /hello.txt exited with ${r.code}: ${r.stderr.trim()}`);
    const seen = r.stdout.trim();
    if (seen === 'from the upper layer') notYet('cat shows the hello.txt of the last --layer: overlayOptions() still reverses the layers');
    if (seen !== 'from the lower layer') notYet(`cat printed "${seen}", expected "from the lower layer"`);
    return 'cat shows the hello.txt of the lower --layer: without the reverse, the kernel takes the bottom layer for the top one';
  },
});
