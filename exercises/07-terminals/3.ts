/** Exercise 07-3: the engine passes a resized window on to the container's pty only because it
 *  listens for SIGWINCH; without the listener, the container keeps the size it started with. */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineExercise, notYet } from '../lib.ts';
import { importImage, shellInTerminal, type TerminalSession } from './common.ts';

const RESIZED = { rows: 37, cols: 111 };

/** Run `stty size` in the container's shell and return what it printed ("rows cols"). */
async function askSize(terminal: TerminalSession): Promise<string> {
  const mark = terminal.screen().length;
  // The shell prints " 42" after the size; the echo of the typed line shows "$((6*7))" instead.
  terminal.type('echo "size: $(stty size) $((6*7))"\n');
  try {
    await terminal.waitFor(' 42\r', 10_000, mark);
  } catch {
    notYet(`stty size printed nothing; the terminal showed: ${JSON.stringify(terminal.screen().slice(mark))}`);
  }
  return terminal.screen().slice(mark).match(/size: ([^$\r\n]*) 42\r/)?.[1]?.trim() ?? '';
}

export default defineExercise({
  title: 'SIGWINCH',
  async check(copy) {
    await importImage(copy);
    const terminal = await shellInTerminal(copy);
    await terminal.resize(RESIZED.rows, RESIZED.cols);
    // Ask three times, a second apart: an engine that listens for SIGWINCH may be slow to run
    // its handler on a busy machine, and one answer with the new size is enough to know it does.
    let inside = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      await sleep(1000);
      inside = await askSize(terminal);
      if (inside === `${RESIZED.rows} ${RESIZED.cols}`) {
        notYet(`after the window was resized to ${RESIZED.rows}×${RESIZED.cols}, stty size inside says "${inside}" too: the engine still passes SIGWINCH on`);
      }
    }
    terminal.type('exit\n');
    await terminal.exit(10_000);
    return `the window was resized to ${RESIZED.rows}×${RESIZED.cols}, but stty size inside still says "${inside}": nobody told the container's pty`;
  },
});
