/** Exercise 01-5: the engine's own checks on the rootfs and the command only give clearer
 *  errors. Without them, the kernel refuses the same things: chroot(2) a file (ENOTDIR),
 *  execve(2) a file that is not executable (EACCES). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Let the kernel check',
  async check(copy) {
    const file = join(copy.scratch(), 'not-a-directory');
    writeFileSync(file, 'a file, not a rootfs\n');
    const onFile = await copy.run(['run', file, 'true'], { timeout: 30_000 });
    const refusal = onFile.stderr.trim();
    if (onFile.code === 0) notYet(`run ${file} true succeeded: a file cannot be a root directory`);
    if (!/chroot\(.*ENOTDIR/.test(refusal)) notYet(`run on a file says "${refusal}": that is checkRootfs(), not chroot(2) (expected chroot(…): ENOTDIR)`);
    // /etc/passwd of the sample rootfs is mode 0644: a file, found, not executable.
    const notExecutable = await copy.run(['run', ROOTFS, '/etc/passwd'], { timeout: 30_000 });
    const execRefusal = notExecutable.stderr.trim();
    if (notExecutable.code === 0) notYet('run … /etc/passwd succeeded: that file is not executable');
    if (!/execve\(.*EACCES/.test(execRefusal)) notYet(`run … /etc/passwd says "${execRefusal}": that is findProgram(), not execve(2) (expected execve(…): EACCES)`);
    return 'without the engine\'s checks the kernel refuses the same things: chroot(2) a file (ENOTDIR), execve(2) a file that is not executable (EACCES)';
  },
});
