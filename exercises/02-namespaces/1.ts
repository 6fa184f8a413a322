/** Exercise 02-1: unshare(CLONE_NEWPID) in the child stage instead of the engine. The call does
 *  not move the caller: only its next child goes into the new namespace and becomes its PID 1.
 *  So the command keeps a host PID, /proc (mounted by a process of the host's namespace) shows
 *  the host's processes, and once that first child has exited, no process can enter the
 *  namespace any more: fork(2) fails with ENOMEM. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

// $$, then how many processes /proc shows (counted with builtins: no fork), then two children
// (the "true" at the end keeps sh from running the last one in its own place, without a fork).
const SCRIPT = 'echo $$; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n; sh -c "echo \\$\\$"; sh -c "echo \\$\\$"; true';

export default defineExercise({
  title: 'Unshare the PID namespace in the child',
  async check(copy) {
    const r = await copy.run(['run', ROOTFS, 'sh', '-c', SCRIPT], { timeout: 30_000 });
    const [pid = '', processes = '', firstChild = '', secondChild = ''] = r.stdout.split('\n');
    if (pid === '1') notYet(`"echo $$" inside prints 1: the command is still PID 1 of a new namespace (the engine unshares CLONE_NEWPID before it starts the child stage)`);
    if (!/^\d+$/.test(pid)) notYet(`run … sh -c 'echo $$ …' printed "${r.stdout.trim()}" (exit ${r.code}): ${r.stderr.trim()}`);
    if (firstChild !== '1') notYet(`"echo $$" prints ${pid}, but the shell's first child printed "${firstChild}", not 1: is CLONE_NEWPID in the child stage's unshare?`);
    if (secondChild !== '' || !/can't fork/.test(r.stderr)) {
      notYet(`the second child printed "${secondChild}" (stderr: "${r.stderr.trim()}"): expected "can't fork", as the namespace's PID 1 had exited`);
    }
    return `"echo $$" prints ${pid}, a host PID, and /proc shows ${processes} processes (the host's); the shell's first child was PID 1 of the new namespace, and after it exited the next fork failed: "${r.stderr.trim().split('\n')[0]}"`;
  },
});
