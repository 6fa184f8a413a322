/** Tooling: hand a learner a chapter to write.
 *    npm run -s workshop -- start 03 [dir] [--solved]
 *  copies chapter 03's starter code (workshop/03-cgroups/: chapter 03 with TODOs where its lesson
 *  is, see scripts/starter.ts), or with --solved the finished chapter, to `dir` (default
 *  work/03-cgroups in this checkout), then says what to do next. The copy must sit two levels
 *  below the checkout, as chapters/NN-name does: its files import ../../lib, and koffi from
 *  node_modules. */
import { cpSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from './build-rootfs.ts';
import { CHAPTERS_DIR, findChapter } from './chapters.ts';

export const WORKSHOP_DIR = join(PROJECT_ROOT, 'workshop');
/** Where learners' copies go unless they name another place (ignored by git). */
export const WORK_DIR = join(PROJECT_ROOT, 'work');

/** A learner's copy of chapter `name` when none is named: work/NN-name. */
export function defaultCopyOf(name: string): string {
  return join(WORK_DIR, name);
}

/** Why `dir` cannot hold a copy of a chapter, or undefined when it can. */
export function misplacedCopy(dir: string): string | undefined {
  if (resolve(dir, '..', '..') === PROJECT_ROOT) return undefined;
  return `${dir} is not two levels below the checkout (${PROJECT_ROOT}): a chapter imports ../../lib, so put it at work/<name> or <any folder>/<name> inside it`;
}

/** Copy a chapter's starter code, or the finished chapter, to `dir`; the next steps as text. */
export function startChapter(id: string, dir: string | undefined, solved: boolean): string {
  const name = findChapter(id);
  const target = dir === undefined ? defaultCopyOf(name) : resolve(process.env.INIT_CWD ?? process.cwd(), dir);
  const misplaced = misplacedCopy(target);
  if (misplaced) throw new Error(misplaced);
  const shown = relative(PROJECT_ROOT, target);
  if (existsSync(target)) throw new Error(`${shown} already exists: remove it, or name another directory`);
  cpSync(join(solved ? CHAPTERS_DIR : WORKSHOP_DIR, name), target, { recursive: true });
  const number = name.slice(0, 2);
  const check = `npm run -s check -- ${number}${target === defaultCopyOf(name) ? '' : ` --dir ${shown}`}`;
  return [
    solved ? `copied the finished chapter ${name} to ${shown}` : `copied the starter code of chapter ${name} to ${shown}`,
    solved
      ? `change it as an exercise asks, then check that it still does what chapter ${number} teaches:`
      : `read docs/${name}.md, write what each TODO asks (grep -rn TODO ${shown}), then check your work:`,
    `  ${check}`,
  ].join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { solved: { type: 'boolean' } }, allowPositionals: true });
  const [verb, id, dir, ...extra] = positionals;
  if (verb !== 'start' || !id || extra.length) throw new Error('usage: npm run -s workshop -- start <chapter> [dir] [--solved]');
  console.log(startChapter(id, dir, values.solved ?? false));
}

if (process.argv[1]?.endsWith('workshop.ts')) {
  try {
    main();
  } catch (err) {
    console.error(`nutshell: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
