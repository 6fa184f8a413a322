/** Tooling: the lesson of a chapter is its diff against the chapter before it.
 *    npm run diff -- 02            print chapter 02 as a diff against 01, coloured
 *  docs/diffs/*.diff hold the same diffs; `npm run generate` writes them with the chapters. */
import { spawnSync } from 'node:child_process';
import chalk from 'chalk';
import { CHAPTERS_DIR, findChapter, listChapters } from './chapters.ts';

/** `diff -ruN previous name`, run in `dir` (the folder that holds both chapters). */
export function chapterDiff(previous: string, name: string, dir = CHAPTERS_DIR): string {
  const result = spawnSync('diff', ['-ruN', previous, name], { cwd: dir, encoding: 'utf8' });
  if (result.status === 2 || result.error) throw new Error(`diff failed: ${result.stderr || result.error?.message}`);
  // Drop the modification times from the "--- file<TAB>time" headers: the diff then depends
  // on the code alone, and docs/diffs stays the same from one checkout to the next.
  return result.stdout.replace(/^((?:---|\+\+\+) [^\t\n]+)\t.*$/gm, '$1');
}

function colour(diff: string): string {
  return diff
    .split('\n')
    .map((line) =>
      line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ')
        ? chalk.bold(line)
        : line.startsWith('+') ? chalk.green(line)
        : line.startsWith('-') ? chalk.red(line)
        : line.startsWith('@@') ? chalk.cyan(line)
        : line,
    )
    .join('\n');
}

if (process.argv[1]?.endsWith('diff.ts')) {
  try {
    const name = findChapter(process.argv[2]);
    const previous = listChapters()[listChapters().indexOf(name) - 1];
    if (!previous) throw new Error(`chapter ${name} is the first: it has no diff`);
    process.stdout.write(colour(chapterDiff(previous, name)));
  } catch (err) {
    console.error(`nutshell: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
