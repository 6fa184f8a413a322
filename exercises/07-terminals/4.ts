/** Exercise 07-4: a background job started in `exec -it` keeps the pty's slave open after the
 *  shell exits. The engine waits only 250 ms for the end of output; an engine that waits for
 *  the end itself returns only when the job ends. */
import { listChapters } from '../../scripts/chapters.ts';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

const JOB_SECONDS = 10;

export default defineExercise({
  title: 'A job left behind',
  async check(copy) {
    await copy.runReference(listChapters().at(-1)!, ['import', ROOTFS, 'demo/x']);
    const started = await copy.run(['run', '-d', '--name', 'web', 'demo/x', 'sh', '-c', 'while sleep 1; do :; done'], { timeout: 30_000 });
    copy.defer(() => copy.run(['rm', '-f', 'web'], { timeout: 30_000 }));
    if (started.code !== 0) notYet(`run -d failed with ${started.code}: ${started.stderr.trim()}`);

    const begin = Date.now();
    const exec = await copy.run(['exec', '-it', 'web', 'sh'], { input: `sleep ${JOB_SECONDS} & exit\n`, timeout: 60_000 });
    const seconds = ((Date.now() - begin) / 1000).toFixed(1);
    if (exec.timedOut) notYet('exec -it did not return within 60 s');
    const ps = await copy.run(['exec', 'web', 'ps'], { timeout: 30_000 });
    if (ps.code !== 0) notYet(`exec web ps failed with ${ps.code}: ${ps.stderr.trim()}`);
    if (ps.stdout.includes(`sleep ${JOB_SECONDS}`)) {
      notYet(`exec -it returned after ${seconds} s while "sleep ${JOB_SECONDS}" still ran in the container, holding the pty: the engine stopped waiting for the end of output after 250 ms`);
    }
    return `exec -it returned after ${seconds} s, once "sleep ${JOB_SECONDS}" had ended and closed the pty's slave: the engine waited for the end of output (EIO on the master)`;
  },
});
