// @ts-check
/** Tooling: run a chapter's TypeScript as plain JavaScript, with no build step to remember.
 *
 *  A TypeScript loader such as tsx costs about 250 ms each time Node starts, and a chapter
 *  starts Node twice or three times per container (the engine, the child stage, a monitor).
 *  So instead each program is bundled once with esbuild (which tsx already brings) into one
 *  JavaScript file under build/js/, and every later start is plain `node`. The file's name
 *  comes from the hash of its contents, so a process never sees it change under it; a small
 *  index per program lists the sources that went into it with their hashes. Before each run the
 *  sources are hashed again (about a millisecond): a learner's edit to any of them makes a new
 *  bundle on the next run.
 *
 *  This file is JavaScript because it is what lets the rest start without a TypeScript loader.
 *  Stack traces: with NUTSHELL_DEBUG=1 Node maps them back to the .ts lines (source maps),
 *  in this process and in the ones it starts. */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from './project.mjs';

/** Under the project, so that a bundle's `import 'koffi'` finds the project's node_modules. */
export const CACHE_DIR = join(PROJECT_ROOT, 'build', 'js');

/** @param {string | Buffer} data */
const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/**
 * @typedef {{ entry: string, inputs: Record<string, string>, output: string }} CacheIndex
 *   entry: the program's .ts file; inputs: the absolute path of each source → the sha256 of its
 *   contents; output: the bundle.
 */

/** The index of one program (by the path of its entry file). @param {string} entry */
const indexFile = (entry) => join(CACHE_DIR, 'index', `${sha256(entry).slice(0, 24)}.json`);

/** Write a file whole or not at all: another process may be reading or writing the same name.
 *  @param {string} path @param {string} contents */
function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/** The bundle of `entry` if every source in its index still has the hash it was built from.
 *  @param {string} entry @returns {string | undefined} */
function upToDateBundle(entry) {
  /** @type {CacheIndex} */
  let index;
  try {
    index = JSON.parse(readFileSync(indexFile(entry), 'utf8'));
    for (const [source, hash] of Object.entries(index.inputs)) if (sha256(readFileSync(source)) !== hash) return undefined;
    if (!existsSync(index.output)) return undefined; // removed by hand (it is written last)
  } catch {
    return undefined; // no index yet, a source gone, or a cache removed by hand: build again
  }
  return index.output;
}

/** Bundle `entry` and its relative imports (packages stay imports of node_modules).
 *  @param {string} entry @returns {string} */
function bundle(entry) {
  /** @type {typeof import('esbuild')} */
  const esbuild = createRequire(import.meta.url)('esbuild');
  const name = basename(entry).replace(/\.ts$/, '.js');
  let result;
  try {
    result = esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      keepNames: true, // class and function names stay what the source says (errors print them)
      sourcemap: 'linked',
      metafile: true,
      write: false,
      outfile: join(CACHE_DIR, 'out', name), // a placeholder: the real directory is named below
      absWorkingDir: PROJECT_ROOT,
      logLevel: 'silent',
    });
  } catch (err) {
    const first = /** @type {{ errors?: import('esbuild').Message[] }} */ (err).errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}: ` : '';
    throw new Error(`cannot compile ${relative(process.cwd(), entry)}: ${where}${first?.text ?? String(err)}`);
  }
  const code = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!code || !map || !result.metafile) throw new Error(`cannot compile ${entry}: esbuild wrote no bundle`);
  // Named by what it holds: a running engine re-executes its own file for the child stage,
  // and must get the same code even if the learner has saved an edit in between.
  const output = join(CACHE_DIR, sha256(code.text + map.text).slice(0, 24), name);
  writeAtomically(`${output}.map`, map.text);
  writeAtomically(output, code.text);
  /** @type {CacheIndex} */
  const index = { entry, inputs: {}, output };
  for (const source of Object.keys(result.metafile.inputs)) {
    const path = resolve(PROJECT_ROOT, source);
    index.inputs[path] = sha256(readFileSync(path));
  }
  writeAtomically(indexFile(entry), `${JSON.stringify(index, null, 1)}\n`);
  pruneCache();
  return output;
}

/** A bundle no index points to any more is removed once it is an hour old: a process started
 *  from it may still re-execute it (a child stage, a monitor) in the meantime. An index goes
 *  with its program (a learner's or a test's copy that was removed). */
function pruneCache() {
  const anHourAgo = Date.now() - 3600_000;
  const kept = new Set();
  for (const name of readdirSync(join(CACHE_DIR, 'index'))) {
    const file = join(CACHE_DIR, 'index', name);
    try {
      /** @type {CacheIndex} */
      const index = JSON.parse(readFileSync(file, 'utf8'));
      if (existsSync(index.entry)) kept.add(dirname(index.output));
      else rmSync(file, { force: true });
    } catch {
      // being written by another process (it is renamed into place whole), or just removed
    }
  }
  for (const name of readdirSync(CACHE_DIR)) {
    const dir = join(CACHE_DIR, name);
    if (name === 'index' || kept.has(dir)) continue;
    try {
      if (statSync(dir).mtimeMs < anHourAgo) rmSync(dir, { recursive: true, force: true });
    } catch {
      // removed by another process meanwhile
    }
  }
}

/** The JavaScript to run for a TypeScript program: its cached bundle, made again when any of
 *  its sources changed. Throws one line (file:line:column: message) when it does not compile.
 *  @param {string} entry a .ts file @returns {string} */
export function compiledProgram(entry) {
  const absolute = resolve(entry);
  return upToDateBundle(absolute) ?? bundle(absolute);
}

/** Source maps for the stack traces of this process and of those it starts (a child stage
 *  runs its bundle directly): only with NUTSHELL_DEBUG=1, since reading a map costs start time. */
export function mapStackTracesWhenDebugging() {
  if (process.env.NUTSHELL_DEBUG !== '1') return;
  process.setSourceMapsEnabled(true);
  if (!process.env.NODE_OPTIONS?.includes('--enable-source-maps')) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --enable-source-maps`.trim();
  }
}
