/** Exercise 08-1: a registry accepts a manifest only once it holds every blob the manifest
 *  names; a push that sends the manifest first is refused. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';
import { step } from './common.ts';

export default defineExercise({
  title: 'Manifest first',
  async check(copy) {
    const registry = await copy.registry();
    const image = `${registry.host}/demo/first:v1`;
    await step(copy, ['import', ROOTFS, image]);
    const push = await copy.run(['push', image], { timeout: 60_000 });
    if (push.code === 0) notYet('push of a repository the registry has never seen succeeded: the manifest still goes up after the blobs');
    const lastLine = push.stderr.trim().split('\n').at(-1) ?? '';
    if (!lastLine.includes('MANIFEST_BLOB_UNKNOWN')) notYet(`push failed with ${push.code}, but not with MANIFEST_BLOB_UNKNOWN: ${lastLine}`);
    return `the registry refused the manifest: ${lastLine.replace(/^nutshell: /, '')}`;
  },
});
