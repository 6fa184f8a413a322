/** Exercise 02-2: without mount(MS_REC|MS_PRIVATE) on "/", a host whose "/" is shared (systemd
 *  makes it so) refuses pivot_root(2) with EINVAL, and the bind mount of the rootfs shows up on
 *  the host. Hosts differ, so the check makes the case itself: it runs the engine in a mount
 *  namespace of its own where "/" is shared, and everything mounted there goes away with it. */
import { stripVTControlCharacters } from 'node:util';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

/** A private mount namespace, then every mount in it made shared: as on a systemd host, but
 *  with peers in this namespace only (unshare(1) made them private first). */
const SHARED_ROOT = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --make-rshared / && exec "$@"', 'shared-root'];

export default defineExercise({
  title: 'Remove the MS_PRIVATE mount',
  async check(copy) {
    const r = await copy.run(['run', '--trace', ROOTFS, 'true'], { wrap: SHARED_ROOT, timeout: 30_000 });
    const trace = stripVTControlCharacters(r.stderr);
    if (trace.includes('MS_REC|MS_PRIVATE')) notYet('the trace still shows mount(null on "/", null, MS_REC|MS_PRIVATE): remove that line from prepareContainer()');
    if (r.code === 0) notYet('with "/" shared and no MS_PRIVATE, run … true still succeeded: expected pivot_root(2) to fail with EINVAL');
    const failed = trace.split('\n').find((line) => / = -1 E[A-Z]+/.test(line));
    if (!failed?.includes('pivot_root(') || !failed.includes('EINVAL')) {
      notYet(`run failed (exit ${r.code}), but the first failed call is ${failed ? `"${failed.split('  #')[0]}"` : 'not in the trace'}: expected pivot_root(".", ".") = -1 EINVAL`);
    }
    return `with "/" shared, ${failed.replace(/^\[\S+ \d+\] /, '').split('  #')[0]}: pivot_root(2) refuses a new root whose mount, or whose parent's, is shared`;
  },
});
