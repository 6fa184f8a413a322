/** Test helper: the ladder. A test states the first chapter it holds for (and the last, when a
 *  later lesson changes that behaviour on purpose), and is registered once for each chapter of
 *  that range that this run tests:
 *
 *    for (const ch of chaptersFrom('02')) test(`${ch}: the hostname inside is --hostname`, …);
 *
 *  The runner (scripts/test.ts) names the chapters it tests in NUTSHELL_CHAPTERS ("03", or
 *  "02,05"; unset: all of them). `npm run check -- NN --dir <dir>` tests one chapter and sets
 *  NUTSHELL_CHAPTER_DIR too: chapter NN's program, and every module of it that a test loads
 *  through chapterModule(), then come from the learner's copy instead of chapters/. */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHAPTERS_DIR, findChapter, listChapters } from '../../scripts/chapters.ts';

/** "01" for "01-chroot", "1", "01". */
function idOf(chapter: string): string {
  return findChapter(chapter).slice(0, 2);
}

/** The chapters this run tests, in order. */
function selectedChapters(): string[] {
  const all = listChapters().map(idOf);
  const named = process.env.NUTSHELL_CHAPTERS ? process.env.NUTSHELL_CHAPTERS.split(',').filter(Boolean).map(idOf) : undefined;
  return named ? all.filter((id) => named.includes(id)) : all;
}

/** The chapters from `first` to `last` (default: the last one), both included, that this run
 *  tests: ['02', '03', '04', '05'] for chaptersFrom('02') in a run of every chapter. */
export function chaptersFrom(first: string, last?: string): string[] {
  const from = idOf(first);
  const to = last === undefined ? undefined : idOf(last);
  return selectedChapters().filter((id) => id >= from && (to === undefined || id <= to));
}

/** `chapter` is at least `other` on the ladder: the test of a behaviour that began there. */
export function isFrom(chapter: string, other: string): boolean {
  return idOf(chapter) >= idOf(other);
}

/** The folder of a chapter's code: chapters/NN-name, or the learner's copy under check. */
export function chapterDir(chapter: string): string {
  const name = findChapter(chapter);
  const copy = process.env.NUTSHELL_CHAPTER_DIR;
  if (!copy) return join(CHAPTERS_DIR, name);
  const selected = selectedChapters();
  if (selected.length !== 1) throw new Error('NUTSHELL_CHAPTER_DIR is the copy of one chapter: NUTSHELL_CHAPTERS must name that one chapter');
  return selected[0] === idOf(name) ? resolve(copy) : join(CHAPTERS_DIR, name);
}

/** The file: URL of one of a chapter's modules, for code that another process imports. */
export function chapterModuleUrl(chapter: string, file: string): string {
  return pathToFileURL(join(chapterDir(chapter), file)).href;
}

/** Load one of a chapter's modules, from the chapter under test:
 *    const { parseMemory } = await chapterModule<typeof import('../chapters/03-cgroups/units.ts')>(ch, 'units.ts');
 *  (the type comes from our copy of the chapter, the code from the one under test). */
export async function chapterModule<T>(chapter: string, file: string): Promise<T> {
  return (await import(chapterModuleUrl(chapter, file))) as T;
}
