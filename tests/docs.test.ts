/** The lessons: each chapter has one. (docs/diffs, each chapter's diff against the one before,
 *  is generated with the chapters from ladder/: `npm test` checks it first, with
 *  `npm run generate -- --check`.) */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { listChapters } from '../scripts/chapters.ts';

for (const chapter of listChapters()) {
  test(`chapter ${chapter} has a lesson in docs/`, () => {
    assert.ok(existsSync(join(PROJECT_ROOT, 'docs', `${chapter}.md`)), `docs/${chapter}.md`);
  });
}
