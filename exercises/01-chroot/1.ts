/** Exercise 01-1 (sample for the framework): without chdir('/') after chroot, the working
 *  directory stays outside the new root. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Remove the chdir',
  async check(copy) {
    const r = await copy.run(['run', ROOTFS, 'sh', '-c', 'pwd']);
    if (r.code !== 0) notYet(`run … pwd exited with ${r.code}: ${r.stderr.trim()}`);
    const pwd = r.stdout.trim();
    if (pwd === '/') notYet('pwd inside still prints "/": the chdir is still there');
    return `pwd inside prints "${pwd}": the working directory is outside the new root`;
  },
});
