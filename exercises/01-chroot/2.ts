/** Exercise 01-2: without the fcntl(F_SETFD, 0) on fds 0, 1 and 2, Node's close-on-exec flag
 *  closes them at execve(2): the command runs, but has nowhere to write, not even an error. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Delete the keepOpenAcrossExec loop',
  async check(copy) {
    const r = await copy.run(['run', ROOTFS, 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], { timeout: 30_000 });
    if (r.stdout.includes('to-stdout') || r.stderr.includes('to-stderr')) {
      notYet(`the command's output still arrives (stdout "${r.stdout.trim()}", stderr "${r.stderr.trim()}"): fds 0, 1 and 2 are still kept open across execve`);
    }
    if (r.code !== 3) notYet(`the command should still run and exit with 3, but the engine exited with ${r.code}: ${r.stderr.trim()}`);
    return 'the command ran (its exit code 3 came back) but printed nothing, not even on stderr: the kernel closed fds 0, 1 and 2 at execve';
  },
});
