// @ts-check
/** Tooling: `./nutshell 05 run IMG sh` (or `npm run -s chapter -- 05 …`) runs chapter 05's
 *  program, in this same process, from its cached JavaScript bundle (scripts/compiled.mjs):
 *  no TypeScript loader at any start, and a saved edit counts on the next run. The program
 *  sees the command line it would see if started as `node --import tsx main.ts ARGS`.
 *  Instead of a number, the first argument may be the path of a chapter's main.ts (a
 *  learner's copy): that is how the tests, the exercises and the tour start a chapter. */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compiledProgram, mapStackTracesWhenDebugging } from './compiled.mjs';
import { chapterProgram, findChapter } from './project.mjs';

let bundle;
try {
  const which = process.argv[2];
  const program = which?.endsWith('.ts') ? resolve(which) : chapterProgram(findChapter(which));
  bundle = compiledProgram(program);
  process.argv.splice(1, 2, program);
} catch (err) {
  console.error(`nutshell: ${/** @type {Error} */ (err).message}`);
  process.exitCode = 2;
}
if (bundle) {
  mapStackTracesWhenDebugging();
  await import(pathToFileURL(bundle).href);
}
