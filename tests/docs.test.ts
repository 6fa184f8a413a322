/** The lessons: each chapter has one, and docs/diffs holds each chapter's current diff against
 *  the chapter before it (`npm run diff -- --write` regenerates them). */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { listChapters } from '../scripts/chapters.ts';
import { chapterDiff, DIFFS_DIR } from '../scripts/diff.ts';

for (const chapter of listChapters()) {
  test(`chapter ${chapter} has a lesson in docs/`, () => {
    assert.ok(existsSync(join(PROJECT_ROOT, 'docs', `${chapter}.md`)), `docs/${chapter}.md`);
  });
}

for (const chapter of listChapters().slice(1)) {
  test(`docs/diffs/${chapter}.diff is the chapter's current diff (npm run diff -- --write)`, () => {
    assert.equal(readFileSync(join(DIFFS_DIR, `${chapter}.diff`), 'utf8'), chapterDiff(chapter));
  });
}
