/** Exercise 07-1: a pty made on the host's /dev/ptmx has a slave named after the HOST's
 *  devpts; inside the container, whose /dev/pts is a devpts instance of its own, that name
 *  does not exist. */
import { defineExercise, notYet } from '../lib.ts';
import { IMAGE, importImage } from './common.ts';

export default defineExercise({
  title: 'A pty from the host',
  async check(copy) {
    await importImage(copy);
    const r = await copy.run(['run', '-it', '--rm', IMAGE, 'sh'], { input: 'tty; ls /dev/pts; exit\n', timeout: 30_000 });
    if (r.timedOut) notYet('run -it did not end within 30 s');
    if (r.code === 0) {
      const tty = r.stdout.match(/\/dev\/pts\/\d+/)?.[0] ?? 'no pty name';
      notYet(`the shell ran and tty printed ${tty} (exit code 0): the pty still comes from the container's own devpts`);
    }
    const missing = r.stderr.match(/ENOENT[^\n]*'(\/dev\/pts\/\d+)'/);
    if (!missing) notYet(`run -it failed with ${r.code}, but not because a /dev/pts/N was missing: ${r.stderr.trim()}`);
    return `the child stage could not open ${missing[1]} (exit code ${r.code}): that is the slave's name in the host's devpts, and the container's devpts has no such pty`;
  },
});
