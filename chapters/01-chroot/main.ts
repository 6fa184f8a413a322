/** Chapter 01 · chroot: run a command with another directory as its "/".
 *  New here: chroot(2), chdir(2), execve(2), and the re-exec of a child stage.
 *  Lesson: docs/01-chroot.md
 *  Run:    npm run chapter -- 01 run build/rootfs /bin/sh
 *          npm run chapter -- 01 escape build/rootfs       (why chroot is not enough) */
import { statSync } from 'node:fs';
import { parseCommandLine } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import { checkRootfs, containerInit, exitCodeOf, prepareContainer, runContainer, startChildStage } from './container.ts';
import { tryEscape, type EscapeConfig } from './escape.ts';

const USAGE = `usage: chapter 01 [--trace] <verb> ...
  run <rootfs> <command> [args...]   run a command chrooted into <rootfs>
  escape <rootfs>                    show how root breaks out of a bare chroot`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--trace') await enableTrace(); // also accepted before the verb
  const [verb, ...rest] = argv[0] === '--trace' ? argv.slice(1) : argv;
  // The child stages: this same program, re-executed by the engine (see container.ts).
  if (verb === '__init') return containerInit(JSON.parse(rest[0]!));
  if (verb === '__escape') return enterAndEscape(JSON.parse(rest[0]!));


  const { values, positionals, command } = parseCommandLine(rest, { trace: { type: 'boolean' } }, 1);
  if (values.trace) await enableTrace();
  const [rootfs] = positionals;
  switch (verb) {
    case 'run':
      if (!rootfs || command.length === 0) throw new UserError('run needs a rootfs and a command: run <rootfs> <command> [args...]');
      return runContainer({ rootfs, argv: command });
    case 'escape': {
      if (!rootfs) throw new UserError('escape needs a rootfs: escape <rootfs>');
      const { dev, ino } = statSync('/');
      const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostRoot: { dev, ino } };
      return exitCodeOf(startChildStage('escape', config));
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return verb === undefined ? 2 : 0;
    default:
      throw new UserError(`unknown verb "${verb}" (try: run, escape, help)`);
  }
}

/** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
function enterAndEscape(config: EscapeConfig): number {
  prepareContainer(config);
  return tryEscape(config);
}

runMain(() => main(process.argv.slice(2)));
