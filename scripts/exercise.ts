/** Tooling: the exercises of the lessons, checked.
 *    npm run -s exercise -- 03            list chapter 03's exercises that have a check
 *    npm run -s exercise -- 03 2          check exercise 2 of chapter 03 against work/03-cgroups
 *    npm run -s exercise -- 03 2 --dir D  … against the copy in D
 *    npm run -s exercise -- 03 2 --save-solution [--dir D]
 *                                         (teachers) write docs/solutions/03-2.patch from D
 *  Exercises start from the finished chapter: `npm run -s workshop -- start 03 --solved`
 *  makes the copy, or keep the one you finished. */
import { existsSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import chalk from 'chalk';
import { PROJECT_ROOT } from './build-rootfs.ts';
import { findChapter } from './chapters.ts';
import { listExercises, loadExercise, NotYet, runCheck, solutionPatch } from '../exercises/lib.ts';

function fail(message: string): never {
  console.error(`nutshell: ${message}`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  options: { dir: { type: 'string' }, 'save-solution': { type: 'boolean' } },
  allowPositionals: true,
});
if (positionals.length < 1 || positionals.length > 2) fail('usage: npm run -s exercise -- <chapter> [<exercise>] [--dir <your copy>]');

let chapter: string;
try {
  chapter = findChapter(positionals[0]);
} catch (err) {
  fail((err as Error).message);
}
const exercises = listExercises().filter((e) => e.chapter === chapter);
if (exercises.length === 0) fail(`chapter ${chapter} has no exercise with a check`);

if (positionals.length === 1) {
  for (const e of exercises) console.log(`${chapter.slice(0, 2)} ${e.number}  ${(await loadExercise(e.file)).title}`);
  process.exit(0);
}

const number = Number(positionals[1]);
const entry = exercises.find((e) => e.number === number);
if (!entry) fail(`chapter ${chapter} has no exercise ${positionals[1]} (its exercises: ${exercises.map((e) => e.number).join(', ')})`);
const dir = resolve(values.dir ?? join(PROJECT_ROOT, 'work', chapter));
if (!existsSync(join(dir, 'main.ts'))) {
  fail(`no copy of chapter ${chapter} in ${relative(process.cwd(), dir) || '.'}: make one with npm run -s workshop -- start ${chapter.slice(0, 2)} --solved`);
}

if (values['save-solution']) {
  const patch = solutionPatch(chapter, dir);
  if (!patch) fail(`${dir} does not differ from chapters/${chapter}: nothing to save`);
  writeFileSync(entry.solution, patch);
  console.log(`wrote ${relative(PROJECT_ROOT, entry.solution)}`);
  process.exit(0);
}

const exercise = await loadExercise(entry.file);
const label = `exercise ${chapter.slice(0, 2)}-${number} (${exercise.title})`;
try {
  const seen = await runCheck(exercise, chapter, dir);
  console.log(`${chalk.green('✓')} ${label}: ${seen}`);
} catch (err) {
  if (!(err instanceof NotYet)) {
    console.error(`${chalk.red('✗')} ${label}: the check itself failed: ${(err as Error).stack ?? err}`);
    process.exit(2);
  }
  console.log(`${chalk.red('✗')} ${label}: ${err.message}`);
  process.exitCode = 1;
}
