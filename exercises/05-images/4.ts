/** Exercise 05-4: a layer that plants a symlink to a host directory, then writes a file through
 *  it. A check on the path string alone sees nothing wrong with "evil/pwned"; the symlink check
 *  in walkDirectories() is what stops it. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pushImage, writeOciLayout } from '../../tests/helpers/images.ts';
import { tarOf } from '../../tests/helpers/tar.ts';
import { defineExercise, notYet } from '../lib.ts';

export default defineExercise({
  title: 'Strings are not enough',
  async check(copy) {
    const registry = await copy.registry();
    const host = copy.scratch('nutshell-exercise-host-'); // stands for any directory of the host
    const layer = tarOf([{ path: 'evil', type: 'SymbolicLink', linkpath: host }, { path: 'evil/pwned', body: 'written from a layer\n' }]);
    pushImage(writeOciLayout(join(copy.scratch('nutshell-exercise-layout-'), 'layout'), 'v1', [layer]), 'v1', registry.host, 'hostile/symlink');
    const r = await copy.run(['pull', `${registry.host}/hostile/symlink:v1`], { timeout: 60_000 });
    const pwned = join(host, 'pwned');
    if (!existsSync(pwned)) {
      notYet(`the layer wrote nothing outside the store (pull exited with ${r.code}: ${r.stderr.trim() || 'no message'}): walkDirectories() still refuses the symlink`);
    }
    return `pulling a layer with "evil -> ${host}" and then "evil/pwned" wrote ${pwned} on the host: the layer escaped the store`;
  },
});
