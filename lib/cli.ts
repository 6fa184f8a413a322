/** Plumbing: command lines like docker's. Options come before the positionals; everything
 *  after the last positional the verb expects belongs to the command run in the container,
 *  so `run ./rootfs ls -l` passes `-l` to ls, not to us. */
import { readSync } from 'node:fs';
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

// ---- a program's verbs, as a table: the dispatch and the usage text come from one place ----

/** The values of `options` as parseArgs types them: booleans, strings, arrays of strings. */
export type ValuesOf<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>['values'];

/** One verb: what follows it in the usage text, one line on what it does, its options, the
 *  positionals it needs (by name), whether a command to run follows them, and its code. */
export interface Verb<O extends Options = Options, P extends string = string> {
  args: string;
  about: string;
  options: O;
  positionals: readonly P[];
  command?: 'required' | 'optional';
  run(line: { values: ValuesOf<O>; positionals: Record<P, string>; command: string[] }): number | Promise<number>;
}

/** Declare a verb, with the types of its options and positionals taken from the declaration. */
export function verb<const O extends Options, const P extends string>(definition: Verb<O, P>): Verb<O, P> {
  return definition;
}

export interface Program {
  /** The first words of the usage text: "chapter 02". */
  name: string;
  verbs: Record<string, Verb>;
  /** Options every verb takes, before or after it (--trace is always one), shown as `[...]`. */
  globalOptions?: Record<string, Options[string] & { shown: string; apply(value: string | boolean): void | Promise<void> }>;
  /** The child stages: this same program re-executed by the engine, given its configuration as
   *  one JSON argument, or as one JSON line on fd 3 (see readStageConfig). */
  stages?: Record<string, (config: never) => number | Promise<number>>;
  /** Lines after the verbs in the usage text. */
  footer?: string;
}

export function usageOf(program: Program): string {
  const globals = ['[--trace]', ...Object.values(program.globalOptions ?? {}).map((o) => `[${o.shown}]`)].join(' ');
  const lines = [`usage: ${program.name} ${globals} <verb> ...`];
  const lefts = Object.entries(program.verbs).map(([name, { args, about }]) => [`  ${name} ${args}`, about] as const);
  // One column for the descriptions, after the longest short usage; a long one gets a line of its own.
  const column = Math.max(...lefts.map(([left]) => left.length).filter((n) => n <= 44)) + 2;
  for (const [left, about] of lefts) lines.push(left.length < column ? left.padEnd(column) + about : `${left}\n${' '.repeat(column)}${about}`);
  return [...lines, ...(program.footer ? [program.footer] : [])].join('\n');
}

/** The sync socket that the engine gives a child stage as its fd 3 (chapter 02 on). */
const SYNC_FD = 3;

/** A child stage's configuration: its one JSON argument when the engine gave one (a stage
 *  without a sync socket: chapter 01's, chapter 02's exec, the escape demo), or else the first
 *  line on the sync socket. A command line is public, every user of the host reads it in ps,
 *  and from chapter 05 on the configuration holds the -e environment: passwords, tokens. A word
 *  after the stage's name that is not JSON is only a label for ps (the monitor's container id). */
function readStageConfig(args: string[]): unknown {
  return JSON.parse(args[0]?.startsWith('{') ? args[0] : readLine(SYNC_FD));
}

/** Blocking reads up to the first newline. What a read returns after the newline would be
 *  lost, but there is nothing: the engine writes no more until the stage has answered. */
function readLine(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = readSync(fd, buffer);
    if (n === 0) throw new UserError('the engine went away before it sent the configuration');
    const end = buffer.subarray(0, n).indexOf('\n');
    chunks.push(Buffer.from(buffer.subarray(0, end === -1 ? n : end)));
    if (end !== -1) return Buffer.concat(chunks).toString('utf8');
  }
}

/** Run the verb that `argv` names, or the child stage it names (`__init`, `__init '{...}'`). */
export async function runProgram(program: Program, argv: string[], enableTrace: () => Promise<void>): Promise<number> {
  const globals = { trace: { type: 'boolean' }, ...program.globalOptions } as const satisfies Options;
  const apply = async (values: Record<string, unknown>) => {
    if (values.trace === true) await enableTrace();
    for (const [name, option] of Object.entries(program.globalOptions ?? {})) {
      const value = values[name];
      if (typeof value === 'string' || typeof value === 'boolean') await option.apply(value);
    }
  };
  if (argv[0] === '--help') argv = ['help', ...argv.slice(1)];
  // Global options before the verb, then the verb and its own options (globals again allowed).
  const before = parseCommandLine(argv, globals, 1);
  await apply(before.values);
  const [name] = before.positionals;
  const rest = before.command;
  const stage = name?.startsWith('__') ? program.stages?.[name.slice(2)] : undefined;
  if (stage) return stage(readStageConfig(rest) as never);
  if (name === undefined || name === 'help') {
    process.stdout.write(usageOf(program) + '\n');
    return name === undefined ? 2 : 0;
  }
  const verb = program.verbs[name];
  if (!verb) throw new UserError(`unknown verb "${name}" (try: ${[...Object.keys(program.verbs), 'help'].join(', ')})`);
  const line = parseCommandLine(rest, { ...verb.options, ...globals }, verb.positionals.length);
  await apply(line.values);
  const missing = verb.positionals.length > line.positionals.length || (verb.command === 'required' && line.command.length === 0);
  if (missing) throw new UserError(`usage: ${name} ${verb.args}`);
  // A verb that runs no command takes no more words: `rm a b` must not quietly leave b.
  if (verb.command === undefined && line.command.length > 0) throw new UserError(`usage: ${name} ${verb.args} ("${line.command[0]}" is one word too many)`);
  const positionals = Object.fromEntries(verb.positionals.map((p, i) => [p, line.positionals[i]!]));
  return verb.run({ values: line.values as never, positionals, command: line.command });
}
