/** Plumbing: command lines like docker's. Options come before the positionals; everything
 *  after the last positional the verb expects belongs to the command run in the container,
 *  so `run ./rootfs ls -l` passes `-l` to ls, not to us. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandLine {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  command: string[];
}

/** Split `argv` into our options, `count` positionals, and the command that follows. */
export function parseCommandLine(argv: string[], options: Options, count: number): CommandLine {
  let i = 0;
  const ours: string[] = [];
  const positionals: string[] = [];
  while (i < argv.length && !(count > 0 && positionals.length === count)) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      if (positionals.length === count) break; // count 0: the command starts at the first word
      positionals.push(arg);
      i++;
      continue;
    }
    i++;
    if (arg === '--') continue;
    ours.push(arg);
    const name = arg.replace(/^--?/, '').split('=')[0]!;
    const spec = Object.entries(options).find(([long, o]) => long === name || o.short === name)?.[1];
    if (spec?.type === 'string' && !arg.includes('=') && i < argv.length) ours.push(argv[i++]!);
  }
  let values: CommandLine['values'];
  try {
    values = parseArgs({ args: ours, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UserError((err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
  return { values, positionals, command: argv.slice(i) };
}
