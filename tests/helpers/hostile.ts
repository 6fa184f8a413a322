/** Tooling for hostile-input tests: what a container could do to the engine's view of its files. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { PROJECT_ROOT } from '../../scripts/build-rootfs.ts';
import { tempDir } from './chapter.ts';

/** A host directory that only the host has, with one file whose text says so: what a
 *  container must never get into an image. Returns the directory and that text. */
export function hostOnlyDir(): { dir: string; secret: string } {
  const dir = tempDir('nutshell-host-only-');
  const secret = `host-only ${randomUUID()}\n`;
  writeFileSync(join(dir, 'secret'), secret);
  return { dir, secret };
}

/** A process that swaps each `name` in `dir` with `name.swap`, as fast as it can, by
 *  renameat2(RENAME_EXCHANGE): both names always exist, one a directory, one a symlink. A
 *  process in the container could do the same to its own files (busybox has no tool for it). */
export function startSwapper(dir: string, names: string[]): ChildProcess {
  const code = `
    const koffi = require('koffi');
    const renameat2 = koffi.load('libc.so.6').func('int renameat2(int, const char *, int, const char *, unsigned int)');
    process.chdir(${JSON.stringify(dir)});
    const names = ${JSON.stringify(names)};
    for (;;) for (const name of names) renameat2(-100, name, -100, name + '.swap', 2);`;
  const swapper = spawn(process.execPath, ['-e', code], { cwd: PROJECT_ROOT, stdio: 'ignore' });
  after(() => swapper.kill('SIGKILL'));
  return swapper;
}
