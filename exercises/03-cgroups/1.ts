/** Exercise 03-1: unshare(CLONE_NEWCGROUP) before the engine has moved the child stage into the
 *  container's cgroup. A cgroup namespace takes as its root the cgroup its creator is in at that
 *  moment: here the engine's. The container's cgroup is then shown relative to that root. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Unshare the cgroup namespace too early',
  async check(copy) {
    const r = await copy.run(['run', ROOTFS, 'cat', '/proc/self/cgroup'], { timeout: 30_000 });
    if (r.code !== 0) notYet(`run … cat /proc/self/cgroup exited with ${r.code}: ${r.stderr.trim()}`);
    const lines = r.stdout.trim().split('\n');
    // "4:memory:/path": hierarchy id, controllers, path (v2 has one line, "0::/path").
    const moved = lines.filter((line) => line.split(':').slice(2).join(':') !== '/');
    if (moved.length === 0) notYet(`every line of /proc/self/cgroup inside ends in "/" (${lines.join(', ')}): the cgroup namespace is still made after the move into the container's cgroup`);
    const shown = moved.find((line) => line.includes('memory')) ?? moved[0];
    return `inside, /proc/self/cgroup shows "${shown}": the namespace was made while the child stage was still in the engine's cgroup, so that is its root, and the container's cgroup is seen from there`;
  },
});
