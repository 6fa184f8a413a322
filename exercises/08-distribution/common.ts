/** Tooling for the checks of chapter 08: run a step of the learner's copy that must work. */
import { notYet, type Copy } from '../lib.ts';

/** Run the copy with `args` (a minute at most) and return its stdout; a failure stops the
 *  check with the copy's own first error line. */
export async function step(copy: Copy, args: string[]): Promise<string> {
  const r = await copy.run(args, { timeout: 60_000 });
  if (r.code !== 0) notYet(`${args.slice(0, 3).join(' ')} … failed with ${r.code}${r.timedOut ? ' (killed after 60 s)' : ''}: ${r.stderr.trim().split('\n')[0]}`);
  return r.stdout;
}
