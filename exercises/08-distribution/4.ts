/** Exercise 08-4: a blob the registry holds in another repository is mounted, not uploaded;
 *  pushing a second name of an image that is already there sends no blob byte at all. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';
import { step } from './common.ts';

/** The number on push's last line, `sent: N bytes`. */
function sentBytes(pushOutput: string): number {
  const sent = pushOutput.match(/^sent: (\d+) bytes$/m);
  if (!sent) notYet(`push printed no line "sent: N bytes"; it printed: ${JSON.stringify(pushOutput.trim())}`);
  return Number(sent[1]);
}

export default defineExercise({
  title: 'Mounts that work',
  async check(copy) {
    const registry = await copy.registry();
    const base = `${registry.host}/demo/base:v1`;
    await step(copy, ['import', ROOTFS, base]);
    const { manifest } = JSON.parse(await step(copy, ['inspect', base])) as { manifest: { config: { size: number }; layers: Array<{ size: number }> } };
    const blobBytes = manifest.layers.reduce((sum, layer) => sum + layer.size, manifest.config.size);

    const first = sentBytes(await step(copy, ['push', base]));
    if (first !== blobBytes) notYet(`the first push of demo/base:v1 says "sent: ${first} bytes", but its blobs (layers and config) are ${blobBytes} bytes, and all of them were new to the registry`);

    const copyName = `${registry.host}/demo/copy:v1`;
    await step(copy, ['tag', base, copyName]);
    const output = await step(copy, ['push', copyName]);
    const second = sentBytes(output);
    const mounted = output.split('\n').filter((line) => line.endsWith('mounted')).length;
    if (second !== 0) notYet(`the push of demo/copy:v1 says "sent: ${second} bytes", but every blob was mounted from demo/base (${mounted} "mounted" lines): no blob byte travels`);
    return `demo/base:v1 sent ${first} bytes (every blob uploaded); demo/copy:v1 sent 0: its ${mounted} blobs were mounted from demo/base`;
  },
});
