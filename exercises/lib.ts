/** Tooling: what an exercise check is made of. Each exercise of a lesson has a file
 *  exercises/NN-name/K.ts whose default export is an Exercise; `npm run -s exercise -- NN K`
 *  runs its check against the learner's copy of chapter NN (default work/NN-name), and
 *  tests/exercises.test.ts runs it twice: on the chapter as shipped (it must fail) and with
 *  docs/solutions/NN-K.patch applied (it must pass). A check drives the copy through its
 *  command line only, the way the learner does, in roots of its own that it removes. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { applyPatch, createTwoFilesPatch, parsePatch } from 'diff';
import { DEFAULT_ROOTFS, PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { CHAPTERS_DIR, chapterCommand, chapterProgram, findChapter, listChapters } from '../scripts/chapters.ts';
import { startLocalRegistry, type LocalRegistry, type RegistryAuth } from '../scripts/local-registry.ts';

export const ROOTFS = DEFAULT_ROOTFS;

/** A check that did not see what the exercise asks for: its message says, in plain words,
 *  what was expected and what happened. */
export class NotYet extends Error {}

/** Stop the check: the learner's copy does not do what the exercise asks (yet). */
export function notYet(message: string): never {
  throw new NotYet(message);
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** true when the program was killed after its time limit. */
  timedOut: boolean;
}

export interface RunOptions extends SpawnOptions {
  input?: string;
  /** ms; the program is killed after it (default 60 s). */
  timeout?: number;
  /** A command to start the program with, which must exec it in its place: `['unshare', '-m']`
   *  runs it in a mount namespace of its own. */
  wrap?: string[];
}

/** The learner's copy of a chapter, with an engine root and state dir of its own. */
export interface Copy {
  chapter: string;
  dir: string;
  /** NUTSHELL_ROOT and NUTSHELL_STATE_DIR of this check, fresh and removed afterwards. */
  env: NodeJS.ProcessEnv;
  root: string;
  stateDir: string;
  /** Run the copy's program to its end: `copy.run(['run', ROOTFS, 'pwd'])`. */
  run(args: string[], opts?: RunOptions): Promise<Result>;
  /** Run another chapter's program (ours, from chapters/) in the same roots, to make what a
   *  check needs but the chapter under test cannot make (an image before chapter 08). */
  runReference(chapter: string, args: string[], opts?: RunOptions): Promise<Result>;
  /** A temporary directory, removed after the check. */
  scratch(prefix?: string): string;
  /** A registry on a free port of 127.0.0.1, stopped after the check. */
  registry(auth?: RegistryAuth): Promise<LocalRegistry>;
  /** Run `fn` after the check, pass or fail (stop containers it started, and so on). */
  defer(fn: () => Promise<unknown> | unknown): void;
}

export interface Exercise {
  /** The exercise's title, as the lesson gives it. */
  title: string;
  /** Resolves with one line saying what was seen when the copy does what the exercise asks;
   *  throws NotYet (through notYet()) when it does not. */
  check(copy: Copy): Promise<string>;
}

export function defineExercise(exercise: Exercise): Exercise {
  return exercise;
}

function runProgram(program: string, args: string[], opts: RunOptions): Promise<Result> {
  const argv = [...(opts.wrap ?? []), ...chapterCommand(program), ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  child.stdin?.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    // On the time limit, kill the program and answer at its exit: a container it left behind
    // may still hold the pipes open, so 'close' could wait for ever.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeout ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      setTimeout(() => resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr, timedOut }), timedOut ? 0 : 100);
    });
  });
}

/** Run one exercise's check against the copy of `chapter` in `dir`; everything it made is
 *  removed afterwards. Resolves with the check's line, or rejects (NotYet, or a broken check). */
export async function runCheck(exercise: Exercise, chapter: string, dir: string): Promise<string> {
  const name = findChapter(chapter);
  const program = chapterProgram(name, dir);
  const temps: string[] = [];
  const deferred: Array<() => Promise<unknown> | unknown> = [];
  const scratch = (prefix = 'nutshell-exercise-') => {
    const path = mkdtempSync(join(tmpdir(), prefix));
    temps.push(path);
    return path;
  };
  const root = scratch('nutshell-exercise-root-');
  const stateDir = scratch('nutshell-exercise-state-');
  const env = { ...process.env, NUTSHELL_ROOT: root, NUTSHELL_STATE_DIR: stateDir };
  const copy: Copy = {
    chapter: name,
    dir,
    env,
    root,
    stateDir,
    run: (args, opts = {}) => runProgram(program, args, { env, ...opts }),
    runReference: (other, args, opts = {}) => runProgram(chapterProgram(findChapter(other)), args, { env, ...opts }),
    scratch,
    async registry(auth) {
      const registry = await startLocalRegistry({ htpasswd: auth });
      deferred.push(() => registry.stop());
      return registry;
    },
    defer: (fn) => void deferred.push(fn),
  };
  try {
    return await exercise.check(copy);
  } finally {
    for (const fn of deferred.reverse()) await Promise.resolve().then(fn).catch(() => {});
    for (const path of temps.reverse()) rmSync(path, { recursive: true, force: true });
  }
}

const EXERCISES_DIR = dirname(fileURLToPath(import.meta.url));
export const SOLUTIONS_DIR = join(PROJECT_ROOT, 'docs', 'solutions');

export interface ExerciseFile {
  /** The chapter's folder name: "03-cgroups". */
  chapter: string;
  /** Its number in the lesson's list, from 1. */
  number: number;
  file: string;
  /** docs/solutions/NN-K.patch */
  solution: string;
}

/** Every exercise that has a check: exercises/NN-name/K.ts, in ladder order. */
export function listExercises(): ExerciseFile[] {
  return listChapters().flatMap((chapter) => {
    const dir = join(EXERCISES_DIR, chapter);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => /^\d+\.ts$/.test(f))
      .map((f) => {
        const number = Number(f.slice(0, -3));
        return { chapter, number, file: join(dir, f), solution: join(SOLUTIONS_DIR, `${chapter.slice(0, 2)}-${number}.patch`) };
      })
      .sort((a, b) => a.number - b.number);
  });
}

export async function loadExercise(file: string): Promise<Exercise> {
  return ((await import(pathToFileURL(file).href)) as { default: Exercise }).default;
}

/** The files of a chapter's folder, relative to it (a copy has no subfolders but may grow some). */
function filesBelow(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = join(prefix, entry.name);
    return entry.isDirectory() ? filesBelow(dir, path) : [path];
  });
}

/** A unified diff from the chapter as shipped to a solved copy, one section per changed file,
 *  named a/<file> and b/<file> as git names them: what docs/solutions/NN-K.patch holds. */
export function solutionPatch(chapter: string, solvedDir: string): string {
  const shipped = join(CHAPTERS_DIR, findChapter(chapter));
  const names = [...new Set([...filesBelow(shipped), ...filesBelow(solvedDir)])].sort();
  const read = (dir: string, name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');
  return names
    .map((name) => {
      const before = read(shipped, name);
      const after = read(solvedDir, name);
      return before === after ? '' : createTwoFilesPatch(`a/${name}`, `b/${name}`, before, after, undefined, undefined, { context: 3 });
    })
    .join('');
}

/** Apply a solution patch to a copy of the chapter; throws when a section does not apply. */
export function applySolution(patchText: string, copyDir: string): void {
  for (const section of parsePatch(patchText)) {
    const name = (section.newFileName ?? section.oldFileName ?? '').replace(/^[ab]\//, '');
    if (!name || name.includes('..')) throw new Error(`solution patch names a bad file: ${name}`);
    const path = join(copyDir, name);
    const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const after = applyPatch(before, section);
    if (after === false) throw new Error(`solution patch does not apply to ${name}`);
    writeFileSync(path, after);
  }
}
