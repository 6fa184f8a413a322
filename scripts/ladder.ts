/** Tooling: the ladder's one source, and how every chapter is cut out of it.
 *
 *  ladder/chapters.json lists the chapters in order. ladder/source/ holds every line of every
 *  chapter once; marker comments (whole lines) say which chapters a line belongs to:
 *
 *    //@ cgroups..           first line of a file that only some chapters have (here: 03 on)
 *    //> namespaces..        the lines up to the matching close appear from chapter 02 on
 *    //< namespaces..        closes it (it repeats the opening range, so a mismatch is caught)
 *    //> ..chroot            …appear up to chapter 01 only
 *    //> cgroups..unionfs    …appear in chapters 03 to 04 (both included)
 *    //| old line            a line that the file's last chapter does not have
 *
 *  A chapter is named by its slug, the part after the number ("cgroups" for 03-cgroups), so
 *  that inserting a chapter renumbers nothing in the source. Blocks nest: an inner range is
 *  cut to its outer one. Lines the file's last chapter has are written as they are, so the
 *  source reads, and type-checks, as that chapter; the others carry "//| " after their
 *  indentation, so they stay comments. docs/MAINTAINING.md is the guide. */
import { diffArrays } from 'diff';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { PROJECT_ROOT } from './build-rootfs.ts';
import { readChapterNames } from './project.mjs';

export const LADDER_DIR = join(PROJECT_ROOT, 'ladder');
export const SOURCE_DIR = join(LADDER_DIR, 'source');
const MANIFEST = join(LADDER_DIR, 'chapters.json');

/** Chapters are counted from 0 in the order of the manifest. */
export interface ChapterRange {
  first: number;
  last: number;
}

export interface SourceLine extends ChapterRange {
  text: string;
}

export interface SourceFile extends ChapterRange {
  path: string; // relative to the source dir, e.g. "main.ts"
  lines: SourceLine[];
}

export interface Ladder {
  chapters: string[]; // ["01-chroot", "02-namespaces", ...]
  files: SourceFile[];
}

/** The chapters' folder names, in order, from ladder/chapters.json. */
const slugOf = (chapter: string) => chapter.slice(3);

// ---------------------------------------------------------------------------------------------
// Reading the source

const MARKER = /^(\s*)\/\/([@><])\s+(\S+)\s*$/;
const RETIRED = /^(\s*)\/\/\|(?: (.*))?$/;

class SourceError extends Error {
  constructor(file: string, lineNumber: number, message: string) {
    super(`ladder/source/${file}:${lineNumber}: ${message}`);
  }
}

/** "cgroups.." (03 on), "..chroot" (up to 01), "cgroups..unionfs" (03 to 04, both included). */
function parseRange(text: string, chapters: string[], where: (message: string) => Error): ChapterRange {
  const indexOf = (slug: string) => {
    const index = chapters.findIndex((c) => slugOf(c) === slug);
    if (index < 0) throw where(`no chapter "${slug}" (chapters: ${chapters.map(slugOf).join(', ')})`);
    return index;
  };
  const [from, to, extra] = text.split('..');
  if (to === undefined || extra !== undefined || (!from && !to)) throw where(`"${text}" is not a range: write cgroups.., ..chroot or cgroups..unionfs`);
  const range = { first: from ? indexOf(from) : 0, last: to ? indexOf(to) : chapters.length - 1 };
  if (range.first > range.last) throw where(`"${text}" ends before it starts`);
  return range;
}

/** The shortest text for `range` inside `outer`: what the writer of the source would write. */
export function formatRange(range: ChapterRange, outer: ChapterRange, chapters: string[]): string {
  const from = range.first === outer.first ? '' : slugOf(chapters[range.first]!);
  const to = range.last === outer.last ? '' : slugOf(chapters[range.last]!);
  return `${from}..${to}`;
}

export function parseFile(path: string, text: string, chapters: string[]): SourceFile {
  if (!text.endsWith('\n')) throw new SourceError(path, 1, 'the file must end with a newline');
  const rawLines = text.slice(0, -1).split('\n');
  const file: SourceFile = { path, first: 0, last: chapters.length - 1, lines: [] };
  const header = rawLines[0]?.match(MARKER);
  const headerLines = header?.[2] === '@' ? 1 : 0;
  if (header?.[2] === '@') {
    Object.assign(file, parseRange(header[3]!, chapters, (m) => new SourceError(path, 1, m)));
    rawLines.shift();
  }
  const open: { text: string; range: ChapterRange; lineNumber: number }[] = [];
  rawLines.forEach((raw, i) => {
    const lineNumber = headerLines + i + 1;
    const fail = (message: string) => new SourceError(path, lineNumber, message);
    const enclosing = open.at(-1)?.range ?? file;
    const marker = raw.match(MARKER);
    if (marker?.[2] === '@') throw fail('"//@" belongs on the first line of a file only');
    if (marker?.[2] === '>') {
      const range = parseRange(marker[3]!, chapters, fail);
      const cut = { first: Math.max(range.first, enclosing.first), last: Math.min(range.last, enclosing.last) };
      if (cut.first > cut.last) throw fail(`block ${marker[3]} lies outside its enclosing range: no chapter would have it`);
      open.push({ text: marker[3]!, range: cut, lineNumber });
      return;
    }
    if (marker?.[2] === '<') {
      const block = open.pop();
      if (!block) throw fail(`"//< ${marker[3]}" closes no block`);
      if (block.text !== marker[3]) throw fail(`"//< ${marker[3]}" closes "//> ${block.text}" (line ${block.lineNumber})`);
      return;
    }
    // The source is the file's last chapter: its lines are plain code, every other is retired.
    const live = enclosing.last === file.last;
    const retired = raw.match(RETIRED);
    if (live && retired) throw fail(`chapter ${chapters[file.last]} has this line: remove its "//|"`);
    if (!live && !retired) throw fail(`chapter ${chapters[file.last]} does not have this line: write it as "//| …" (or move it)`);
    const code = retired ? retired[1]! + (retired[2] ?? '') : raw;
    file.lines.push({ text: code, first: enclosing.first, last: enclosing.last });
  });
  const unclosed = open.pop();
  if (unclosed) throw new SourceError(path, unclosed.lineNumber, `"//> ${unclosed.text}" is never closed`);
  return file;
}

function listFiles(dir: string, under = ''): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true }).flatMap((entry) => {
    const path = under ? `${under}/${entry.name}` : entry.name;
    return entry.isDirectory() ? listFiles(dir, path) : [path];
  }).sort();
}

/** Read ladder/chapters.json and every file of ladder/source. */
export function readLadder(sourceDir = SOURCE_DIR, manifest = MANIFEST): Ladder {
  const chapters = readChapterNames(manifest);
  const files = listFiles(sourceDir).map((path) => parseFile(path, readFileSync(join(sourceDir, path), 'utf8'), chapters));
  return { chapters, files };
}

// ---------------------------------------------------------------------------------------------
// Cutting one chapter out of it

/** Chapter `index`'s files: path → content. */
export function projectChapter(ladder: Ladder, index: number): Map<string, string> {
  const has = (r: ChapterRange) => r.first <= index && index <= r.last;
  const files = new Map<string, string>();
  for (const file of ladder.files.filter(has)) {
    files.set(file.path, file.lines.filter(has).map((line) => line.text + '\n').join(''));
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// Writing the source

/** The whitespace that every non-blank line of `lines` starts with. */
function commonIndent(lines: string[]): string {
  const indents = lines.filter((l) => l.trim()).map((l) => l.match(/^\s*/)![0]);
  let common = indents[0] ?? '';
  for (const indent of indents) while (!indent.startsWith(common)) common = common.slice(0, -1);
  return common;
}

/** The longest block a writer would nest other blocks in: a reader should see it whole. */
const MAX_NESTING_BLOCK = 60;

const sameRange = (a: ChapterRange, b: ChapterRange) => a.first === b.first && a.last === b.last;
const within = (inner: ChapterRange, outer: ChapterRange) => outer.first <= inner.first && inner.last <= outer.last;

/** The source text of one file. Consecutive lines of one range share a block, and a short
 *  block holds the narrower blocks that stand between its lines (an options object to which
 *  each chapter adds a few lines reads as one block, with the additions nested inside). */
export function formatFile(file: SourceFile, chapters: string[]): string {
  const out: string[] = [];
  if (file.first !== 0 || file.last !== chapters.length - 1) out.push(`//@ ${formatRange(file, { first: 0, last: chapters.length - 1 }, chapters)}`);
  const write = (lines: SourceLine[], enclosing: ChapterRange, indent: string): void => {
    for (let i = 0; i < lines.length; ) {
      const line = lines[i]!;
      if (sameRange(line, enclosing)) {
        if (line.last === file.last) out.push(line.text);
        else {
          // "//| " goes at the block's indentation; the parser puts back what stood before it.
          const lead = line.text.startsWith(indent) ? indent : line.text.match(/^\s*/)![0];
          const code = line.text.slice(lead.length);
          out.push(code ? `${lead}//| ${code}` : `${lead}//|`);
        }
        i++;
        continue;
      }
      // The block runs over the lines that lie within its range, up to the last of its own
      // range. If that holds narrower blocks and is too long to see whole, it stops instead
      // at the first line that is not of its own range.
      const block: ChapterRange = { first: line.first, last: line.last };
      let length = 1;
      let plain = 0;
      for (let end = i; end < lines.length && within(lines[end]!, block); end++) {
        if (sameRange(lines[end]!, block)) length = end - i + 1;
        if (plain === end - i && sameRange(lines[end]!, block)) plain++;
      }
      if (length > MAX_NESTING_BLOCK && length > plain) length = plain;
      const group = lines.slice(i, i + length);
      const blockIndent = commonIndent(group.map((l) => l.text));
      const range = formatRange(block, enclosing, chapters);
      out.push(`${blockIndent}//> ${range}`);
      write(group, block, blockIndent);
      out.push(`${blockIndent}//< ${range}`);
      i += length;
    }
  };
  write(file.lines, file, '');
  return out.map((l) => l + '\n').join('');
}

/** Write the whole source tree (files that are no longer in `ladder` are the caller's). */
export function writeLadder(ladder: Ladder, sourceDir = SOURCE_DIR, manifest = MANIFEST): void {
  mkdirSync(dirname(manifest), { recursive: true });
  writeFileSync(manifest, JSON.stringify({ chapters: ladder.chapters }, null, 2) + '\n');
  for (const file of ladder.files) {
    mkdirSync(dirname(join(sourceDir, file.path)), { recursive: true });
    writeFileSync(join(sourceDir, file.path), formatFile(file, ladder.chapters));
  }
}

// ---------------------------------------------------------------------------------------------
// Absorbing a chapter written as a plain program

/** Lines grouped into the units that a chapter keeps or replaces whole: a block comment, or a
 *  template literal that spans lines, is one unit; any other line is one. Cutting a comment or a
 *  literal line by line would leave old lines ("//| …") inside it, where "* /" or a backtick in
 *  them would end it early, and the source would no longer be TypeScript. */
function splitUnits(lines: string[]): string[][] {
  const units: string[][] = [];
  let open: 'comment' | 'template' | undefined;
  for (const line of lines) {
    if (open) units.at(-1)!.push(line);
    else units.push([line]);
    const backticks = (line.match(/(?<!\\)`/g) ?? []).length;
    if (open === 'comment') open = line.includes('*/') ? undefined : 'comment';
    else if (open === 'template') open = backticks % 2 === 1 ? undefined : 'template';
    else if (/^\s*\/\*/.test(line) && !line.includes('*/')) open = 'comment';
    else if (!/^\s*(\/\/|\*)/.test(line) && backticks % 2 === 1) open = 'template';
  }
  return units;
}

/** Add `chapter`, given as a folder of plain files, at the end of the ladder: lines it shares
 *  with the chapter before (a line diff decides) are extended to it, the others are added for
 *  it alone, and files it lacks stop at the chapter before. Lines it adds go just before the
 *  next line it keeps, so that, in the source, a replaced line is followed by its replacement. */
export function absorbChapter(ladder: Ladder, chapter: string, dir: string): Ladder {
  const index = ladder.chapters.length;
  const chapters = [...ladder.chapters, chapter];
  const newFiles = new Map(listFiles(dir).filter((p) => statSync(join(dir, p)).isFile()).map((p) => [p, readFileSync(join(dir, p), 'utf8')]));
  const files: SourceFile[] = ladder.files.map((f) => ({ ...f, lines: f.lines.map((l) => ({ ...l })) }));
  for (const [path, text] of newFiles) {
    if (!text.endsWith('\n')) throw new Error(`${join(dir, path)}: the file must end with a newline`);
    const newLines = text.slice(0, -1).split('\n');
    const clash = newLines.findIndex((l) => MARKER.test(l) || RETIRED.test(l));
    if (clash >= 0) throw new Error(`${join(dir, path)}:${clash + 1}: a line that reads as a ladder marker`);
    const file = files.find((f) => f.path === path);
    if (!file) {
      files.push({ path, first: index, last: index, lines: newLines.map((text) => ({ text, first: index, last: index })) });
      continue;
    }
    if (file.last !== index - 1) throw new Error(`${path}: chapter ${chapters[file.last]} dropped it; a file cannot come back`);
    // The previous chapter's lines, each with its place in the source, compared unit by unit.
    const previous = file.lines.map((line, at) => ({ line, at })).filter(({ line }) => line.last === index - 1);
    const oldUnits = splitUnits(previous.map((e) => e.line.text));
    const newUnits = splitUnits(newLines);
    const inserts: { before: number; lines: SourceLine[] }[] = [];
    let p = 0;
    let pending: SourceLine[] = [];
    for (const change of diffArrays(oldUnits, newUnits, { comparator: (a, b) => a.join('\n') === b.join('\n') })) {
      const lines = change.value.flat();
      if (change.added) pending.push(...lines.map((text) => ({ text, first: index, last: index })));
      else if (change.removed) p += lines.length;
      else {
        inserts.push({ before: previous[p]!.at, lines: pending });
        pending = [];
        for (const _ of lines) previous[p++]!.line.last = index;
      }
    }
    inserts.push({ before: file.lines.length, lines: pending });
    for (const { before, lines } of inserts.reverse()) file.lines.splice(before, 0, ...lines);
    file.last = index;
  }
  return { chapters, files: files.sort((a, b) => a.path.localeCompare(b.path)) };
}
