/** Exercise 05-2: a registry returns a manifest only in a format the client's Accept lists. With
 *  only Docker's two types listed, an OCI image's tag answers 404 although the tag exists; the
 *  message should say so rather than "not found". */
import { defineExercise, notYet } from '../lib.ts';
import { pushTestImage } from './common.ts';

export default defineExercise({
  title: 'The Accept header',
  async check(copy) {
    const ref = await pushTestImage(copy, 'demo/hello'); // an OCI manifest
    const r = await copy.run(['pull', ref], { timeout: 60_000 });
    if (r.code === 0) notYet(`pull ${ref} (an OCI image) worked: fetchManifest() still lists the OCI types in Accept`);
    const said = r.stderr.trim();
    if (!/accept|media type|format/i.test(said)) {
      notYet(`pull said "${said}": the tag is in the repository's list of tags, so "not found" is not what happened; say that the registry has no manifest in the formats we accept`);
    }
    return `pull of an OCI image with Docker-only Accept says: ${said}`;
  },
});
