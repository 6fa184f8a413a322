/** Chapter 02 · namespaces: run a command with its own hostname, PIDs, mounts, IPC and
 *  network, in a root it cannot walk out of.
 *  New here: unshare(2), setns(2), sethostname(2), mount(2), pivot_root(2), umount2(2),
 *  mknod(2), ioctl(SIOCSIFFLAGS), a sync pipe between the stages, and the `exec` verb.
 *  Lesson: docs/02-namespaces.md
 *  Run:    npm run chapter -- 02 run --name box build/rootfs /bin/sh
 *          npm run chapter -- 02 exec box ps          (from another terminal)
 *          npm run chapter -- 02 escape build/rootfs   (the chapter 01 escape, now failing) */
import { statSync } from 'node:fs';
import { parseCommandLine } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import {
  checkRootfs, containerInit, enterContainer, execInContainer, exitCodeOf, generateId, prepareContainer, runContainer, startChildStage,
} from './container.ts';
import { tryEscape, type EscapeConfig } from './escape.ts';
import { claimName, findContainer } from './state.ts';
import { CLONE, unshare } from './syscalls.ts';

const USAGE = `usage: chapter 02 [--trace] <verb> ...
  run [--hostname H] [--name N] [--stop-timeout S] <rootfs> <command> [args...]
                                     run a command in new namespaces, rooted at <rootfs>
  exec <name> <command> [args...]    run a command inside the running container <name>
  escape <rootfs>                    try chapter 01's chroot escape from inside a container`;

const RUN_OPTIONS = {
  trace: { type: 'boolean' },
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
} as const;

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
      return runContainer({ rootfs, argv: command, hostname, name, stopTimeout });
    }
    case 'exec': {
      const { values, positionals, command } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 1);
      if (values.trace) await enableTrace();
      const [name] = positionals;
      if (!name || command.length === 0) throw new UserError('exec needs a container name and a command: exec <name> <command> [args...]');
      return execInContainer(findContainer(name).pid, command);
    }
    case 'escape': {
      const { values, positionals } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 1);
      if (values.trace) await enableTrace();
      const [rootfs] = positionals;
      if (!rootfs) throw new UserError('escape needs a rootfs: escape <rootfs>');
      const { dev, ino } = statSync('/');
      const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostname: generateId(), hostRoot: { dev, ino } };
      unshare(CLONE.CLONE_NEWPID, 'the escape stage is PID 1 of its own PID namespace, as in run');
      return exitCodeOf(startChildStage('escape', config));
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return verb === undefined ? 2 : 0;
    default:
      throw new UserError(`unknown verb "${verb}" (try: run, exec, escape, help)`);
  }
}

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  prepareContainer(config);
  return tryEscape(config);
}

runMain(() => main(process.argv.slice(2)));
