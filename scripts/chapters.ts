/** Tooling: find a chapter's folder and program from its number ("01", "2", "02-namespaces").
 *  The code is in project.mjs, which ./nutshell also loads without a TypeScript loader. */
export { CHAPTERS_DIR, chapterCommand, chapterProgram, findChapter, listChapters } from './project.mjs';
