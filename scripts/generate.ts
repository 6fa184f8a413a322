/** Tooling: write every chapter, each chapter's diff against the one before, and each
 *  chapter's starter code for learners, from the ladder's one source (ladder/; the markers are
 *  explained in scripts/ladder.ts and docs/MAINTAINING.md, the starters in scripts/starter.ts).
 *    npm run generate                       write chapters/NN-name/, docs/diffs/*.diff and
 *                                           workshop/NN-name/
 *    npm run generate -- --check            change nothing; name every file that differs, exit 1
 *    npm run generate -- --absorb <dir>...  add each folder, a plain program, as a new last
 *                                           chapter named after the folder, then generate */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from './build-rootfs.ts';
import { chapterDiff } from './diff.ts';
import { absorbChapter, LADDER_DIR, projectChapter, readLadder, SOURCE_DIR, writeLadder, type Ladder } from './ladder.ts';
import { projectStarter } from './starter.ts';

/** Every generated file, keyed by its path under the project: chapters/…, docs/diffs/… and
 *  workshop/…. */
export function generateAll(ladder: Ladder): Map<string, string> {
  const out = new Map<string, string>();
  // The diffs are made by diff(1) from the chapters as written into a scratch folder.
  const scratch = mkdtempSync(join(tmpdir(), 'nutshell-generate-'));
  try {
    ladder.chapters.forEach((chapter, index) => {
      for (const [path, text] of projectChapter(ladder, index)) {
        out.set(`chapters/${chapter}/${path}`, text);
        mkdirSync(dirname(join(scratch, chapter, path)), { recursive: true });
        writeFileSync(join(scratch, chapter, path), text);
      }
      if (index > 0) out.set(`docs/diffs/${chapter}.diff`, chapterDiff(ladder.chapters[index - 1]!, chapter, scratch));
      for (const [path, text] of projectStarter(ladder, index)) out.set(`workshop/${chapter}/${path}`, text);
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return out;
}

/** Every file under `root`/`dir`, as paths relative to `root`. */
function filesUnder(root: string, dir: string): string[] {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** How the tree at `root` departs from what the source generates: files whose content differs
 *  (or that are missing), and stray ones — files in a generated chapter, starter or docs/diffs
 *  that the source does not make, and chapter or starter folders (NN-name) that
 *  ladder/chapters.json omits. */
export function compareWithTree(ladder: Ladder, generated: Map<string, string>, root = PROJECT_ROOT): { differing: string[]; stray: string[] } {
  const differing = [...generated].filter(([path, text]) => readOrNull(join(root, path)) !== text).map(([path]) => path);
  const numbered = (dir: string) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).filter((name) => /^\d\d-/.test(name)) : []);
  const unlisted = ['chapters', 'workshop'].flatMap((dir) => numbered(dir).filter((name) => !ladder.chapters.includes(name)).map((name) => `${dir}/${name}/`));
  const owned = [
    ...ladder.chapters.flatMap((name) => [...filesUnder(root, `chapters/${name}`), ...filesUnder(root, `workshop/${name}`)]),
    ...filesUnder(root, 'docs/diffs'),
  ];
  return { differing, stray: [...unlisted, ...owned.filter((path) => !generated.has(path))] };
}

/** The source type-checks as the last chapter. A file that stops earlier reads as its own last
 *  chapter, and its imports name files that have since changed: tsconfig.json must leave it out. */
function checkTypeCheckedFiles(ladder: Ladder): void {
  const excluded: string[] = JSON.parse(readFileSync(join(PROJECT_ROOT, 'tsconfig.json'), 'utf8')).exclude ?? [];
  const retired = ladder.files.filter((f) => f.last < ladder.chapters.length - 1).map((f) => `ladder/source/${f.path}`);
  const missing = retired.filter((path) => !excluded.includes(path));
  const stale = excluded.filter((path) => path.startsWith('ladder/') && !retired.includes(path));
  if (missing.length) throw new Error(`tsconfig.json must exclude ${missing.join(', ')}: the last chapter does not have it`);
  if (stale.length) throw new Error(`tsconfig.json excludes ${stale.join(', ')}, which the last chapter has: type-check it`);
}

function main(): number {
  const { values, positionals } = parseArgs({ options: { check: { type: 'boolean' }, absorb: { type: 'boolean' } }, allowPositionals: true });
  if (values.absorb) {
    let ladder: Ladder = existsSync(SOURCE_DIR) ? readLadder() : { chapters: [], files: [] };
    for (const dir of positionals) ladder = absorbChapter(ladder, basename(resolve(dir)), resolve(dir));
    writeLadder(ladder);
    console.log(`${relative(PROJECT_ROOT, LADDER_DIR)}/: ${ladder.chapters.join(', ')}`);
  }
  const ladder = readLadder();
  checkTypeCheckedFiles(ladder);
  const generated = generateAll(ladder);
  const { differing, stray } = compareWithTree(ladder, generated);
  if (values.check) {
    if (differing.length + stray.length === 0) {
      console.log(`generate --check: chapters/, docs/diffs/ and workshop/ are what ladder/ generates (${generated.size} files)`);
      return 0;
    }
    for (const path of differing) console.error(`differs from ladder/: ${path}`);
    for (const path of stray) console.error(`not generated by ladder/: ${path}`);
    console.error('generated files are edited in ladder/source, then written with `npm run generate` (docs/MAINTAINING.md)');
    return 1;
  }
  for (const path of differing) {
    mkdirSync(dirname(join(PROJECT_ROOT, path)), { recursive: true });
    writeFileSync(join(PROJECT_ROOT, path), generated.get(path)!);
    console.log(`wrote ${path}`);
  }
  for (const path of stray) {
    if (path.endsWith('/')) console.warn(`left alone: ${path} is not in ladder/chapters.json; delete it if it is an old chapter`);
    else {
      rmSync(join(PROJECT_ROOT, path));
      console.log(`removed ${path}`);
    }
  }
  if (differing.length + stray.length === 0) console.log(`nothing to do: ${generated.size} files are current`);
  return 0;
}

if (process.argv[1]?.endsWith('generate.ts')) {
  try {
    process.exitCode = main();
  } catch (err) {
    console.error(`generate: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
