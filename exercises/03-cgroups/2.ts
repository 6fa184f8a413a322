/** Exercise 03-2: pids.max stops fork(2) and clone(2), not a move into the cgroup. `exec` starts
 *  its process outside and moves it in, so the kernel lets pids.current go past pids.max. The
 *  exercise makes `exec` refuse, as a fork inside would be refused, once the container is at
 *  its limit. The check fills a container of --pids-limit 2 (PID 1 and one exec'd sleep). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupDirOf, startNamedContainer } from '../containers.ts';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'exec at the pids limit',
  async check(copy) {
    const box = await startNamedContainer(copy, 'box', ['--pids-limit', '2', ROOTFS, 'sleep', '60']);
    const pidsDir = cgroupDirOf(box.pid, 'pids');
    const read = (file: string) => readFileSync(join(pidsDir, file), 'utf8').trim();

    const below = await copy.run(['exec', 'box', 'echo', 'below-the-limit'], { timeout: 30_000 });
    if (below.code !== 0 || !below.stdout.includes('below-the-limit')) {
      notYet(`with 1 task of pids.max 2, exec box echo … should work, but it exited with ${below.code}: ${below.stderr.trim()}`);
    }
    // One more task for good: a second process that stays. The container is then full.
    const filler = copy.run(['exec', 'box', 'sleep', '60'], { timeout: 120_000 });
    copy.defer(async () => {
      await box.stop(); // first: the filler's sleep ends with the container
      await filler;
    });
    for (let waited = 0; read('pids.current') !== '2' && waited < 30_000; waited += 200) await sleep(200);
    if (read('pids.current') !== '2') notYet(`exec box sleep 60 in the background: pids.current is ${read('pids.current')} after 30 s, not 2`);

    const over = await copy.run(['exec', 'box', 'echo', 'over-the-limit'], { timeout: 30_000 });
    const current = read('pids.current');
    if (over.stdout.includes('over-the-limit')) {
      notYet(`with pids.current 2 of pids.max ${read('pids.max')}, exec box echo … still ran (a move into a cgroup is not a fork, so the kernel allows it): refuse it in execInContainer()`);
    }
    if (over.code === 0) notYet('exec at the limit printed nothing but exited with 0: say why it refused, and exit with an error');
    return `exec worked with 1 of 2 tasks; at 2 of 2 it was refused (exit ${over.code}: "${over.stderr.trim()}"), and pids.current stayed at ${current}`;
  },
});
