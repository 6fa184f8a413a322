/** Exercise 08-2: the same changes committed twice give the same layer blob, but a new
 *  `created` time makes a new config, so a new manifest. With SOURCE_DATE_EPOCH honoured (the
 *  convention of reproducible builds), two commits of the same container are the same image. */
import { defineExercise, notYet, ROOTFS, type Copy } from '../lib.ts';
import { step } from './common.ts';

const EPOCH = '1700000000'; // 2023-11-14T22:13:20Z

interface Inspected {
  manifestDigest: string;
  configDigest: string;
  manifest: { layers: Array<{ digest: string }> };
  config: { created?: string };
}

async function commitAndInspect(copy: Copy, tag: string): Promise<Inspected> {
  const env = { ...copy.env, SOURCE_DATE_EPOCH: EPOCH };
  const commit = await copy.run(['commit', 'twice', tag], { env, timeout: 60_000 });
  // A commit whose layer blob the store has already may crash after it saved the image (a bug
  // of this chapter, see "What can go wrong"): the image is what counts, so read it back.
  const inspect = await copy.run(['inspect', tag], { timeout: 30_000 });
  if (inspect.code !== 0) notYet(`commit twice ${tag} made no image (exit code ${commit.code}): ${commit.stderr.trim().split('\n')[0]}`);
  return JSON.parse(inspect.stdout) as Inspected;
}

export default defineExercise({
  title: 'Same changes, same digests?',
  async check(copy) {
    await step(copy, ['import', ROOTFS, 'demo/base:v1']);
    await step(copy, ['run', '--name', 'twice', 'demo/base:v1', 'sh', '-c', 'echo x > /x']);

    const a = await commitAndInspect(copy, 'demo/t:a');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a clock that moves on shows in `created`
    const b = await commitAndInspect(copy, 'demo/t:b');
    const layerA = a.manifest.layers.at(-1)?.digest;
    const layerB = b.manifest.layers.at(-1)?.digest;
    if (layerA !== layerB) notYet(`the two commits have different layer blobs (${layerA} and ${layerB}): the same changes should give the same bytes`);
    if (a.manifestDigest !== b.manifestDigest) {
      notYet(
        `with SOURCE_DATE_EPOCH=${EPOCH}, the two commits still differ: created ${a.config.created} and ${b.config.created}, ` +
          `manifests ${a.manifestDigest.slice(0, 19)}… and ${b.manifestDigest.slice(0, 19)}… (the layer blob is the same)`,
      );
    }
    return `with SOURCE_DATE_EPOCH=${EPOCH}, both commits are created ${a.config.created}: same layer, same config ${a.configDigest.slice(0, 19)}…, same manifest ${a.manifestDigest.slice(0, 19)}…`;
  },
});
