/** Chapter 04 · union filesystems: chapter 03's container on read-only layers, with its
 *  writes kept apart in an upper directory by overlayfs.
 *  New here: overlay.ts (mount, diff, layer tar), storage.ts (each container's upper dir),
 *  --layer instead of a rootfs, and the `diff`, `commit` and `rm` verbs.
 *  Lesson: docs/04-unionfs.md
 *  Run:    npm run chapter -- 04 run --name box --layer build/rootfs /bin/sh
 *          npm run chapter -- 04 diff box    then    commit box box.tar    then    rm box */
import { statSync } from 'node:fs';
import { parseCommandLine } from '../../lib/cli.ts';
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

const USAGE = `usage: chapter 04 [--trace] <verb> ...
  run [--hostname H] [--name N] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats]
      --layer <dir> [--layer <dir>...] <command> [args...]
                                     run a command on layers (the first --layer is the bottom one)
  exec <name> <command> [args...]    run a command inside the running container <name>
  stats <name>                       what the running container <name> uses
  diff <name>                        what container <name> added (A), changed (C) and deleted (D)
  commit <name> <out.tar>            write the changes of <name> as an OCI layer tar
  rm <name>                          delete a stopped container and everything it wrote
  escape --layer <dir>               try chapter 01's chroot escape from inside a container`;

const RUN_OPTIONS = {
  trace: { type: 'boolean' },
  layer: { type: 'string', multiple: true },
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
  memory: { type: 'string', short: 'm' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  stats: { type: 'boolean' },
} as const;

/** --memory 64m --cpus 0.5 --pids-limit 50, checked before anything is created. */
function parseLimits(values: Record<string, unknown>): Limits {
  const text = (name: string) => values[name] as string | undefined;
  return {
    memoryBytes: text('memory') === undefined ? undefined : parseMemory(text('memory')!),
    cpus: text('cpus') === undefined ? undefined : parseCpus(text('cpus')!),
    pidsMax: text('pids-limit') === undefined ? undefined : parsePidsLimit(text('pids-limit')!),
  };
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--trace') await enableTrace(); // also accepted before the verb
  const [verb, ...rest] = argv[0] === '--trace' ? argv.slice(1) : argv;
  // The child stages: this same program, re-executed by the engine (see container.ts).
  if (verb === '__init') return containerInit(JSON.parse(rest[0]!));
  if (verb === '__escape') return enterAndEscape(JSON.parse(rest[0]!));
  if (verb === '__exec') return enterContainer(JSON.parse(rest[0]!));

  switch (verb) {
    case 'run': {
      const { values, command } = parseCommandLine(rest, RUN_OPTIONS, 0);
      if (values.trace) await enableTrace();
      const layers = ((values.layer as string[] | undefined) ?? []).map(checkLayer);
      if (layers.length === 0 || command.length === 0) throw new UserError('run needs layers and a command: run --layer <dir> [--layer <dir>...] <command> [args...]');
      const name = values.name as string | undefined;
      if (name) claimName(name);
      const stopTimeout = values['stop-timeout'] === undefined ? undefined : Number(values['stop-timeout']);
      if (stopTimeout !== undefined && !(stopTimeout >= 0)) throw new UserError(`invalid --stop-timeout "${values['stop-timeout']}": give seconds, e.g. 10`);
      const id = generateId(); // an unnamed container's hostname and directory
      const hostname = (values.hostname as string | undefined) ?? name ?? id;
      const limits = parseLimits(values);
      const dirs = prepareContainerDirs(name ?? id, layers);
      try {
        const { lowerDirs, upperDir, workDir } = dirs;
        return await runContainer({ rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir }, argv: command, hostname, name, stopTimeout, limits, stats: values.stats === true });
      } finally {
        if (!name) removeContainerDirs(dirs); // an unnamed container's writes go with it
      }
    }
    case 'exec': {
      const { values, positionals, command } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 1);
      if (values.trace) await enableTrace();
      const [name] = positionals;
      if (!name || command.length === 0) throw new UserError('exec needs a container name and a command: exec <name> <command> [args...]');
      const container = findContainer(name);
      return execInContainer(container.pid, detectCgroups().open(container.cgroupId), command);
    }
    case 'stats': {
      const { values, positionals } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 1);
      if (values.trace) await enableTrace();
      const [name] = positionals;
      if (!name) throw new UserError('stats needs a container name: stats <name>');
      const usage = detectCgroups().open(findContainer(name).cgroupId).usage();
      const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
      process.stdout.write(`NAME\tCPU TIME\tMEM PEAK\tMEM LIMIT\tPIDS\tOOM KILLED\n`);
      process.stdout.write(`${name}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      return 0;
    }
    case 'diff': {
      const name = await nameOf(rest, 'diff <name>');
      const dirs = findContainerDirs(name);
      for (const change of readChanges(dirs.upperDir, dirs.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
      return 0;
    }
    case 'commit': {
      const { positionals } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 2);
      const [name, out] = positionals;
      if (!name || !out) throw new UserError('commit needs a container name and a file: commit <name> <out.tar>');
      process.stdout.write(`${writeLayerTar(findContainerDirs(name).upperDir, out)}\n`);
      return 0;
    }
    case 'rm': {
      const name = await nameOf(rest, 'rm <name>');
      const dirs = findContainerDirs(name);
      if (isRunning(name)) throw new UserError(`container "${name}" is running: stop it first`);
      removeContainerDirs(dirs);
      return 0;
    }
    case 'escape': {
      const { values } = parseCommandLine(rest, { trace: { type: 'boolean' }, layer: { type: 'string', multiple: true } }, 0);
      if (values.trace) await enableTrace();
      const layers = ((values.layer as string[] | undefined) ?? []).map(checkLayer);
      if (layers.length === 0) throw new UserError('escape needs layers: escape --layer <dir> [--layer <dir>...]');
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
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return verb === undefined ? 2 : 0;
    default:
      throw new UserError(`unknown verb "${verb}" (try: run, exec, stats, diff, commit, rm, escape, help)`);
  }
}

/** The one positional of `diff <name>` and `rm <name>`. */
async function nameOf(args: string[], usage: string): Promise<string> {
  const { values, positionals } = parseCommandLine(args, { trace: { type: 'boolean' } }, 1);
  if (values.trace) await enableTrace();
  if (!positionals[0]) throw new UserError(`usage: ${usage}`);
  return positionals[0];
}

function isRunning(name: string): boolean {
  try {
    findContainer(name);
    return true;
  } catch {
    return false;
  }
}

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  prepareContainer(config);
  return tryEscape(config);
}

runMain(() => main(process.argv.slice(2)));
