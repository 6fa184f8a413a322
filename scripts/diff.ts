/** Tooling: the lesson of a chapter is its diff against the chapter before it.
 *    npm run diff -- 02            print chapter 02 as a diff against 01, coloured
 *    npm run diff -- --write       regenerate docs/diffs/*.diff (a test checks they are current) */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import chalk from 'chalk';
import { PROJECT_ROOT } from './build-rootfs.ts';
import { CHAPTERS_DIR, findChapter, listChapters } from './chapters.ts';

export const DIFFS_DIR = join(PROJECT_ROOT, 'docs', 'diffs');

/** `diff -ruN` of chapter N-1 against chapter N, with paths relative to chapters/. */
export function chapterDiff(name: string): string {
  const chapters = listChapters();
  const previous = chapters[chapters.indexOf(name) - 1];
  if (!previous) throw new Error(`chapter ${name} is the first: it has no diff`);
  const result = spawnSync('diff', ['-ruN', previous, name], { cwd: CHAPTERS_DIR, encoding: 'utf8' });
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
    if (process.argv[2] === '--write') {
      mkdirSync(DIFFS_DIR, { recursive: true });
      for (const name of listChapters().slice(1)) {
        writeFileSync(join(DIFFS_DIR, `${name}.diff`), chapterDiff(name));
        console.log(`docs/diffs/${name}.diff`);
      }
    } else {
      process.stdout.write(colour(chapterDiff(findChapter(process.argv[2]))));
    }
  } catch (err) {
    console.error(`nutshell: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
