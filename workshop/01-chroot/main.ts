/** Chapter 01 · chroot: run a command with another directory as its "/".
 *  New here: chroot(2), chdir(2), execve(2), and the re-exec of a child stage.
 *  Lesson: docs/01-chroot.md
 *  Run:    ./nutshell 01 run build/rootfs /bin/sh
 *          ./nutshell 01 escape build/rootfs       (why chroot is not enough) */
import { statSync } from 'node:fs';
import { runProgram, verb } from '../../lib/cli.ts';
import { runMain } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import { checkRootfs, containerInit, exitCodeOf, prepareContainer, runContainer, startChildStage } from './container.ts';
import { tryEscape, type EscapeConfig } from './escape.ts';

/** The verbs: each one's usage line, options and code. The usage text is made from this table. */
const VERBS = {
  run: verb({
    args: '<rootfs> <command> [args...]',
    about: 'run a command chrooted into <rootfs>',
    options: {},
    positionals: ['rootfs'],
    command: 'required',
    run: ({ positionals: { rootfs }, command }) => runContainer({ rootfs, argv: command }),
  }),
  escape: verb({
    args: '<rootfs>',
    about: 'show how root breaks out of a bare chroot',
    options: {},
    positionals: ['rootfs'],
    run: ({ positionals: { rootfs } }) => {
      const { dev, ino } = statSync('/');
      const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostRoot: { dev, ino } };
      return exitCodeOf(startChildStage('escape', config));
    },
  }),
};

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  throw new Error('TODO (chapter 01): write enterAndEscape(), as the comment above it says');
}

runMain(() =>
  runProgram({
    name: 'chapter 01',
    verbs: VERBS,
    // The child stages: this same program, re-executed by the engine (see container.ts).
    stages: { init: containerInit, escape: enterAndEscape },
  }, process.argv.slice(2), enableTrace));
