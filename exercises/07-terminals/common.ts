/** Tooling for the checks of chapter 07: the image and the detached container they start
 *  from, and the learner's copy run with a terminal as its stdin, stdout and stderr, as a
 *  person at a keyboard would. util-linux's script(1) makes the pty, gives it to the engine as
 *  its controlling terminal and copies our bytes into it, so keys such as ^C reach the
 *  terminal's line discipline, not a pipe. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chapterCommand, listChapters } from '../../scripts/chapters.ts';
import { notYet, ROOTFS, type Copy } from '../lib.ts';

/** The image the checks run: chapter 07 cannot make one, so our last chapter imports the
 *  busybox rootfs into the same store. */
export const IMAGE = 'demo/x';

export async function importImage(copy: Copy): Promise<void> {
  const r = await copy.runReference(listChapters().at(-1)!, ['import', ROOTFS, IMAGE], { timeout: 60_000 });
  if (r.code !== 0) throw new Error(`import with our last chapter failed with ${r.code}: ${r.stderr.trim()}`);
}

/** `run -d --name web` of a shell that only waits, removed after the check. */
export async function startWeb(copy: Copy): Promise<void> {
  const r = await copy.run(['run', '-d', '--name', 'web', IMAGE, 'sh', '-c', 'while sleep 1; do :; done'], { timeout: 30_000 });
  copy.defer(() => copy.run(['rm', '-f', 'web'], { timeout: 30_000 }));
  if (r.code !== 0) notYet(`run -d failed with ${r.code}: ${r.stderr.trim()}`);
}

/** `run -it --rm … IMAGE sh` on a terminal, once the shell's prompt shows. */
export async function shellInTerminal(copy: Copy, runOptions: string[] = []): Promise<TerminalSession> {
  const terminal = runInTerminal(copy, ['run', '-it', '--rm', ...runOptions, IMAGE, 'sh']);
  try {
    await terminal.waitFor('/ # ', 30_000);
  } catch {
    notYet(`the shell's prompt "/ # " never showed; the terminal showed: ${JSON.stringify(terminal.screen().slice(-300))}`);
  }
  return terminal;
}

export interface TerminalSession {
  /** Type these bytes, as if at the keyboard ("\x03" is Ctrl-C). */
  type(keys: string): void;
  /** Resolves once `text` has appeared in what the terminal showed since `from` (an offset in
   *  `screen()`), or rejects after `ms`. */
  waitFor(text: string, ms: number, from?: number): Promise<void>;
  /** Everything the terminal showed so far, as bytes turned into text (with \r and escapes). */
  screen(): string;
  /** Set the window size of the engine's terminal, as a resized window does: the kernel
   *  sends SIGWINCH to the engine (it is the terminal's foreground process). */
  resize(rows: number, cols: number): Promise<void>;
  /** The engine's exit code (script -e passes it on), or null if killed after `ms`. */
  exit(ms: number): Promise<number | null>;
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Start the copy's program with `args` (`['run', '-it', …]`) on a new terminal. */
export function runInTerminal(copy: Copy, args: string[]): TerminalSession {
  // The new terminal has no size (0×0) until someone sets one: give it a window's usual 24×80.
  const command = `stty rows 24 cols 80 && exec ${[...chapterCommand(join(copy.dir, 'main.ts')), ...args].map(quote).join(' ')}`;
  // -q: no "Script started" lines; -e: script exits with the engine's code; /dev/null: no typescript file.
  const script = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...copy.env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let shown = '';
  const listeners = new Set<() => void>();
  const onOutput = (chunk: Buffer) => {
    shown += chunk.toString('latin1');
    for (const listener of listeners) listener();
  };
  script.stdout.on('data', onOutput);
  script.stderr.on('data', onOutput);
  const exited = new Promise<number | null>((resolve) => script.on('exit', (code) => resolve(code)));
  copy.defer(async () => {
    script.kill('SIGKILL');
    await exited;
  });

  const waitFor = (text: string, ms: number, from = 0) =>
    new Promise<void>((resolve, reject) => {
      const seen = () => shown.indexOf(text, from) >= 0;
      if (seen()) return resolve();
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`"${text}" did not show within ${ms / 1000} s`));
      }, ms);
      const listener = () => {
        if (!seen()) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
    });

  /** The engine is script's only child: `exec` made the shell become it. */
  const enginePid = () => {
    const children = readFileSync(`/proc/${script.pid}/task/${script.pid}/children`, 'utf8').trim().split(' ');
    return children[0];
  };

  return {
    type: (keys) => void script.stdin.write(keys),
    waitFor,
    screen: () => shown,
    resize: (rows, cols) =>
      new Promise<void>((resolve, reject) => {
        // TIOCSWINSZ on the terminal the engine holds as fd 0; stty(1) does exactly that.
        const stty = spawn('stty', ['-F', `/proc/${enginePid()}/fd/0`, 'rows', String(rows), 'cols', String(cols)], { stdio: 'ignore' });
        stty.on('error', reject);
        stty.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`stty exited with ${code}`))));
      }),
    exit: (ms) =>
      Promise.race([
        exited,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref()),
      ]),
  };
}
