/** Test helper: drive a chapter's program from outside, through its command line, the way
 *  a user does. NUTSHELL_CHAPTER_DIR (set by `npm run check -- NN --dir <dir>`) points the
 *  tests at a learner's copy of the chapter instead of ours. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DEFAULT_ROOTFS } from '../../scripts/build-rootfs.ts';
import { chapterProgram, findChapter } from '../../scripts/chapters.ts';

export const ROOTFS = DEFAULT_ROOTFS;

export interface Result {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends SpawnOptions {
  input?: string;
  /** Kill the program after this many ms (the test then fails on its exit code). */
  timeout?: number;
}

export function programOf(chapter: string): string {
  const name = findChapter(chapter);
  return chapterProgram(name, process.env.NUTSHELL_CHAPTER_DIR);
}

/** Start a chapter's program: `start('02', ['run', ROOTFS, 'true'])`. */
export function start(chapter: string, args: string[], opts: SpawnOptions = {}) {
  return spawn(process.execPath, ['--import', 'tsx', programOf(chapter), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...opts,
  });
}

/** Run a chapter's program to its end and collect what it printed. */
export function run(chapter: string, args: string[], opts: RunOptions = {}): Promise<Result> {
  const child = start(chapter, args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  child.stdin?.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 60_000);
  return new Promise((resolve, reject) => {
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
