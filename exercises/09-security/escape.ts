/** Tooling for the checks of chapter 09: run one of the chapter's escape demos with the
 *  learner's copy, and read its verdict (its last line, `escaped: …` or `stopped: …`). */
import { notYet, ROOTFS, type Copy } from '../lib.ts';

export interface Verdict {
  demo: string;
  escaped: boolean;
  /** The verdict line, without `escaped: ` or `stopped: `. */
  said: string;
}

/** The image the demos run in, made by the copy itself (chapter 09 imports). */
export async function importDemoImage(copy: Copy, image: string): Promise<void> {
  const r = await copy.run(['import', ROOTFS, image], { timeout: 60_000 });
  if (r.code !== 0) notYet(`import failed with ${r.code}: ${r.stderr.trim()}`);
}

/** `runOptions` go on to the demo's `run` (`--cap-add SYS_PTRACE`). */
export async function runEscape(copy: Copy, demo: string, image: string, runOptions: string[] = []): Promise<Verdict> {
  // --host-dir: the demo's host side (its secret, its proof) in a directory of this check.
  const r = await copy.run(['escape', '--host-dir', copy.scratch('nutshell-exercise-escape-'), ...runOptions, demo, image], { timeout: 90_000 });
  const verdict = r.stdout.trim().split('\n').at(-1)?.match(/^(escaped|stopped): (.*)$/);
  if (r.timedOut || !verdict) notYet(`escape ${demo} gave no verdict (exit code ${r.code}${r.timedOut ? ', killed after 90 s' : ''}): ${(r.stderr.trim() || r.stdout.trim()).split('\n').at(-1)}`);
  return { demo, escaped: verdict[1] === 'escaped', said: verdict[2]! };
}
