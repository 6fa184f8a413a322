/** Exercise 07-5: when `exec -it` cannot open a pty in the container (here /dev/pts is a
 *  symlink to /dev, a loop for RESOLVE_IN_ROOT), the engine must end its child stage, which
 *  otherwise waits for "go" and keeps `exec` from returning. */
import { defineExercise, notYet } from '../lib.ts';
import { importImage, startWeb } from './common.ts';

const LIMIT_MS = 20_000;

export default defineExercise({
  title: 'Clean up a failed exec -it',
  async check(copy) {
    await importImage(copy);
    await startWeb(copy);
    const loop = await copy.run(['exec', 'web', 'sh', '-c', 'umount /dev/pts && rmdir /dev/pts && ln -s /dev /dev/pts'], { timeout: 30_000 });
    if (loop.code !== 0) notYet(`replacing /dev/pts with a symlink to /dev failed with ${loop.code}: ${loop.stderr.trim()}`);

    const exec = await copy.run(['exec', '-it', 'web', 'sh'], { input: 'exit\n', timeout: LIMIT_MS });
    if (exec.timedOut) notYet(`exec -it was still waiting after ${LIMIT_MS / 1000} s (stderr: ${exec.stderr.trim() || 'nothing'}): its child stage still waits for "go"`);
    if (!exec.stderr.includes('ELOOP')) notYet(`exec -it ended with ${exec.code} but did not report ELOOP: ${exec.stderr.trim()}`);
    if (exec.code !== 125) notYet(`exec -it reported ELOOP but exited with ${exec.code}, not 125 (the engine's own failure)`);
    return 'exec -it reported ELOOP and returned 125 at once: the child stage waiting for "go" was killed';
  },
});
