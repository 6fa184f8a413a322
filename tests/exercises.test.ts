/** The exercises' checks: each one fails on the chapter as shipped and passes once its solution
 *  (docs/solutions/NN-K.patch) is applied, so a check can neither always pass nor never pass.
 *  Each runs in a copy under work/ of the checkout: chapters import ../../lib. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { CHAPTERS_DIR } from '../scripts/chapters.ts';
import { applySolution, listExercises, loadExercise, NotYet, runCheck } from '../exercises/lib.ts';
import { chaptersFrom } from './helpers/ladder.ts';

const WORK = join(PROJECT_ROOT, 'work');

function copyOfChapter(chapter: string): string {
  mkdirSync(WORK, { recursive: true });
  const dir = mkdtempSync(join(WORK, `exercise-test-${chapter.slice(0, 2)}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(CHAPTERS_DIR, chapter), dir, { recursive: true });
  return dir;
}

for (const entry of listExercises()) {
  const id = entry.chapter.slice(0, 2);
  if (!chaptersFrom(id, id).length) continue;
  test(`${id}: exercise ${entry.number}'s check fails on the chapter as shipped and passes with its solution`, { timeout: 600_000 }, async () => {
    const exercise = await loadExercise(entry.file);
    assert.ok(existsSync(entry.solution), `no solution: ${entry.solution}`);
    const dir = copyOfChapter(entry.chapter);
    await assert.rejects(runCheck(exercise, entry.chapter, dir), (err: unknown) => {
      assert.ok(err instanceof NotYet, `the check broke instead of saying "not yet": ${(err as Error).stack}`);
      return true;
    });
    applySolution(readFileSync(entry.solution, 'utf8'), dir);
    const seen = await runCheck(exercise, entry.chapter, dir);
    assert.ok(seen.length > 0);
  });
}

test('npm run exercise: an unknown chapter, an unknown exercise or a missing copy gives one line and exit 2', () => {
  const exercise = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'exercise.ts'), ...args], { encoding: 'utf8' });
  for (const [args, pattern] of [
    [['99'], /^nutshell: no chapter "99"/],
    [['01', '99'], /^nutshell: chapter 01-chroot has no exercise 99 \(its exercises: 1, 2/],
    [['01', '1', '--dir', join(WORK, 'no-such-copy')], /^nutshell: no copy of chapter 01-chroot in .*no-such-copy: make one with npm run -s workshop -- start 01 --solved\n$/],
  ] as const) {
    const result = exercise(...args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, pattern);
  }
});
