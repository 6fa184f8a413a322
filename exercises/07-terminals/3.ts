/** Exercise 07-3: the engine passes a resized window on to the container's pty only because it
 *  listens for SIGWINCH; without the listener, the container keeps the size it started with. */
import { setTimeout as sleep } from 'node:timers/promises';
import { listChapters } from '../../scripts/chapters.ts';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';
import { runInTerminal } from './terminal.ts';

const RESIZED = { rows: 37, cols: 111 };

export default defineExercise({
  title: 'SIGWINCH',
  async check(copy) {
    await copy.runReference(listChapters().at(-1)!, ['import', ROOTFS, 'demo/x']);
    const terminal = runInTerminal(copy, ['run', '-it', '--rm', 'demo/x', 'sh']);
    try {
      await terminal.waitFor('/ # ', 30_000);
    } catch {
      notYet(`the shell's prompt "/ # " never showed; the terminal showed: ${JSON.stringify(terminal.screen().slice(-300))}`);
    }
    await terminal.resize(RESIZED.rows, RESIZED.cols);
    await sleep(1000); // time for SIGWINCH to reach the engine (if it listens)
    const mark = terminal.screen().length;
    terminal.type('echo "size: $(stty size)"\n');
    try {
      await terminal.waitFor('size: ', 10_000, mark + 'echo "size: '.length);
      await terminal.waitFor('\n', 2_000, terminal.screen().lastIndexOf('size: '));
    } catch {
      notYet(`stty size printed nothing; the terminal showed: ${JSON.stringify(terminal.screen().slice(mark))}`);
    }
    terminal.type('exit\n');
    await terminal.exit(10_000);
    const inside = (terminal.screen().slice(terminal.screen().lastIndexOf('size: ') + 6).split(/\r?\n/)[0] ?? '').trim();
    if (inside === `${RESIZED.rows} ${RESIZED.cols}`) {
      notYet(`after the window was resized to ${RESIZED.rows}×${RESIZED.cols}, stty size inside says "${inside}" too: the engine still passes SIGWINCH on`);
    }
    return `the window was resized to ${RESIZED.rows}×${RESIZED.cols}, but stty size inside still says "${inside}": nobody told the container's pty`;
  },
});
