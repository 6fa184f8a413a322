/** Exercise 01-1: without chdir('/') after chroot, the working directory stays where the engine
 *  was started, outside the new root, and ".." from there is the host's. The check starts the
 *  copy from its own folder, so ".." is the folder that holds the copy: the rootfs has no such entry. */
import { basename, dirname } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Remove the chdir',
  async check(copy) {
    const r = await copy.run(['run', ROOTFS, 'sh', '-c', 'pwd; ls ..'], { cwd: copy.dir, timeout: 30_000 });
    if (r.code !== 0) notYet(`run … sh -c 'pwd; ls ..' exited with ${r.code}: ${r.stderr.trim()}`);
    const [pwd = '', ...listing] = r.stdout.split('\n');
    if (!listing.includes(basename(copy.dir))) {
      notYet(`pwd inside prints "${pwd}" and "ls .." lists ${listing.filter(Boolean).join(' ')}: the chdir('/') is still there, so ".." stays inside the rootfs`);
    }
    return `pwd inside prints "${pwd}" (the kernel cannot name a directory outside the root) and "ls .." lists the host's ${dirname(copy.dir)}: the working directory was left outside the new root`;
  },
});
