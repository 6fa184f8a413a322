/** Exercise 07-2: without raw mode on the user's terminal, Ctrl-C is turned into SIGINT on the
 *  HOST's terminal, for the engine, instead of travelling to the container's pty as a byte. */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineExercise, notYet } from '../lib.ts';
import { importImage, shellInTerminal } from './common.ts';

export default defineExercise({
  title: 'No raw mode',
  async check(copy) {
    await importImage(copy);
    // --stop-timeout 2: the engine kills a PID 1 that ignores the signal after 2 s, not 10.
    const terminal = await shellInTerminal(copy, ['--stop-timeout', '2']);
    terminal.type('sleep 100\n');
    await sleep(1500); // sh has started sleep by now
    terminal.type('\x03');
    await sleep(1000);
    terminal.type('exit 3\n');
    const code = await terminal.exit(20_000);
    if (code === null) notYet('run -it did not end within 20 s of Ctrl-C and "exit 3"');
    if (code === 3) notYet('Ctrl-C ended sleep inside and the shell went on to "exit 3" (exit code 3): stdin is still in raw mode, so ^C reached the container\'s terminal as a byte');
    if (!terminal.screen().includes('ignored SIGINT')) notYet(`run -it ended with ${code}, but the engine never said PID 1 ignored SIGINT; the terminal showed: ${JSON.stringify(terminal.screen().slice(-300))}`);
    return `Ctrl-C became SIGINT for the engine on the host's terminal; the engine passed it to sh (PID 1), which ignores it, and killed it after --stop-timeout: exit code ${code}`;
  },
});
