/** Exercise 03-5: the OOM killer may end a process that is not PID 1. The container then goes on
 *  (and may exit 0), and the engine said nothing. The memory cgroup's counter knows (oom_kill in
 *  memory.oom_control on v1, memory.events on v2); the exercise makes the engine say it. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

// The lesson's hog (100 MB of "a" in a shell variable), in a subshell: PID 1 survives it.
const HOG = '(x=$(head -c 100000000 /dev/zero | tr "\\0" a)); echo "subshell ended: $?"';

export default defineExercise({
  title: 'Say when the OOM killer struck',
  async check(copy) {
    const r = await copy.run(['run', '--memory', '32m', ROOTFS, 'sh', '-c', HOG], { timeout: 60_000 });
    const subshell = r.stdout.trim();
    if (subshell !== 'subshell ended: 137') notYet(`the hog's subshell should be killed (137) under --memory 32m, but the container printed "${subshell}" (exit ${r.code})`);
    if (r.code !== 0) notYet(`PID 1 survived the OOM kill of its subshell, so the container should exit 0, not ${r.code}: ${r.stderr.trim()}`);
    const said = r.stderr.split('\n').filter((line) => /out of memory|OOM/i.test(line) && !/^tr:|Killed$/.test(line));
    if (said.length === 0) notYet(`the OOM killer ended the subshell, PID 1 lived on, and the engine said nothing about it (stderr: "${r.stderr.trim().split('\n').join(' / ')}")`);
    return `the subshell was OOM-killed (137), the container exited 0, and the engine said: "${said[0]!.trim()}"`;
  },
});
