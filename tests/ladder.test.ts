/** The ladder's one source (scripts/ladder.ts, scripts/generate.ts): markers are read as
 *  docs/MAINTAINING.md says, mistakes in them are named with their line, a chapter written as
 *  a plain program is absorbed so that every chapter comes back byte for byte, and a hand
 *  edit of a generated file is caught. */
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { compareWithTree, generateAll } from '../scripts/generate.ts';
import { absorbChapter, formatFile, parseFile, projectChapter, readLadder, type Ladder } from '../scripts/ladder.ts';
import { tempDir } from './helpers/chapter.ts';

const CHAPTERS = ['01-one', '02-two', '03-three'];
const cut = (ladder: Ladder, index: number) => Object.fromEntries(projectChapter(ladder, index));

const SOURCE = `import { a } from './a.ts';
//> two..
import { b } from './b.ts';
//< two..
function run() {
  //> ..one
  //| oldWay();
  //< ..one
  //> two..
  newWay();
  //> two..two
  //| onlyInTwo();
  //< two..two
  //< two..
}
`;

test('markers: each chapter gets its lines, nested blocks are cut to their outer range', () => {
  const ladder = { chapters: CHAPTERS, files: [parseFile('main.ts', SOURCE, CHAPTERS)] };
  assert.deepEqual(cut(ladder, 0), { 'main.ts': "import { a } from './a.ts';\nfunction run() {\n  oldWay();\n}\n" });
  assert.deepEqual(cut(ladder, 1), { 'main.ts': "import { a } from './a.ts';\nimport { b } from './b.ts';\nfunction run() {\n  newWay();\n  onlyInTwo();\n}\n" });
  assert.deepEqual(cut(ladder, 2), { 'main.ts': "import { a } from './a.ts';\nimport { b } from './b.ts';\nfunction run() {\n  newWay();\n}\n" });
});

test('//@ limits a file to some chapters, and the source reads as the last one it is in', () => {
  const file = parseFile('escape.ts', '//@ ..two\n//> ..one\n//| one();\n//< ..one\n//> two..\ntwo();\n//< two..\n', CHAPTERS);
  const ladder = { chapters: CHAPTERS, files: [file] };
  assert.deepEqual(cut(ladder, 0), { 'escape.ts': 'one();\n' });
  assert.deepEqual(cut(ladder, 1), { 'escape.ts': 'two();\n' });
  assert.deepEqual(cut(ladder, 2), {});
});

test('mistakes in the markers are refused with the file and line', () => {
  const refused = (text: string, pattern: RegExp) => assert.throws(() => parseFile('f.ts', text, CHAPTERS), pattern);
  refused('//> four..\nx\n//< four..\n', /f\.ts:1: no chapter "four" \(chapters: one, two, three\)/);
  refused('//> two\nx\n//< two\n', /f\.ts:1: "two" is not a range/);
  refused('//> three..one\n', /ends before it starts/);
  refused('a\n//> two..\nx\n', /f\.ts:2: "\/\/> two\.\." is never closed/);
  refused('//> two..\nx\n//< ..two\n', /f\.ts:3: "\/\/< \.\.two" closes "\/\/> two\.\." \(line 1\)/);
  refused('//< two..\n', /closes no block/);
  refused('//> ..two\nold();\n//< ..two\n', /f\.ts:2: chapter 03-three does not have this line: write it as "\/\/\| …"/);
  refused('//| now();\n', /f\.ts:1: chapter 03-three has this line: remove its "\/\/\|"/);
  refused('//> ..one\n//> three..\n//| x\n//< three..\n//< ..one\n', /f\.ts:2: block three\.\. lies outside its enclosing range/);
  refused('x\n//@ two..\n', /f\.ts:2: "\/\/@" belongs on the first line/);
  refused('x', /must end with a newline/);
});

test('a retired line keeps its indentation, blank lines included', () => {
  const file = parseFile('f.ts', '{\n  //> ..one\n  //| a;\n  //|\n  //|   b;\n//|\n  //< ..one\n}\n', CHAPTERS);
  assert.equal(cut({ chapters: CHAPTERS, files: [file] }, 0)['f.ts'], '{\n  a;\n  \n    b;\n\n}\n');
});

function writeChapter(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

test('absorbing plain chapters one by one gives back each of them, byte for byte', () => {
  const dir = tempDir();
  const versions: Record<string, string>[] = [
    { 'main.ts': '/** One.\n *  A comment. */\nconst usage = `one\n  run`;\nstart();\n', 'escape.ts': 'escape();\n' },
    { 'main.ts': '/** Two.\n *  A comment. */\nconst usage = `two\n  run`;\nunshare();\nstart();\n', 'escape.ts': 'escape();\ncontained();\n', 'state.ts': 'save();\n' },
    { 'main.ts': '/** Two.\n *  A comment. */\nconst usage = `two\n  run`;\nunshare();\nstart();\ncgroup();\n', 'state.ts': 'save();\n' },
  ];
  let ladder: Ladder = { chapters: [], files: [] };
  versions.forEach((files, i) => (ladder = absorbChapter(ladder, CHAPTERS[i]!, writeChapter(join(dir, CHAPTERS[i]!), files))));
  versions.forEach((files, i) => assert.deepEqual(cut(ladder, i), files));
  // What absorb writes reads back as the same ladder.
  const reread = ladder.files.map((f) => parseFile(f.path, formatFile(f, CHAPTERS), CHAPTERS));
  versions.forEach((files, i) => assert.deepEqual(cut({ chapters: CHAPTERS, files: reread }, i), files));
  // A comment or a multi-line literal that changes is replaced whole: no old line inside a live one.
  const main = formatFile(ladder.files.find((f) => f.path === 'main.ts')!, CHAPTERS);
  assert.match(main, /\/\/> \.\.one\n\/\/\| \/\*\* One\.\n\/\/\|  \*  A comment\. \*\/\n\/\/\| const usage = `one\n\/\/\|   run`;\n\/\/< \.\.one\n/);
  assert.match(formatFile(ladder.files.find((f) => f.path === 'escape.ts')!, CHAPTERS), /^\/\/@ \.\.two\n/);
});

test('absorbing the real chapters from scratch gives back each of them', () => {
  const real = readLadder();
  let ladder: Ladder = { chapters: [], files: [] };
  for (const name of real.chapters) ladder = absorbChapter(ladder, name, join(PROJECT_ROOT, 'chapters', name));
  real.chapters.forEach((_, i) => assert.deepEqual(cut(ladder, i), cut(real, i)));
});

test('a line appended to a generated chapter file, diff or starter file is named; the clean tree passes', () => {
  const ladder = readLadder();
  const generated = generateAll(ladder);
  const root = tempDir();
  cpSync(join(PROJECT_ROOT, 'chapters'), join(root, 'chapters'), { recursive: true });
  cpSync(join(PROJECT_ROOT, 'docs', 'diffs'), join(root, 'docs', 'diffs'), { recursive: true });
  cpSync(join(PROJECT_ROOT, 'workshop'), join(root, 'workshop'), { recursive: true });
  assert.deepEqual(compareWithTree(ladder, generated, root), { differing: [], stray: [] });
  const [chapterFile] = [...generated.keys()].filter((p) => p.startsWith('chapters/'));
  const [diffFile] = [...generated.keys()].filter((p) => p.startsWith('docs/diffs/'));
  const [starterFile] = [...generated.keys()].filter((p) => p.startsWith('workshop/'));
  appendFileSync(join(root, chapterFile!), '// a hand edit\n');
  appendFileSync(join(root, diffFile!), ' \n');
  appendFileSync(join(root, starterFile!), '// a hand edit\n');
  writeFileSync(join(root, 'chapters', ladder.chapters[0]!, 'extra.ts'), '');
  assert.deepEqual(compareWithTree(ladder, generated, root), {
    differing: [chapterFile, starterFile, diffFile],
    stray: [`chapters/${ladder.chapters[0]}/extra.ts`],
  });
  assert.equal(readFileSync(join(PROJECT_ROOT, chapterFile!), 'utf8'), generated.get(chapterFile!), 'the real tree was not touched');
});
