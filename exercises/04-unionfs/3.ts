/** Exercise 04-3: without checkUpperDir(), a work dir on another filesystem than upper reaches
 *  the kernel, which answers EINVAL and logs the reason. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Work dir on another filesystem',
  async check(copy) {
    // A first run makes the container's directories; then its work dir becomes a tmpfs.
    const first = await copy.run(['run', '--name', 'split', '--layer', ROOTFS, 'true'], { timeout: 30_000 });
    if (first.code !== 0) notYet(`the first run exited with ${first.code}: ${first.stderr.trim()}`);
    const workDir = join(copy.root, 'containers', 'split', 'work');
    execFileSync('mount', ['-t', 'tmpfs', 'nutshell-exercise', workDir]);
    copy.defer(() => execFileSync('umount', [workDir]));
    const r = await copy.run(['run', '--name', 'split', '--layer', ROOTFS, 'true'], { timeout: 30_000 });
    if (r.code === 0) notYet('the container ran with its work dir on a tmpfs: expected the mount to fail');
    if (/must be on the same mount/.test(r.stderr)) notYet('the engine still refuses before mounting ("must be on the same mount"): checkUpperDir() is still called');
    if (!/EINVAL/.test(r.stderr)) notYet(`expected mount(2) to fail with EINVAL; the engine said: ${r.stderr.trim()}`);
    let logged = '';
    try {
      logged = execFileSync('dmesg', { encoding: 'utf8' }).split('\n').reverse().find((line) => /overlayfs: workdir and upperdir/.test(line)) ?? '';
    } catch {
      // dmesg may be closed to us: the EINVAL is what the exercise asks to see
    }
    return `mount(2) returned EINVAL${logged ? `; the kernel log says "${logged.replace(/^\[[^\]]*\]\s*/, '')}"` : ''}`;
  },
});
