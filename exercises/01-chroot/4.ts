/** Exercise 01-4: the fchdir(2) escape. The escape demo first closes the gap it used (a
 *  chdir("/") right after its chroot into the hatch), then gets out anyway through a directory
 *  it opened before that chroot. The check reads the order of the calls in the trace. */
import { stripVTControlCharacters } from 'node:util';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'The fchdir escape',
  async check(copy) {
    const r = await copy.run(['escape', '--trace', ROOTFS], { timeout: 30_000 });
    if (r.code !== 0) notYet(`escape exited with ${r.code}: ${r.stderr.trim().split('\n').at(-1)}`);
    // Only the escape's own calls: the ones after its chroot into the hatch.
    const calls = stripVTControlCharacters(r.stderr).split('\n').map((line) => line.replace(/^\[\S+ \d+\] /, ''));
    const hatch = calls.findIndex((call) => call.startsWith('chroot("/.nutshell-escape") = 0'));
    if (hatch === -1) notYet('the trace shows no chroot("/.nutshell-escape"): the escape no longer makes its hatch');
    const after = calls.slice(hatch + 1);
    if (!after[0]?.startsWith('chdir("/") = 0')) {
      notYet(`right after chroot("/.nutshell-escape") the trace shows ${after[0] ? `"${after[0].split('  #')[0]}"` : 'nothing'}, not chdir("/"): close the gap first, or the old escape works on its own`);
    }
    const fchdir = after.find((call) => /^fchdir\(\d+\) = 0/.test(call));
    if (!fchdir) notYet('after the chroot into the hatch and chdir("/"), the trace shows no fchdir(N) = 0: declare fchdir in syscalls.ts and call it on the directory opened before the chroot');
    if (!r.stdout.includes('ESCAPED')) notYet(`fchdir was called, but the escape did not get out: ${r.stdout.trim().split('\n').at(-1)}`);
    return `chroot into the hatch, chdir("/"), ${fchdir.split(' = ')[0]}, then ".." up and chroot("."): ESCAPED — a descriptor opened before the chroot still leads out`;
  },
});
