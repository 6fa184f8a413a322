// @ts-check
/** Tooling: where the project is and which chapters it has. JavaScript, so that ./nutshell can
 *  find a chapter without a TypeScript loader (scripts/compiled.mjs says why that matters);
 *  the TypeScript tooling imports it through scripts/chapters.ts. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CHAPTERS_DIR = join(PROJECT_ROOT, 'chapters');
const MANIFEST = join(PROJECT_ROOT, 'ladder', 'chapters.json');

/** The chapters in order, as ladder/chapters.json lists them: ["01-chroot", "02-namespaces", …].
 *  @param {string} [manifest] @returns {string[]} */
export function readChapterNames(manifest = MANIFEST) {
  /** @type {unknown} */
  const names = JSON.parse(readFileSync(manifest, 'utf8')).chapters;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && /^\d\d-[a-z0-9-]+$/.test(n))) {
    throw new Error(`${relative(PROJECT_ROOT, manifest)}: "chapters" must list names like "01-chroot"`);
  }
  return names;
}

/** Every chapter folder name, in order. @returns {string[]} */
export function listChapters() {
  return readChapterNames();
}

/** A chapter's folder name from its number ("01", "2", "02-namespaces").
 *  @param {string | undefined} id @returns {string} */
export function findChapter(id) {
  const number = id?.match(/^\d+/)?.[0]?.padStart(2, '0');
  const name = listChapters().find((c) => c.startsWith(`${number}-`));
  if (!number || !name) throw new Error(`no chapter "${id ?? ''}" (chapters: ${listChapters().map((c) => c.slice(0, 2)).join(', ')})`);
  return name;
}

/** The program of a chapter: its main.ts, in this checkout or in a learner's copy.
 *  @param {string} name @param {string} [dir] @returns {string} */
export function chapterProgram(name, dir = join(CHAPTERS_DIR, name)) {
  const program = join(dir, 'main.ts');
  if (!existsSync(program)) throw new Error(`no main.ts in ${dir}`);
  return program;
}

/** The command that runs a chapter's program (a main.ts) as ./nutshell does: plain node, the
 *  runner, the program (scripts/chapter.mjs). Append the program's arguments.
 *  @param {string} program @returns {string[]} */
export function chapterCommand(program) {
  return [process.execPath, join(PROJECT_ROOT, 'scripts', 'chapter.mjs'), program];
}
