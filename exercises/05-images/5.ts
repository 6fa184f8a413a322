/** Exercise 05-5: pulling a tag again for another platform replaces its record in images.json.
 *  What only the replaced record used must go then, as rmi deletes what only it used. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pushMultiArchIndex } from '../../tests/helpers/images.ts';
import { defineExercise, notYet } from '../lib.ts';
import { pull } from './common.ts';

export default defineExercise({
  title: 'One name, two platforms',
  async check(copy) {
    const registry = await copy.registry();
    pushMultiArchIndex(registry.host, 'demo/multi', 'v1');
    const ref = `${registry.host}/demo/multi:v1`;
    await pull(copy, ref);
    await pull(copy, ref, ['--platform', 'linux/arm64']);
    const rmi = await copy.run(['rmi', ref], { timeout: 30_000 });
    if (rmi.code !== 0) notYet(`rmi ${ref} exited with ${rmi.code}: ${rmi.stderr.trim()}`);
    const left = readdirSync(join(copy.root, 'layers', 'sha256'));
    if (left.length > 0) notYet(`after pull, pull --platform linux/arm64 and rmi, ${left.length} layer(s) stay in layers/sha256 that no image names (${left.map((d) => d.slice(0, 12)).join(', ')}): saveImage() keeps what the replaced record used`);
    return 'after pull, pull --platform linux/arm64 and rmi, layers/sha256 is empty: replacing a record removed what only it used';
  },
});
