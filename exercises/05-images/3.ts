/** Exercise 05-3: a tag is a name that moves; a digest names one manifest for ever. `run` uses the
 *  store's copy of a tag; `run --pull always` asks the registry again. */
import { defineExercise, notYet } from '../lib.ts';
import { pushMultiArchIndex, TEST_IMAGE } from '../../tests/helpers/images.ts';
import { pull, pushTestImage } from './common.ts';

export default defineExercise({
  title: 'Tags move, digests do not',
  async check(copy) {
    const ref = await pushTestImage(copy, 'demo/hello');
    const digest = await pull(copy, ref);
    const byDigest = `${ref.replace(/:v1$/, '')}@${digest}`;
    pushMultiArchIndex(ref.split('/')[0]!, 'demo/hello', 'v1'); // the tag now names another image, with /etc/arch

    const old = await copy.run(['run', ref, 'cat', '/etc/arch'], { timeout: 60_000 });
    if (old.code === 0) notYet(`run ${ref} printed "${old.stdout.trim()}" from /etc/arch: without --pull, run should keep the store's copy of the tag`);
    const fresh = await copy.run(['run', '--pull', 'always', ref, 'cat', '/etc/arch'], { timeout: 60_000 });
    if (/--pull/.test(fresh.stderr)) notYet(`run does not know --pull yet: ${fresh.stderr.trim()}`);
    if (fresh.code !== 0 || fresh.stdout.trim() !== 'amd64') {
      notYet(`run --pull always ${ref} cat /etc/arch exited with ${fresh.code} and printed "${fresh.stdout.trim()}", expected amd64 (the image the tag names now): ${fresh.stderr.trim()}`);
    }
    const pinned = await copy.run(['run', byDigest, 'cat', '/srv/data/hello.txt'], { timeout: 60_000 });
    if (pinned.code !== 0 || pinned.stdout !== TEST_IMAGE.hello) {
      notYet(`run ${byDigest} cat /srv/data/hello.txt exited with ${pinned.code} and printed "${pinned.stdout.trim()}", expected "${TEST_IMAGE.hello.trim()}"`);
    }
    return `after the tag moved, run kept the old image, run --pull always printed amd64, and the digest still printed "${TEST_IMAGE.hello.trim()}"`;
  },
});
