/** Chapter 02 · namespaces: run a command with its own hostname, PIDs, mounts, IPC and
 *  network, in a root it cannot walk out of.
 *  New here: unshare(2), setns(2), sethostname(2), mount(2), pivot_root(2), umount2(2),
 *  mknod(2), ioctl(SIOCSIFFLAGS), a sync pipe between the stages, and the `exec` verb.
 *  Lesson: docs/02-namespaces.md
 *  Run:    ./nutshell 02 run --name box build/rootfs /bin/sh
 *          ./nutshell 02 exec box ps          (from another terminal)
 *          ./nutshell 02 escape build/rootfs   (the chapter 01 escape, now failing) */
import { statSync } from 'node:fs';
import { runProgram, verb } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import {
  checkRootfs, containerInit, enterContainer, execInContainer, exitCodeOf, generateId, prepareContainer, runContainer, startChildStage,
} from './container.ts';
import { tryEscape, type EscapeConfig } from './escape.ts';
import { claimName, findContainer } from './state.ts';
import { CLONE, unshare } from './syscalls.ts';

const RUN_OPTIONS = {
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
} as const;

/** --stop-timeout S: how long a container has to end after SIGTERM, checked before anything runs. */
function parseStopTimeout(text: string | undefined): number | undefined {
  throw new Error('TODO (chapter 02): write parseStopTimeout(), as the comment above it says');
}

/** The verbs: each one's usage line, options and code. The usage text is made from this table. */
const VERBS = {
  run: verb({
    args: '[--hostname H] [--name N] [--stop-timeout S] <rootfs> <command> [args...]',
    about: 'run a command in new namespaces, rooted at <rootfs>',
    options: RUN_OPTIONS,
    positionals: ['rootfs'],
    command: 'required',
    run: ({ values, positionals: { rootfs }, command }) => {
      const name = values.name;
      if (name) claimName(name);
      const stopTimeout = parseStopTimeout(values['stop-timeout']);
      const hostname = values.hostname ?? name ?? generateId();
      return runContainer({ rootfs, argv: command, hostname, name, stopTimeout });
    },
  }),
  exec: verb({
    args: '<name> <command> [args...]',
    about: 'run a command inside the running container <name>',
    options: {},
    positionals: ['name'],
    command: 'required',
    run: ({ positionals: { name }, command }) => execInContainer(findContainer(name).pid, command),
  }),
  escape: verb({
    args: '<rootfs>',
    about: 'try chapter 01\'s chroot escape from inside a container',
    options: {},
    positionals: ['rootfs'],
    run: ({ positionals: { rootfs } }) => {
      const { dev, ino } = statSync('/');
      const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostname: generateId(), hostRoot: { dev, ino } };
      unshare(CLONE.CLONE_NEWPID, 'the escape stage is PID 1 of its own PID namespace, as in run');
      return exitCodeOf(startChildStage('escape', config));
    },
  }),
};

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  prepareContainer(config);
  return tryEscape(config);
}

runMain(() =>
  runProgram({
    name: 'chapter 02',
    verbs: VERBS,
    // The child stages: this same program, re-executed by the engine (see container.ts).
    stages: { init: containerInit, escape: enterAndEscape, exec: enterContainer },
  }, process.argv.slice(2), enableTrace));
