/** Chapter 03 · cgroups: chapter 02's container, with limits on memory, CPU and processes.
 *  New here: cgroups.ts (cgroup v1 and v2 behind one interface), units.ts (docker's units),
 *  the --memory, --cpus, --pids-limit and --stats options, and the `stats` verb.
 *  Lesson: docs/03-cgroups.md
 *  Run:    ./nutshell 03 run --memory 32m --cpus 0.5 --pids-limit 50 build/rootfs /bin/sh
 *          ./nutshell 03 stats box             (for a container started with --name box) */
import { statSync } from 'node:fs';
import { runProgram, verb, type ValuesOf } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import {
  checkRootfs, containerInit, enterContainer, execInContainer, exitCodeOf, generateId, prepareContainer, runContainer, startChildStage,
} from './container.ts';
import { tryEscape, type EscapeConfig } from './escape.ts';
import { detectCgroups, type Limits } from './cgroups.ts';
import { claimName, findContainer } from './state.ts';
import { CLONE, unshare } from './syscalls.ts';
import { formatBytes, parseCpus, parseMemory, parsePidsLimit } from './units.ts';

const LIMIT_OPTIONS = {
  memory: { type: 'string', short: 'm' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  stats: { type: 'boolean' },
} as const;

const RUN_OPTIONS = {
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
  ...LIMIT_OPTIONS,
} as const;

/** --stop-timeout S: how long a container has to end after SIGTERM, checked before anything runs. */
function parseStopTimeout(text: string | undefined): number | undefined {
  const seconds = text === undefined ? undefined : Number(text);
  if (seconds !== undefined && !(seconds >= 0)) throw new UserError(`invalid --stop-timeout "${text}": give seconds, e.g. 10`);
  return seconds;
}

/** --memory 64m --cpus 0.5 --pids-limit 50, checked before anything is created. */
function parseLimits(values: ValuesOf<typeof LIMIT_OPTIONS>): Limits {
  throw new Error('TODO (chapter 03): write parseLimits(), as the comment above it says');
}

/** The verbs: each one's usage line, options and code. The usage text is made from this table. */
const VERBS = {
  run: verb({
    args: '[--hostname H] [--name N] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] <rootfs> <command> [args...]',
    about: 'run a command in new namespaces and a cgroup, rooted at <rootfs>',
    options: RUN_OPTIONS,
    positionals: ['rootfs'],
    command: 'required',
    run: ({ values, positionals: { rootfs }, command }) => {
      const name = values.name;
      if (name) claimName(name);
      const stopTimeout = parseStopTimeout(values['stop-timeout']);
      const hostname = values.hostname ?? name ?? generateId();
      const limits = parseLimits(values);
      return runContainer({ rootfs, argv: command, hostname, name, stopTimeout, limits, stats: values.stats === true });
    },
  }),
  exec: verb({
    args: '<name> <command> [args...]',
    about: 'run a command inside the running container <name>',
    options: {},
    positionals: ['name'],
    command: 'required',
    run: ({ positionals: { name }, command }) => {
      const container = findContainer(name);
      return execInContainer(container.pid, detectCgroups().open(container.cgroupId), command);
    },
  }),
  stats: verb({
    args: '<name>',
    about: 'what the running container <name> uses',
    options: {},
    positionals: ['name'],
    run: ({ positionals: { name } }) => {
      const usage = detectCgroups().open(findContainer(name).cgroupId).usage();
      const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
      process.stdout.write(`NAME\tCPU TIME\tMEM PEAK\tMEM LIMIT\tPIDS\tOOM KILLED\n`);
      process.stdout.write(`${name}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      return 0;
    },
  }),
  escape: verb({
    args: '<rootfs>',
    about: 'try chapter 01\'s chroot escape from inside a container',
    options: {},
    positionals: ['rootfs'],
    run: ({ positionals: { rootfs } }) => {
      const { dev, ino } = statSync('/');
      const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostname: generateId(), hostRoot: { dev, ino }, limits: {} };
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
    name: 'chapter 03',
    verbs: VERBS,
    // The child stages: this same program, re-executed by the engine (see container.ts).
    stages: { init: containerInit, escape: enterAndEscape, exec: enterContainer },
  }, process.argv.slice(2), enableTrace));
