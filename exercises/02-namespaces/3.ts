/** Exercise 02-3: chroot instead of pivot_root, namespaces kept. A new mount namespace is a copy
 *  of the host's mount table: with chroot the host's whole tree stays mounted above the rootfs,
 *  and chapter 01's escape walks up to it. pivot_root + umount2 is what took it away. */
import { hostname } from 'node:os';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'chroot in a mount namespace',
  async check(copy) {
    const r = await copy.run(['escape', ROOTFS], { timeout: 30_000 });
    if (r.code !== 0) notYet(`escape exited with ${r.code}: ${r.stderr.trim().split('\n').at(-1)}`);
    const inside = /hostname is "([^"]*)"/.exec(r.stdout)?.[1];
    if (inside === undefined || inside === hostname()) {
      notYet(`inside, the hostname is "${inside ?? '?'}", the host's: keep the namespaces (only pivot_root and umount2 go)`);
    }
    if (!r.stdout.includes('ESCAPED')) notYet(`the escape stays inside: ${r.stdout.trim().split('\n').at(-1)}`);
    return `with its own hostname ("${inside}") but chroot instead of pivot_root, the escape reached the host's "/": the new mount namespace still holds the host's tree above the rootfs`;
  },
});
