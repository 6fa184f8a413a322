/** Exercise 08-3: a file deleted in a container stays in the lower layer that added it; the
 *  new layer only hides it with a whiteout, and every layer travels with the image. A squashed
 *  commit (one layer: the container's whole tree) carries no trace of it. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { list as listTar } from 'tar';
import { defineExercise, notYet, ROOTFS, type Copy } from '../lib.ts';
import { step } from './common.ts';

const SECRET = 'etc/app.conf';

/** The names of every layer of `repository:tag` as the registry serves it, layer by layer. */
async function layersOnRegistry(copy: Copy, host: string, repository: string, tag: string): Promise<string[][]> {
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, { headers: { accept } });
  if (!response.ok) notYet(`the registry has no manifest ${repository}:${tag} (${response.status})`);
  const manifest = (await response.json()) as { layers: Array<{ digest: string }> };
  const dir = copy.scratch('nutshell-exercise-blobs-');
  const layers: string[][] = [];
  for (const layer of manifest.layers) {
    const blob = await fetch(`http://${host}/v2/${repository}/blobs/${layer.digest}`);
    const file = join(dir, layer.digest.slice(7));
    writeFileSync(file, Buffer.from(await blob.arrayBuffer()));
    const names: string[] = [];
    await listTar({ file, onReadEntry: (entry) => void names.push(entry.path.replace(/^\.\//, '')) });
    layers.push(names);
  }
  return layers;
}

export default defineExercise({
  title: 'The secret stays',
  async check(copy) {
    const registry = await copy.registry();
    const repo = `${registry.host}/demo/app`;
    await step(copy, ['import', ROOTFS, `${registry.host}/demo/base:v1`]);
    await step(copy, ['run', '--name', 'app', `${registry.host}/demo/base:v1`, 'sh', '-c', `echo token=hunter2 > /${SECRET}`]);
    await step(copy, ['commit', 'app', `${repo}:v1`]);
    await step(copy, ['run', '--name', 'clean', `${repo}:v1`, 'rm', `/${SECRET}`]);
    await step(copy, ['commit', '--squash', 'clean', `${repo}:v2`]);
    await step(copy, ['push', '-q', `${repo}:v2`]);

    const layers = await layersOnRegistry(copy, registry.host, 'demo/app', 'v2');
    const holder = layers.findIndex((names) => names.includes(SECRET));
    if (holder >= 0) notYet(`layer ${holder + 1} of ${layers.length} of demo/app:v2 on the registry still holds ${SECRET}: anyone who can pull the image can read it`);
    const inside = await step(copy, ['run', '--rm', `${repo}:v2`, 'sh', '-c', `test ! -e /${SECRET} && echo gone`]);
    if (inside.trim() !== 'gone') notYet(`demo/app:v2 does not run as expected: ${inside.trim()}`);
    return `demo/app:v2 on the registry has ${layers.length} layer(s), ${layers.reduce((n, names) => n + names.length, 0)} entries, none of them ${SECRET}; it runs, without the file`;
  },
});
