/** The lessons, run as written: every ```console block of docs/NN-name.md runs in a bash
 *  session and must print what the lesson shows (tests/helpers/lesson.ts). One test per lesson,
 *  registered for its chapter like the other tests, so `npm test -- 03` runs lesson 03. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { findChapter } from '../scripts/chapters.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { runLesson } from './helpers/lesson.ts';

for (const chapter of chaptersFrom('01')) {
  const file = join(PROJECT_ROOT, 'docs', `${findChapter(chapter)}.md`);
  if (!existsSync(file)) continue; // tests/docs.test.ts fails for a chapter without a lesson
  test(`${chapter}: the lesson docs/${findChapter(chapter)}.md runs as written`, { timeout: 30 * 60_000 }, async (t) => {
    const result = await runLesson(file);
    t.diagnostic(`${result.commands} commands in ${result.seconds.toFixed(1)} s`);
  });
}
