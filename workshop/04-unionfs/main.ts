/** Chapter 04 · union filesystems: chapter 03's container on read-only layers, with its
 *  writes kept apart in an upper directory by overlayfs.
 *  New here: overlay.ts (mount, diff, layer tar), storage.ts (each container's upper dir),
 *  --layer instead of a rootfs, and the `diff`, `commit` and `rm` verbs.
 *  Lesson: docs/04-unionfs.md
 *  Run:    ./nutshell 04 run --name box --layer build/rootfs /bin/sh
 *          ./nutshell 04 diff box    then    commit box box.tar    then    rm box */
import { statSync } from 'node:fs';
import { runProgram, verb, type ValuesOf } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import {
  checkLayer, containerInit, enterContainer, execInContainer, exitCodeOf, generateId, prepareContainer, runContainer, startChildStage,
} from './container.ts';
import { tryEscape, type EscapeConfig } from './escape.ts';
import { detectCgroups, type Limits } from './cgroups.ts';
import { readChanges, writeLayerTar } from './overlay.ts';
import { claimName, findContainer } from './state.ts';
import { findContainerDirs, prepareContainerDirs, removeContainerDirs } from './storage.ts';
import { CLONE, unshare } from './syscalls.ts';
import { formatBytes, parseCpus, parseMemory, parsePidsLimit } from './units.ts';

const LIMIT_OPTIONS = {
  memory: { type: 'string', short: 'm' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  stats: { type: 'boolean' },
} as const;

const LAYER_OPTIONS = {
  layer: { type: 'string', multiple: true },
} as const;

const RUN_OPTIONS = {
  ...LAYER_OPTIONS,
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
  return {
    memoryBytes: values.memory === undefined ? undefined : parseMemory(values.memory),
    cpus: values.cpus === undefined ? undefined : parseCpus(values.cpus),
    pidsMax: values['pids-limit'] === undefined ? undefined : parsePidsLimit(values['pids-limit']),
  };
}

/** --layer <dir> [--layer <dir>...]: at least one, each an existing directory. */
function parseLayers(values: ValuesOf<typeof LAYER_OPTIONS>, usage: string): string[] {
  throw new Error('TODO (chapter 04): write parseLayers(), as the comment above it says');
}

/** The verbs: each one's usage line, options and code. The usage text is made from this table. */
const VERBS = {
  run: verb({
    args: '[--hostname H] [--name N] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] --layer <dir> [--layer <dir>...] <command> [args...]',
    about: 'run a command on layers (the first --layer is the bottom one)',
    options: RUN_OPTIONS,
    positionals: [],
    command: 'required',
    run: async ({ values, command }) => {
      const layers = parseLayers(values, 'run [options] --layer <dir> [--layer <dir>...] <command> [args...]');
      const name = values.name;
      if (name) claimName(name);
      const stopTimeout = parseStopTimeout(values['stop-timeout']);
      const id = generateId(); // an unnamed container's hostname and directory
      const hostname = values.hostname ?? name ?? id;
      const limits = parseLimits(values);
      const dirs = prepareContainerDirs(name ?? id, layers);
      try {
        const { lowerDirs, upperDir, workDir } = dirs;
        return await runContainer({ rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir }, argv: command, hostname, name, stopTimeout, limits, stats: values.stats === true });
      } finally {
        if (!name) removeContainerDirs(dirs); // an unnamed container's writes go with it
      }
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
  diff: verb({
    args: '<name>',
    about: 'what container <name> added (A), changed (C) and deleted (D)',
    options: {},
    positionals: ['name'],
    run: ({ positionals: { name } }) => {
      const dirs = findContainerDirs(name);
      for (const change of readChanges(dirs.upperDir, dirs.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
      return 0;
    },
  }),
  commit: verb({
    args: '<name> <out.tar>',
    about: 'write the changes of <name> as an OCI layer tar',
    options: {},
    positionals: ['name', 'out'],
    run: ({ positionals: { name, out } }) => {
      process.stdout.write(`${writeLayerTar(findContainerDirs(name).upperDir, out)}\n`);
      return 0;
    },
  }),
  rm: verb({
    args: '<name>',
    about: 'delete a stopped container and everything it wrote',
    options: {},
    positionals: ['name'],
    run: ({ positionals: { name } }) => {
      const dirs = findContainerDirs(name);
      if (isRunning(name)) throw new UserError(`container "${name}" is running: stop it first`);
      removeContainerDirs(dirs);
      return 0;
    },
  }),
  escape: verb({
    args: '--layer <dir> [--layer <dir>...]',
    about: 'try chapter 01\'s chroot escape from inside a container',
    options: LAYER_OPTIONS,
    positionals: [],
    run: async ({ values }) => {
      const layers = parseLayers(values, 'escape --layer <dir> [--layer <dir>...]');
      const dirs = prepareContainerDirs(generateId(), layers);
      const { dev, ino } = statSync('/');
      const { lowerDirs, upperDir, workDir } = dirs;
      const config: EscapeConfig = { rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir }, argv: [], hostname: generateId(), hostRoot: { dev, ino }, limits: {} };
      unshare(CLONE.CLONE_NEWPID, 'the escape stage is PID 1 of its own PID namespace, as in run');
      try {
        return await exitCodeOf(startChildStage('escape', config));
      } finally {
        removeContainerDirs(dirs);
      }
    },
  }),
};

function isRunning(name: string): boolean {
  throw new Error('TODO (chapter 04): write isRunning()');
}

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  prepareContainer(config);
  return tryEscape(config);
}

runMain(() =>
  runProgram({
    name: 'chapter 04',
    verbs: VERBS,
    // The child stages: this same program, re-executed by the engine (see container.ts).
    stages: { init: containerInit, escape: enterAndEscape, exec: enterContainer },
  }, process.argv.slice(2), enableTrace));
