/** Exercise 09-2: setuid(2) away from root empties the permitted and effective capability sets
 *  unless PR_SET_KEEPCAPS is set first; a later step that needs a capability then fails, for
 *  any user but root (whose setuid(0) keeps them). */
import { defineExercise, notYet } from '../lib.ts';
import { importDemoImage } from './escape.ts';

export default defineExercise({
  title: 'The order',
  async check(copy) {
    await importDemoImage(copy, 'demo/busybox:1');
    const user = await copy.run(['run', '--rm', '-u', '1000', 'demo/busybox:1', 'id'], { timeout: 60_000 });
    if (user.code === 0) notYet(`run -u 1000 … id worked (${user.stdout.trim()}): the capabilities are still kept across setuid(2)`);
    const failed = user.stderr.split('\n').find((line) => /\b(E[A-Z]+) \(/.test(line));
    if (!failed) notYet(`run -u 1000 … id failed with ${user.code}, but no line names a call and its errno: ${user.stderr.trim()}`);
    const root = await copy.run(['run', '--rm', 'demo/busybox:1', 'id'], { timeout: 60_000 });
    if (root.code !== 0) notYet(`run … id as root fails too (${root.code}): ${root.stderr.trim().split('\n')[0]} — only the change of user should break`);
    return `as uid 1000: ${failed.replace(/^nutshell: /, '').replace(/ — .*$/, '')}; as root the same copy runs id (${root.stdout.trim().split(' ')[0]})`;
  },
});
