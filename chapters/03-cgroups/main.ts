/** Chapter 03 · cgroups: chapter 02's container, with limits on memory, CPU and processes.
 *  New here: cgroups.ts (cgroup v1 and v2 behind one interface), units.ts (docker's units),
 *  the --memory, --cpus, --pids-limit and --stats options, and the `stats` verb.
 *  Lesson: docs/03-cgroups.md
 *  Run:    npm run chapter -- 03 run --memory 32m --cpus 0.5 --pids-limit 50 build/rootfs /bin/sh
 *          npm run chapter -- 03 stats box             (for a container started with --name box) */
import { statSync } from 'node:fs';
import { parseCommandLine } from '../../lib/cli.ts';
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

const USAGE = `usage: chapter 03 [--trace] <verb> ...
  run [--hostname H] [--name N] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats]
      <rootfs> <command> [args...]   run a command in new namespaces and a cgroup, rooted at <rootfs>
  exec <name> <command> [args...]    run a command inside the running container <name>
  stats <name>                       what the running container <name> uses
  escape <rootfs>                    try chapter 01's chroot escape from inside a container`;

const RUN_OPTIONS = {
  trace: { type: 'boolean' },
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
      const { values, positionals, command } = parseCommandLine(rest, RUN_OPTIONS, 1);
      if (values.trace) await enableTrace();
      const [rootfs] = positionals;
      if (!rootfs || command.length === 0) throw new UserError('run needs a rootfs and a command: run <rootfs> <command> [args...]');
      const name = values.name as string | undefined;
      if (name) claimName(name);
      const stopTimeout = values['stop-timeout'] === undefined ? undefined : Number(values['stop-timeout']);
      if (stopTimeout !== undefined && !(stopTimeout >= 0)) throw new UserError(`invalid --stop-timeout "${values['stop-timeout']}": give seconds, e.g. 10`);
      const hostname = (values.hostname as string | undefined) ?? name ?? generateId();
      const limits = parseLimits(values);
      return runContainer({ rootfs, argv: command, hostname, name, stopTimeout, limits, stats: values.stats === true });
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
    case 'escape': {
      const { values, positionals } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 1);
      if (values.trace) await enableTrace();
      const [rootfs] = positionals;
      if (!rootfs) throw new UserError('escape needs a rootfs: escape <rootfs>');
      const { dev, ino } = statSync('/');
      const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostname: generateId(), hostRoot: { dev, ino }, limits: {} };
      unshare(CLONE.CLONE_NEWPID, 'the escape stage is PID 1 of its own PID namespace, as in run');
      return exitCodeOf(startChildStage('escape', config));
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return verb === undefined ? 2 : 0;
    default:
      throw new UserError(`unknown verb "${verb}" (try: run, exec, stats, escape, help)`);
  }
}

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  prepareContainer(config);
  return tryEscape(config);
}

runMain(() => main(process.argv.slice(2)));
