/** Tooling: find a chapter's folder and program from its number ("01", "2", "02-namespaces"). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './build-rootfs.ts';
import { readChapterNames } from './ladder.ts';

export const CHAPTERS_DIR = join(PROJECT_ROOT, 'chapters');

/** Every chapter folder name, in order (ladder/chapters.json): ["01-chroot", "02-namespaces", ...]. */
export function listChapters(): string[] {
  return readChapterNames();
}

export function findChapter(id: string | undefined): string {
  const number = id?.match(/^\d+/)?.[0]?.padStart(2, '0');
  const name = listChapters().find((c) => c.startsWith(`${number}-`));
  if (!number || !name) throw new Error(`no chapter "${id ?? ''}" (chapters: ${listChapters().map((c) => c.slice(0, 2)).join(', ')})`);
  return name;
}

/** The program of a chapter: its main.ts, in this checkout or in a learner's copy. */
export function chapterProgram(name: string, dir = join(CHAPTERS_DIR, name)): string {
  const program = join(dir, 'main.ts');
  if (!existsSync(program)) throw new Error(`no main.ts in ${dir}`);
  return program;
}
