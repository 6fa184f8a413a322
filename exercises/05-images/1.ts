/** Exercise 05-1: every layer has two names. The blob digest is the sha256 of the compressed
 *  bytes the registry serves; the diff id is the sha256 of the tar inside, which the config
 *  lists. A `layers <image>` verb prints both, and the check computes them by hand. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { defineExercise, notYet } from '../lib.ts';
import { pull, pushTestImage } from './common.ts';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export default defineExercise({
  title: 'Both hashes by hand',
  async check(copy) {
    const ref = await pushTestImage(copy, 'demo/hello');
    await pull(copy, ref);
    // By hand, from the store's files: images.json → the manifest → each layer's blob.
    const blob = (digest: string) => readFileSync(join(copy.root, 'blobs', 'sha256', digest.slice('sha256:'.length)));
    const images = JSON.parse(readFileSync(join(copy.root, 'images.json'), 'utf8')) as Record<string, { manifestDigest: string; configDigest: string }>;
    const record = Object.values(images)[0]!;
    const manifest = JSON.parse(blob(record.manifestDigest).toString()) as { layers: { digest: string }[] };
    const config = JSON.parse(blob(record.configDigest).toString()) as { rootfs: { diff_ids: string[] } };
    const expected = manifest.layers.map(({ digest }) => {
      const bytes = blob(digest);
      if (sha256(bytes) !== digest) throw new Error(`blob ${digest} in the store hashes to ${sha256(bytes)}`);
      return `${digest} ${sha256(gunzipSync(bytes))}`;
    });
    if (expected.map((line) => line.split(' ')[1]).join() !== config.rootfs.diff_ids.join()) throw new Error('the diff ids by hand differ from the config\'s');

    const r = await copy.run(['layers', ref], { timeout: 30_000 });
    if (/unknown verb/.test(r.stderr)) notYet('the engine has no verb "layers" yet');
    if (r.code !== 0) notYet(`layers ${ref} exited with ${r.code}: ${r.stderr.trim()}`);
    const printed = r.stdout.trim().split('\n').map((line) => (line.match(/sha256:[0-9a-f]{64}/g) ?? []).join(' ')).filter(Boolean);
    if (printed.join('\n') !== expected.join('\n')) {
      notYet(`layers printed:\n${printed.join('\n') || '(no digests)'}\nexpected, bottom layer first, "<blob digest> <diff id>":\n${expected.join('\n')}`);
    }
    return `layers printed the blob digest and the diff id of each of the ${expected.length} layers, as sha256sum and gunzip -c give them`;
  },
});
