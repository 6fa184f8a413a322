/** Test helper: run a lesson's ```console blocks and compare what they print with what the
 *  lesson shows (the contract: the "tested lessons" part of issue 16).
 *
 *  - A command is a line starting with `# ` (the root prompt); it goes on while a line ends
 *    with `\` and through a here-document (`<<'EOF'` … `EOF`). The lines after it, up to the
 *    next command or the end of the block, are what it prints (stdout and stderr together).
 *  - Blocks run in document order in one bash session ("terminal 1"), in the checkout, so
 *    variables, functions and background jobs carry over. An HTML comment line directly above
 *    a block changes how it runs: `<!-- lesson: terminal 2 -->` (a second session),
 *    `<!-- lesson: timeout 120 -->` (seconds per command, default 60) and `<!-- lesson: vm -->`
 *    (the block runs in a guest whose kernel mounts cgroup v2 only, `npm run vm`: a bash of its
 *    own, started for the block and gone with it; only the NUTSHELL_* variables of the run
 *    reach it, and no command may run in the background).
 *  - A command that ends with `&` prints in the background: the runner waits (up to the
 *    timeout) for what the lesson shows under it before it sends the next command.
 *  - `/tmp/nutshell-doc-` in a command stands for a fresh temp dir of the run (and the temp
 *    dir in the output is shown as `/tmp/nutshell-doc-` again). The checkout is shown as
 *    `/work/main`, where it sits on the course machines.
 *  - NUTSHELL_LESSON_TRANSCRIPT=<file> appends what each command printed to that file, to
 *    write a lesson's output blocks from a real run.
 *  - Lines compare after normalising (normaliseLine): what changes from run to run (numbers,
 *    ids, digests, times, sizes) is a placeholder; a line that is only `…` matches any number
 *    of lines, and `…` inside a line any text. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/build-rootfs.ts';
import { engineCgroups } from './cgroups.ts';
import { processesOf } from './processes.ts';
import { vmArguments } from './guest.ts';

/** What stands for the temp dir of a run in a lesson's commands and output. */
export const DOC_TEMP_PREFIX = '/tmp/nutshell-doc-';
/** Where the lessons show the checkout (the course machines' path). */
export const DOC_CHECKOUT = '/work/main';
export const DEFAULT_TIMEOUT_S = 60;

// ---------------------------------------------------------------- parsing

export interface LessonCommand {
  /** 1-based line of the command in the lesson file. */
  line: number;
  /** The command as the lesson shows it, without `# `, continuation lines joined by "\n". */
  text: string;
  /** The lines the lesson shows under it. */
  expected: string[];
}

export interface LessonBlock {
  /** 1-based line of the opening fence. */
  line: number;
  terminal: 1 | 2;
  /** Run in the cgroup2 guest of scripts/vm.ts rather than in a terminal of the host. */
  vm: boolean;
  timeoutSeconds: number;
  commands: LessonCommand[];
}

const DIRECTIVE = /^<!--\s*lesson:\s*(.*?)\s*-->$/;

/** The ```console blocks of a lesson, with their commands and expected output. */
export function parseLesson(markdown: string, file = 'lesson'): LessonBlock[] {
  const lines = markdown.split('\n');
  const blocks: LessonBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i]!.match(/^(\s*)(`{3,}|~{3,})(.*)$/);
    if (!fence) continue;
    const close = new RegExp(`^\\s*${fence[2]![0] === '`' ? '`' : '~'}{${fence[2]!.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end]!)) end++;
    if (fence[3]!.trim() === 'console') {
      const block: LessonBlock = { line: i + 1, terminal: 1, vm: false, timeoutSeconds: DEFAULT_TIMEOUT_S, commands: [] };
      // The directive lines directly above the fence (one or more).
      for (let k = i - 1; k >= 0 && DIRECTIVE.test(lines[k]!.trim()); k--) applyDirective(block, lines[k]!.trim().match(DIRECTIVE)![1]!, `${file}:${k + 1}`);
      block.commands = parseCommands(lines.slice(i + 1, end), i + 2, file);
      const background = block.vm && block.commands.find((c) => isBackground(c.text));
      if (background) throw new Error(`${file}:${background.line}: a command in the background in a vm block (the guest runs the block to its end, then stops)`);
      blocks.push(block);
    }
    i = end;
  }
  return blocks;
}

function applyDirective(block: LessonBlock, directive: string, where: string): void {
  const [word, value] = directive.split(/\s+/);
  if (word === 'terminal' && (value === '1' || value === '2')) block.terminal = Number(value) as 1 | 2;
  else if (word === 'timeout' && /^\d+$/.test(value ?? '')) block.timeoutSeconds = Number(value);
  else if (word === 'vm' && value === undefined) block.vm = true;
  else throw new Error(`${where}: unknown lesson directive "${directive}" (terminal 2, timeout N, vm)`);
}

/** A command that ends with `&` (not `&&`): it prints in the background. */
function isBackground(text: string): boolean {
  return /(^|[^&])&\s*$/.test(text);
}

/** The commands of one block's lines; `firstLine` is the 1-based line of lines[0]. */
function parseCommands(lines: string[], firstLine: number, file: string): LessonCommand[] {
  const commands: LessonCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('# ')) {
      if (commands.length === 0) {
        if (line.trim() === '') continue;
        throw new Error(`${file}:${firstLine + i}: output before the first command of a console block (a command starts with "# ")`);
      }
      commands.at(-1)!.expected.push(line);
      continue;
    }
    const command: LessonCommand = { line: firstLine + i, text: line.slice(2), expected: [] };
    // Continuation lines: a trailing backslash, or the body of a here-document.
    let current = line.slice(2);
    for (;;) {
      const heredoc = current.match(/<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/);
      if (heredoc) {
        const terminator = heredoc[2]!;
        while (i + 1 < lines.length) {
          i++;
          command.text += `\n${lines[i]}`;
          if (lines[i]!.replace(/^\t+/, '') === terminator) break;
        }
        break;
      }
      if (!current.endsWith('\\') || i + 1 >= lines.length) break;
      i++;
      current = lines[i]!;
      command.text += `\n${current}`;
    }
    commands.push(command);
  }
  for (const command of commands) while (command.expected.length && command.expected.at(-1)!.trim() === '') command.expected.pop();
  return commands;
}

// ---------------------------------------------------------------- matching

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
const DAYS = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const UNITS = 'second|minute|hour|day|week|month|year';
/** What changes from run to run, each with the placeholder both sides get. Order matters:
 *  the longer shapes first, bare numbers last. */
const VOLATILE: [RegExp, string][] = [
  [/\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?/g, '<time>'], // 2026-11-30T09:20:37.586Z
  [new RegExp(`\\b(?:(?:${DAYS}),? +)?(?:${MONTHS}) +\\d{1,2}(?: +\\d\\d:\\d\\d(?::\\d\\d)?)?(?: +UTC)?(?: +\\d{4})?`, 'g'), '<time>'], // Nov 30 09:20
  [/\b\d+m ?\d+(?:\.\d+)?s\b/g, '<time>'], // 0m6.294s, busybox's 0m 1.15s
  [new RegExp(`\\b(?:Less than an?|About an?|an?|\\d+) (?:${UNITS})s?\\b`, 'g'), '<duration>'], // 10 seconds (ago), About a minute (ago)
  [/\bsha(?:256|512):[0-9a-f]*/g, '<digest>'], // sha256:5ed9…, or sha256:… in a lesson
  // 5ed9a8cf06ed: an id has digits, and letters but for a few (527675625164), so ids and
  // numbers share one placeholder
  [/\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{6,}\b/g, '<n>'],
  [/(?<![\w.])\d+(?:\.\d+)? ?(?:[KMGTP]i?B|kB|B|[kmgKMGT])\b/g, '<size>'], // 512 KiB, 2.3 MiB, 32m, 38112kB
  [/(?<![\w.])(?:\d+(?:\.\d+)*|\.\d+)/g, '<n>'], // 28849, 0.501, .501, 127.0.0.1, ports (not the digits of a word: cgroup2, x86_64)
];

/** One line as the matcher compares it: placeholders for what changes, one space for each run
 *  of blanks, no blanks at either end (right-aligned columns, as `ps` prints them, shift with
 *  the width of a PID). */
export function normaliseLine(line: string): string {
  let text = line.replace(/\r$/, '');
  for (const [pattern, placeholder] of VOLATILE) text = text.replace(pattern, placeholder);
  return text.replace(/[ \t]+/g, ' ').trim();
}

const ELLIPSIS = '…';

function lineMatcher(expected: string): (actual: string) => boolean {
  const normal = normaliseLine(expected);
  if (!normal.includes(ELLIPSIS)) return (actual) => actual === normal;
  // "…" inside a line matches any text there; the blanks around it are optional.
  const pattern = normal
    .split(ELLIPSIS)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const regex = new RegExp(`^${pattern.replace(/ \.\*/g, ' ?.*').replace(/\.\* /g, '.* ?')}$`);
  return (actual) => regex.test(actual);
}

/** Does `actual` (what a command printed) match `expected` (what the lesson shows)? */
export function outputMatches(expected: string[], actual: string[]): boolean {
  const want = trimTrailingBlank(expected).map((line) => (line.trim() === ELLIPSIS ? 'any' : lineMatcher(line)));
  const got = trimTrailingBlank(actual).map(normaliseLine);
  // memo[i][j]: want[i..] matches got[j..]
  const memo = new Map<number, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = i * (got.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === want.length) result = j === got.length;
    else if (want[i] === 'any') result = match(i + 1, j) || (j < got.length && match(i, j + 1));
    else result = j < got.length && (want[i] as (a: string) => boolean)(got[j]!) && match(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return match(0, 0);
}

function trimTrailingBlank(lines: string[]): string[] {
  const copy = [...lines];
  while (copy.length && copy.at(-1)!.trim() === '') copy.pop();
  return copy;
}

// ---------------------------------------------------------------- sessions

/** One bash process, fed one command at a time; stdout and stderr together, as on a terminal. */
class Session {
  readonly child: ChildProcess;
  private output = '';
  private waiter: (() => void) | undefined;
  private readonly marker = `__lesson_done_${randomBytes(6).toString('hex')}_`;
  private count = 0;
  /** Everything this session printed, to find the ids of what the lesson made. */
  transcript = '';

  private readonly dir: string;

  /** `networkOf`: a session of the same lesson, whose network namespace this one joins. */
  constructor(dir: string, env: NodeJS.ProcessEnv, networkOf?: Session) {
    this.dir = dir;
    // A network namespace of the lesson's own, `lo` up, shared by its terminals: its registries,
    // bridge and containers never meet another test's. Forwarding starts off, as on a host
    // without docker (a new namespace copies the host's setting), as lesson 10 shows. unshare, sh and nsenter exec, so the PID
    // is bash's. Its own process group, so that the end of the lesson reaches its background jobs too.
    const enter = networkOf
      ? ['nsenter', `--net=/proc/${networkOf.child.pid}/ns/net`, '--']
      : ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && echo 0 > /proc/sys/net/ipv4/ip_forward && exec "$@"', 'sh'];
    this.child = spawn(enter[0]!, [...enter.slice(1), 'bash', '--noprofile', '--norc'], { cwd: PROJECT_ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const collect = (data: Buffer) => {
      this.output += data.toString('utf8');
      this.waiter?.();
    };
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.child.stdin!.on('error', () => {}); // bash gone: the command's wait reports it
    this.child.on('exit', () => this.waiter?.());
    this.child.stdin!.write('exec 2>&1; __lesson_status=0\n');
  }

  /** Run one command (sourced from a file, so that here-documents and quotes are the lesson's
   *  own); resolve with what it printed, or reject after `timeoutMs`. */
  async run(command: string, timeoutMs: number): Promise<string> {
    const file = join(this.dir, `command-${++this.count}.sh`);
    writeFileSync(file, `${command}\n`);
    this.output = '';
    // `(exit N)` first, so that `$?` in this command is the status of the one before, as in a terminal.
    this.child.stdin!.write(`(exit $__lesson_status); . '${file}' </dev/null; __lesson_status=$?; printf '\\n${this.marker}%s\\n' "$__lesson_status"\n`);
    const printed = await this.waitFor(() => this.output.includes(`\n${this.marker}`), timeoutMs);
    if (!printed) throw new CommandTimeout(this.output, this.child.exitCode !== null);
    const at = this.output.indexOf(`\n${this.marker}`);
    const text = this.output.slice(0, at);
    this.output = this.output.slice(this.output.indexOf('\n', at + 1) + 1);
    this.transcript += text;
    return text;
  }

  /** What background jobs printed since the last command, once `done(text)` holds or after `timeoutMs`. */
  async late(done: (text: string) => boolean, timeoutMs: number): Promise<string> {
    await this.waitFor(() => done(this.output), timeoutMs);
    const text = this.output;
    this.output = '';
    this.transcript += text;
    return text;
  }

  private waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(value);
      };
      const timer = setTimeout(() => finish(condition()), timeoutMs);
      this.waiter = () => {
        if (condition()) finish(true);
        else if (this.child.exitCode !== null || this.child.signalCode !== null) finish(false);
      };
      this.waiter();
    });
  }
}

class CommandTimeout extends Error {
  readonly output: string;
  readonly shellExited: boolean;
  constructor(output: string, shellExited: boolean) {
    super(shellExited ? 'the shell exited' : 'timeout');
    this.output = output;
    this.shellExited = shellExited;
  }
}

/** The processes of a process group, from /proc. */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function cgroupIdsOf(pid: number): string[] {
  try {
    return [...readFileSync(`/proc/${pid}/cgroup`, 'utf8').matchAll(/\/nutshell\/([^/\n]+)/g)].map((m) => m[1]!);
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** End a session: SIGTERM to its group (engines then stop their containers and remove their
 *  cgroups), SIGKILL to what is left after `graceMs`. Returns the cgroup ids its processes held. */
async function endSession(session: Session, graceMs: number): Promise<string[]> {
  const pgid = session.child.pid!;
  const ids = groupMembers(pgid).flatMap(cgroupIdsOf);
  for (const [signal, wait] of [['SIGTERM', graceMs], ['SIGKILL', 5_000]] as const) {
    try {
      process.kill(-pgid, signal);
    } catch {
      // the group is empty already
    }
    const until = Date.now() + wait;
    while (groupMembers(pgid).length && Date.now() < until) await sleep(100);
    if (!groupMembers(pgid).length) break;
  }
  return ids;
}

// ---------------------------------------------------------------- a whole lesson

export interface LessonOptions {
  /** The environment of the sessions (NUTSHELL_REGISTRIES is added). */
  env?: NodeJS.ProcessEnv;
  /** Only the first N blocks (to try a lesson while writing it). */
  blocks?: number;
}

export interface LessonResult {
  /** Seconds from the first command to the end of the clean-up. */
  seconds: number;
  commands: number;
}

/** What the lesson left behind, found after its sessions ended. */
interface Leftovers {
  processes: number[];
  mounts: string[];
  cgroups: string[];
}

/** Run every ```console block of a lesson file; throw on the first command whose output does
 *  not match, or when the lesson left a process, mount or cgroup behind. */
export async function runLesson(file: string, options: LessonOptions = {}): Promise<LessonResult> {
  const started = Date.now();
  const name = relative(PROJECT_ROOT, file);
  const blocks = parseLesson(readFileSync(file, 'utf8'), name).slice(0, options.blocks);
  const temp = mkdtempSync(join(tmpdir(), 'nutshell-lesson-'));
  const scripts = join(temp, '.commands');
  const registries = join(temp, '.registries');
  mkdirSync(scripts);
  mkdirSync(registries);
  const env = { ...(options.env ?? process.env), NUTSHELL_REGISTRIES: registries };
  const cgroupsBefore = new Set(engineCgroups().map((dir) => basename(dir)));
  const sessions = new Map<1 | 2, Session>();
  let commands = 0;
  let failure: Error | undefined;
  try {
    for (const block of blocks) {
      if (block.vm) {
        commands += block.commands.length;
        await runInGuest(block, env, { name, temp });
        continue;
      }
      let session = sessions.get(block.terminal);
      if (!session) sessions.set(block.terminal, (session = new Session(scripts, env, [...sessions.values()][0])));
      for (const command of block.commands) {
        commands++;
        await runCommand(session, command, block, { name, temp });
      }
    }
  } catch (err) {
    failure = err as Error;
  }
  const leftovers = await cleanUp([...sessions.values()], { temp, registries, env, cgroupsBefore });
  if (failure) throw failure;
  const left = [
    ...leftovers.processes.map((pid) => `process ${pid} (its root, command line or environment under the lesson's temp dir)`),
    ...leftovers.mounts.map((line) => `mount: ${line}`),
    ...leftovers.cgroups.map((id) => `cgroup nutshell/${id}`),
  ];
  if (left.length) throw new Error(`${name}: the lesson left behind (now removed):\n  ${left.join('\n  ')}`);
  return { seconds: (Date.now() - started) / 1000, commands };
}

async function runCommand(session: Session, command: LessonCommand, block: LessonBlock, where: { name: string; temp: string }): Promise<void> {
  const timeoutMs = block.timeoutSeconds * 1000;
  const linesOf = (text: string) => (text === '' ? [] : shownAsInLesson(text, where.temp).replace(/\n$/, '').split('\n'));
  const text = command.text.split(DOC_TEMP_PREFIX).join(`${where.temp}/`);
  let actual: string[];
  try {
    actual = linesOf(await session.run(text, timeoutMs));
    // A background job: what the lesson shows under it comes later; wait for it.
    if (isBackground(command.text) && command.expected.length) {
      const before = actual;
      const late = await session.late((out) => outputMatches(command.expected, [...before, ...linesOf(out)]), timeoutMs);
      actual = [...before, ...linesOf(late)];
    }
  } catch (err) {
    if (!(err instanceof CommandTimeout)) throw err;
    const why = err.shellExited ? 'the shell exited (a command ran `exit`?)' : `did not finish within ${block.timeoutSeconds} s (<!-- lesson: timeout N --> raises the limit)`;
    throw new Error(describe(where.name, command, `${why}; it printed:`, linesOf(err.output)));
  }
  compareOutput(command, block, where.name, actual);
}

/** What the checkout and the run's temp dir are shown as in a lesson. */
function shownAsInLesson(text: string, temp: string): string {
  return text.split(`${temp}/`).join(DOC_TEMP_PREFIX).split(PROJECT_ROOT).join(DOC_CHECKOUT);
}

function compareOutput(command: LessonCommand, block: LessonBlock, name: string, actual: string[]): void {
  // To write a lesson's output blocks from a real run: NUTSHELL_LESSON_TRANSCRIPT=<file>.
  const transcript = process.env.NUTSHELL_LESSON_TRANSCRIPT;
  const where = block.vm ? ' (vm)' : block.terminal === 2 ? ' (terminal 2)' : '';
  if (transcript) appendFileSync(transcript, [`${name}:${command.line}${where}`, `# ${command.text}`, ...actual, ''].join('\n'));
  if (!outputMatches(command.expected, actual)) throw new Error(describe(name, command, 'printed:', actual));
}

/** A vm block: one bash script with all its commands, run in one guest boot (about 20 s), each
 *  command's output ended by a marker line with its status, as the host's sessions do. The
 *  guest has its own /tmp: the run's temp dir is made there first. */
async function runInGuest(block: LessonBlock, env: NodeJS.ProcessEnv, where: { name: string; temp: string }): Promise<void> {
  const marker = `__lesson_done_${randomBytes(6).toString('hex')}_`;
  const script = [`exec 2>&1; mkdir -p '${where.temp}'; __lesson_status=0`];
  for (const command of block.commands) {
    script.push('(exit $__lesson_status)', command.text.split(DOC_TEMP_PREFIX).join(`${where.temp}/`), `__lesson_status=$?; printf '\\n${marker}%s\\n' "$__lesson_status"`);
  }
  const seconds = block.timeoutSeconds * block.commands.length + 120; // and the boot
  const vm = spawnSync(process.execPath, vmArguments(seconds, ['bash', '--noprofile', '--norc', '-c', script.join('\n')]), {
    cwd: PROJECT_ROOT,
    env,
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
  });
  const outputs = (vm.stdout ?? '').split(new RegExp(`\\n${marker}\\d+\\n`));
  for (const [i, command] of block.commands.entries()) {
    const text = outputs[i];
    if (text === undefined || i === outputs.length - 1) {
      const why = `the guest stopped before this command ended (exit ${vm.status}${vm.stderr ? `: ${vm.stderr.trim()}` : ''}); it printed:`;
      throw new Error(describe(where.name, command, why, shownAsInLesson(text ?? '', where.temp).split('\n')));
    }
    compareOutput(command, block, where.name, text === '' ? [] : shownAsInLesson(text, where.temp).replace(/\n$/, '').split('\n'));
  }
}

function describe(name: string, command: LessonCommand, what: string, actual: string[]): string {
  const shownActual = actual.length > 40 ? [...actual.slice(0, 40), `(… ${actual.length - 40} more lines)`] : actual;
  return [
    `${name}:${command.line}: the output differs from the lesson`,
    `command:  # ${command.text}`,
    'expected:',
    ...(command.expected.length ? command.expected.map((l) => `  | ${l}`) : ['  (nothing)']),
    what,
    ...(shownActual.length ? shownActual.map((l) => `  | ${l}`) : ['  (nothing)']),
  ].join('\n');
}

/** End the sessions, stop the lesson's registries, then find and remove what is left. */
async function cleanUp(
  sessions: Session[],
  run: { temp: string; registries: string; env: NodeJS.ProcessEnv; cgroupsBefore: Set<string> },
): Promise<Leftovers> {
  const held = (await Promise.all(sessions.map((s) => endSession(s, 15_000)))).flat();
  const registryScript = join(PROJECT_ROOT, 'scripts', 'registry.ts');
  if (readdirSync(run.registries).length && existsSync(registryScript)) {
    spawnSync(process.execPath, ['--import', 'tsx', registryScript, 'stop', '--all'], { env: run.env, cwd: PROJECT_ROOT, stdio: 'ignore', timeout: 30_000 });
  }

  // The lesson's cgroups: new since it started, and named in its output or held by its
  // processes (other tests may make cgroups at the same time).
  const transcript = sessions.map((s) => s.transcript).join('\n');
  const cgroupDirs = engineCgroups().filter((dir) => {
    const id = basename(dir);
    return !run.cgroupsBefore.has(id) && (transcript.includes(id) || held.includes(id));
  });
  // Containers (their root is under the temp dir), and the engine's own processes that name
  // it: a monitor, a daemon, a spare.
  const containers = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const root = readlinkSync(`/proc/${pid}/root`);
        return root === run.temp || root.startsWith(`${run.temp}/`);
      } catch {
        return false;
      }
    })
    .map(Number);
  const processes = [...new Set([...containers, ...processesOf(run.temp).map(({ pid }) => pid)])];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(run.temp));
  const leftovers = { processes, mounts, cgroups: [...new Set(cgroupDirs.map((dir) => basename(dir)))] };

  for (const pid of processes) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (processes.length) await sleep(500);
  for (const line of mounts.reverse()) spawnSync('umount', ['-l', line.split(' ')[4]!], { stdio: 'ignore' });
  for (const dir of cgroupDirs) removeCgroupTree(dir);
  rmSync(run.temp, { recursive: true, force: true });
  return leftovers;
}

/** rmdir a cgroup and its children, deepest first (a cgroup with children or processes refuses). */
function removeCgroupTree(dir: string): void {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
    rmdirSync(dir);
  } catch {
    // a process is still in it, or it is gone: nothing more a test can do
  }
}
