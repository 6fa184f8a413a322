/** Exercise 09-4: `exec`'s child stage is a process of the host (its root, its environment,
 *  the host's node) until it spawns the command. Chapter 09 keeps it out of the container's PID
 *  namespace; born inside it (chapter 08's order), it is there for a watcher in the container
 *  to follow /proc/PID/root out, as soon as the watcher holds CAP_SYS_PTRACE. */
import { defineExercise, notYet } from '../lib.ts';
import { importDemoImage, runEscape } from './escape.ts';

export default defineExercise({
  title: 'Dumpable, and the order',
  async check(copy) {
    await importDemoImage(copy, 'demo/busybox:1');
    // CAP_SYS_PTRACE: the watcher passes ptrace_may_access() on a dumpable or not, fully
    // capable process, so what is left to stop it is where the child stage is born.
    const verdict = await runEscape(copy, 'exec', 'demo/busybox:1', ['--cap-add', 'SYS_PTRACE']);
    if (!verdict.escaped) notYet(`escape exec --cap-add SYS_PTRACE was stopped (${verdict.said}): the child stage is still started outside the container's PID namespace`);
    return `escape exec --cap-add SYS_PTRACE got out: ${verdict.said}`;
  },
});
