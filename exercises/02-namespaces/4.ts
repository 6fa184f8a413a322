/** Exercise 02-4: without unshare(CLONE_FS), `exec` cannot join the container's mount namespace:
 *  setns(2) refuses (EINVAL) a thread that shares its root and working directory with other
 *  threads, and all of Node's threads share them. */
import { stripVTControlCharacters } from 'node:util';
import { startNamedContainer } from '../containers.ts';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'exec without unshare(CLONE_FS)',
  async check(copy) {
    await startNamedContainer(copy, 'box', [ROOTFS, 'sleep', '60']);
    const r = await copy.run(['exec', '--trace', 'box', 'true'], { timeout: 30_000 });
    const trace = stripVTControlCharacters(r.stderr);
    if (r.code === 0) notYet('exec box true still works: the unshare(CLONE_FS) is still there');
    const failed = trace.split('\n').find((line) => / = -1 E[A-Z]+/.test(line))?.replace(/^\[\S+ \d+\] /, '').split('  #')[0];
    if (!failed?.startsWith('setns(') || !failed.includes('CLONE_NEWNS') || !failed.includes('EINVAL')) {
      notYet(`exec failed (exit ${r.code}), but the first failed call is ${failed ? `"${failed}"` : 'not in the trace'}: expected setns(…/ns/mnt, CLONE_NEWNS) = -1 EINVAL`);
    }
    return `${failed}: the uts, ipc and net namespaces were joined, the mount namespace was not, because the thread still shared its root and cwd with Node's other threads`;
  },
});
