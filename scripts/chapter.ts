/** Tooling: `npm run -s chapter -- 02 run build/rootfs /bin/sh` runs chapter 02's program.
 *  It loads the chapter in this same process (no extra Node start-up), with the chapter
 *  number removed from the command line. */
import { chapterProgram, findChapter } from './chapters.ts';

try {
  const program = chapterProgram(findChapter(process.argv[2]));
  process.argv.splice(1, 2, program);
  await import(program);
} catch (err) {
  console.error(`nutshell: ${(err as Error).message}`);
  process.exitCode = 2;
}
