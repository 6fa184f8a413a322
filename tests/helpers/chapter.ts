/** Test helper: drive a chapter's program from outside, through its command line, the way
 *  a user does. The chapter under `npm run check -- NN --dir <dir>` runs from the learner's
 *  copy instead of ours (see ladder.ts). */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DEFAULT_ROOTFS } from '../../scripts/build-rootfs.ts';
import { chapterCommand, chapterProgram, findChapter, listChapters } from '../../scripts/chapters.ts';
import { chapterDir, isFrom } from './ladder.ts';
import { nsenterArgs } from './netns.ts';

export const ROOTFS = DEFAULT_ROOTFS;

export interface Result {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface StartOptions extends SpawnOptions {
  /** Run the engine inside this named network namespace (tests/helpers/netns.ts), through
   *  `nsenter`, which execs it: the child's PID is still the engine's. */
  netns?: string;
}

export interface RunOptions extends StartOptions {
  input?: string;
  /** Give up after this many ms (default 60 s): kill the program, and whatever holds its output
   *  open, and fail with a message that says so. */
  timeout?: number;
}

/** Engines started by start() whose output is not closed yet, each with the sockets that are
 *  its stdin, stdout and stderr: what a test that hangs waits on. */
const liveEngines = new Map<ChildProcess, Set<string>>();

export function programOf(chapter: string): string {
  return chapterProgram(findChapter(chapter), chapterDir(chapter));
}

/** Start a chapter's program: `start('02', ['run', ROOTFS, 'true'])`. */
export function start(chapter: string, args: string[], opts: StartOptions = {}) {
  const { netns, ...spawnOpts } = opts;
  // As ./nutshell runs it: plain node on the chapter's cached bundle, no TypeScript loader.
  const engine = [...chapterCommand(programOf(chapter)), ...args];
  const [file, ...argv] = netns ? ['nsenter', ...nsenterArgs(netns), ...engine] : engine;
  const child = spawn(file!, argv, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...spawnOpts,
  });
  liveEngines.set(child, stdioOf(child));
  child.on('close', () => liveEngines.delete(child));
  return child;
}

/** The engine's ends of the pipes we opened to its fds 0, 1 and 2 ("socket:[inode]"): a
 *  container started by it inherits them. Read right after spawn, while it surely lives. An fd
 *  it shares with us (stdio 'inherit') is not ours to follow. */
function stdioOf(child: ChildProcess): Set<string> {
  const links = new Set<string>();
  for (const fd of [0, 1, 2]) {
    if (!child.stdio[fd]) continue;
    try {
      links.add(readlinkSync(`/proc/${child.pid}/fd/${fd}`));
    } catch {
      // no such process (spawn failed), or that fd is closed
    }
  }
  return links;
}

/** SIGKILL an engine and every other process that holds its stdio: a container that outlived
 *  it, or keeps it from ending. Without this a test waits for 'close' forever. */
function killWithPipeHolders(child: ChildProcess, pipes = liveEngines.get(child) ?? stdioOf(child)): void {
  child.kill('SIGKILL');
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => pipes.has(readlinkSync(`/proc/${pid}/fd/${fd}`)))) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // the process ended meanwhile
    }
  }
  for (const stream of child.stdio) stream?.destroy();
}

/** What keeps a test waiting: each engine still running or still holding output open, in
 *  plain words. Every one of them is killed, with whatever holds its pipes, so that the test
 *  file can end (the per-test time limit of `npm run check` calls this). */
export function stopHungEngines(): string[] {
  const hung = [...liveEngines.keys()].map((child) => {
    const what = child.exitCode === null && child.signalCode === null
      ? 'the engine had not exited (a container kept it alive?)'
      : 'the engine exited, but a process it started still held its output open (a container outlived its engine?)';
    killWithPipeHolders(child);
    return what;
  });
  liveEngines.clear();
  return [...new Set(hung)];
}

/** Run a chapter's program to its end and collect what it printed. */
export function run(chapter: string, args: string[], opts: RunOptions = {}): Promise<Result> {
  const child = start(chapter, args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  child.stdin?.end(opts.input ?? '');
  const timeout = opts.timeout ?? 60_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const exited = child.exitCode !== null || child.signalCode !== null;
      killWithPipeHolders(child);
      const what = exited
        ? `the engine exited, but a process it started still held its output open ${timeout / 1000} s later (a container outlived its engine?)`
        : `the engine did not exit within ${timeout / 1000} s (a container kept it alive?)`;
      const output = `${stdout}${stderr}`.trim().split('\n').slice(-5).join('\n');
      reject(new Error(`${what}: ${args.join(' ')}${output ? `\nits last output:\n${output}` : ''}`));
    }, timeout);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout, stderr });
    });
  });
}

/** A directory that is removed when the test file ends. */
export function tempDir(prefix = 'nutshell-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A private copy of the sample rootfs, for tests that change it. */
export function copyOfRootfs(): string {
  const dir = join(tempDir(), 'rootfs');
  cpSync(ROOTFS, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

/** Bad input must give exactly one line on stderr, no stack trace, and a non-zero exit. */
export function assertOneLineError(result: Result, pattern: RegExp): void {
  const lines = result.stderr.trimEnd().split('\n');
  if (result.code === 0) throw new Error(`expected a non-zero exit, got 0 (stderr: ${result.stderr})`);
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${result.stderr}`);
  if (!pattern.test(lines[0]!)) throw new Error(`stderr "${lines[0]}" does not match ${pattern}`);
}

// ---------------------------------------------------------------- one engine, every chapter

/** Where the command line of `run` changes on the ladder: from chapter 04 a container runs on
 *  `--layer <dir>` options, from chapter 05 on an image. A chapter added later runs on images. */
const FIRST_ON_LAYERS = '04';
const FIRST_ON_IMAGES = '05';
/** The first chapter that makes images (`import`, `commit`); the tests of earlier image chapters
 *  make theirs with the last chapter, in the same store. */
const FIRST_WITH_IMPORT = '08';

/** A rootfs, or layers bottom first. */
export type Layers = string | string[];

export interface Engine {
  chapter: string;
  /** This engine's own NUTSHELL_STATE_DIR (02–04 keep running containers' records there) and
   *  NUTSHELL_ROOT (containers' directories from 04, images too from 05), fresh and temporary. */
  env: NodeJS.ProcessEnv;
  stateDir: string;
  root: string;
  /** What this chapter's `run` takes for a rootfs or layers: the rootfs itself (01–03),
   *  `--layer` options (04), or an image made of them in this engine's store (05 on). */
  rootfsArgs(layers: Layers): Promise<string[]>;
  /** `run [options] <rootfs> [command...]` to its end, in this chapter's words. */
  runContainer(options: string[], layers: Layers, command: string[], opts?: RunOptions): Promise<Result>;
  /** The same, started: the engine's process, for tests that signal it or run beside it. */
  startContainer(options: string[], layers: Layers, command: string[], opts?: StartOptions): Promise<ChildProcess>;
  /** Host processes whose "/" is a container of this engine (running ones, or leaked ones). */
  containerProcesses(): string[];
  /** Host mounts that name this engine's rootfs or root: a mount leaked out of a container. */
  hostMounts(): string[];
  /** What records a container: files in the state dir (02–04), directories under root (04 on). */
  containerRecords(): string[];
  /** The directories that containers on `layers` have below them, which they must never write:
   *  the rootfs or the layers themselves, or from 05 on every layer unpacked in the store. */
  layerDirs(layers: Layers): Promise<string[]>;
}

/** Chapter `chapter`'s engine, with a state dir and a root of its own: `run` a container on a
 *  rootfs in whatever words the chapter uses. Call it at the top of a test file or a describe(). */
export function engineFor(chapter: string): Engine {
  const stateDir = tempDir('nutshell-state-');
  const root = tempDir('nutshell-root-');
  const env = { ...process.env, NUTSHELL_STATE_DIR: stateDir, NUTSHELL_ROOT: root };
  const images = new Map<string, Promise<string>>();
  const paths = new Set([root]);


  /** An image of the layers, made with `import` the bottom one, then for each next one a
   *  container whose upper dir gets its files, and `commit`: with the chapter's own verbs once
   *  it has them (08), before that with the last chapter's, in the same store. */
  const maker = isFrom(chapter, FIRST_WITH_IMPORT) ? chapter : listChapters().at(-1)!;
  const imageOf = async (layers: string[]): Promise<string> => {
    const must = async (args: string[]) => {
      const r = await run(maker, args, { env });
      if (r.code !== 0) throw new Error(`chapter ${maker} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout.trim();
    };
    const name = `nutshell-test/image-${images.size}`;
    await must(['import', layers[0]!, `${name}:1`]);
    for (let i = 1; i < layers.length; i++) {
      const box = `${name.replace('/', '-')}-layer-${i + 1}`;
      // No network needed to make a layer (and a bridge would change the network of whoever
      // runs the test file directly, outside npm test's namespace).
      await must(['run', ...(isFrom(maker, '10') ? ['--network', 'none'] : []), '--name', box, `${name}:${i}`, 'true']);
      const { dir } = JSON.parse(await must(['inspect', box])) as { dir: string };
      cpSync(layers[i]!, join(dir, 'upper'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      await must(['commit', box, `${name}:${i + 1}`]);
      await must(['rm', box]);
    }
    return `${name}:${layers.length}`;
  };

  const rootfsArgs = async (layers: Layers): Promise<string[]> => {
    const list = typeof layers === 'string' ? [layers] : layers;
    for (const layer of list) paths.add(layer);
    if (isFrom(chapter, FIRST_ON_IMAGES)) {
      const key = list.join('\0');
      if (!images.has(key)) images.set(key, imageOf(list));
      return [await images.get(key)!];
    }
    if (isFrom(chapter, FIRST_ON_LAYERS)) return list.flatMap((layer) => ['--layer', layer]);
    if (list.length !== 1) throw new Error(`chapter ${chapter} runs on one rootfs, not on layers`);
    return list;
  };

  /** The lines of a mount table that name one of this engine's paths. */
  const ours = (mountinfo: string) => mountinfo.split('\n').filter((line) => [...paths].some((p) => line.includes(p)));

  return {
    chapter,
    env,
    stateDir,
    root,
    rootfsArgs,
    async runContainer(options, layers, command, opts = {}) {
      return run(chapter, ['run', ...options, ...(await rootfsArgs(layers)), ...command], { env, ...opts });
    },
    async startContainer(options, layers, command, opts = {}) {
      return start(chapter, ['run', ...options, ...(await rootfsArgs(layers)), ...command], { env, ...opts });
    },
    containerProcesses() {
      return readdirSync('/proc').filter((pid) => {
        try {
          return /^\d+$/.test(pid) && ours(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).some((line) => line.split(' ')[4] === '/');
        } catch {
          return false;
        }
      });
    },
    hostMounts() {
      return ours(readFileSync('/proc/self/mountinfo', 'utf8'));
    },
    async layerDirs(layers) {
      await rootfsArgs(layers);
      if (!isFrom(chapter, FIRST_ON_IMAGES)) return typeof layers === 'string' ? [layers] : layers;
      const unpacked = join(root, 'layers', 'sha256');
      return readdirSync(unpacked).sort().map((digest) => join(unpacked, digest));
    },
    containerRecords() {
      const containers = join(root, 'containers');
      return [...readdirSync(stateDir), ...(existsSync(containers) ? readdirSync(containers) : [])];
    },
  };
}
