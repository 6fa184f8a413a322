/** Exercise 07-4: a background job started in `exec -it` keeps the pty's slave open after the
 *  shell exits. The engine waits only 250 ms for the end of output; an engine that waits for
 *  the end itself returns only when the job ends. */
import { readFileSync } from 'node:fs';
import { defineExercise, notYet } from '../lib.ts';
import { importImage, startWeb } from './common.ts';

const JOB_SECONDS = 5;

/** Seconds since boot: the same clock inside the container (no time namespace) and here. */
const uptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

export default defineExercise({
  title: 'A job left behind',
  async check(copy) {
    await importImage(copy);
    await startWeb(copy);

    // The job notes on the kernel's clock when it ends; we note when exec -it returned.
    const job = `(sleep ${JOB_SECONDS}; cat /proc/uptime > /job-ended) & exit\n`;
    const exec = await copy.run(['exec', '-it', 'web', 'sh'], { input: job, timeout: 60_000 });
    const returned = uptime();
    if (exec.timedOut) notYet('exec -it did not return within 60 s');
    const ended = await copy.run(['exec', 'web', 'sh', '-c', 'while [ ! -e /job-ended ]; do sleep 0.2; done; cat /job-ended'], { timeout: 30_000 });
    const jobEnded = Number(ended.stdout.trim().split(' ')[0]);
    if (ended.code !== 0 || !(jobEnded > 0)) notYet(`the background job never said it ended (exit code ${ended.code}): ${ended.stderr.trim()}`);
    const early = jobEnded - returned;
    if (early > 0) {
      notYet(`exec -it returned ${early.toFixed(1)} s before its background job ("sleep ${JOB_SECONDS}") ended, while the job still held the pty: the engine stopped waiting for the end of output after 250 ms`);
    }
    return `exec -it returned ${(-early).toFixed(1)} s after its background job ended and closed the pty's slave: the engine waited for the end of output (EIO on the master)`;
  },
});
