/** The learner's path, `./nutshell NN …` (scripts/chapter.mjs and scripts/compiled.mjs): every
 *  Node process of a chapter starts as plain `node` on a cached bundle, an edit to any .ts file
 *  counts on the next run, and a file that does not compile says so in one line. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { CHAPTERS_DIR } from '../scripts/chapters.ts';
import { engineFor, ROOTFS, run, tempDir } from './helpers/chapter.ts';

const NUTSHELL = join(PROJECT_ROOT, 'nutshell');
const BUNDLE = /\/build\/js\/[0-9a-f]{24}\/main\.js$/;

/** A copy of chapter 02 in a temp dir, laid out as in the project (its `../../lib` imports
 *  resolve), as a learner's copy is. Returns its main.ts. */
function copyOfChapter02(): string {
  const dir = tempDir('nutshell-compiled-');
  cpSync(join(CHAPTERS_DIR, '02-namespaces'), join(dir, 'chapters', '02-namespaces'), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, 'lib'), join(dir, 'lib'));
  return join(dir, 'chapters', '02-namespaces', 'main.ts');
}

function nutshell(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(NUTSHELL, args, { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The bundle the cache's index names for a program. */
function bundleOf(program: string): string {
  const indexes = join(PROJECT_ROOT, 'build', 'js', 'index');
  for (const name of readdirSync(indexes)) {
    const index = JSON.parse(readFileSync(join(indexes, name), 'utf8')) as { entry: string; output: string };
    if (index.entry === program) return index.output;
  }
  throw new Error(`no index for ${program}`);
}

test('./nutshell runs a chapter by number and a copy by its main.ts, and an edit counts on the next run', () => {
  const byNumber = nutshell(['02', 'run', ROOTFS, '/bin/echo', 'hello']);
  assert.equal(byNumber.code, 0, byNumber.stderr);
  assert.equal(byNumber.stdout, 'hello\n');

  const program = copyOfChapter02();
  const first = nutshell([program, 'nosuchverb']);
  assert.notEqual(first.code, 0);
  assert.match(first.stderr, /unknown verb|usage/i);
  const before = bundleOf(program);
  assert.match(before, BUNDLE);

  // An edit to a file main.ts imports, not main.ts itself.
  const container = join(program, '..', 'container.ts');
  writeFileSync(container, `${readFileSync(container, 'utf8')}\nprocess.stderr.write('edited by the test\\n');\n`);
  const second = nutshell([program, 'nosuchverb']);
  assert.match(second.stderr, /^edited by the test$/m, 'the edit took effect without a build step');
  const after = bundleOf(program);
  assert.notEqual(after, before, 'a new bundle, named by its new contents');
  assert.equal(nutshell([program, 'nosuchverb']).stderr, second.stderr);
  assert.equal(bundleOf(program), after, 'no change, no new bundle');
});

test('a chapter that does not compile: one line naming the file, line and column, exit 2', () => {
  const program = copyOfChapter02();
  const units = join(program, '..', 'syscalls.ts');
  writeFileSync(units, `${readFileSync(units, 'utf8')}\nexport const broken = (;\n`);
  const r = nutshell([program, 'run', ROOTFS, '/bin/true']);
  assert.equal(r.code, 2);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^nutshell: cannot compile .*main\.ts: .*syscalls\.ts:\d+:\d+: /);
});

test('several first runs at once of a new copy all run, from one bundle', async () => {
  const program = copyOfChapter02();
  const runs = await Promise.all(Array.from({ length: 4 }, () => new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(NUTSHELL, [program, 'run', ROOTFS, '/bin/echo', 'ok'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.on('close', (code) => resolve({ code, stdout }));
  })));
  for (const r of runs) assert.deepEqual(r, { code: 0, stdout: 'ok\n' });
  assert.match(bundleOf(program), BUNDLE);
});

test('no Node process of a container carries a TypeScript loader: the child stage and the monitor run the bundle with plain node', async () => {
  const traced = await run('02', ['--trace', 'run', ROOTFS, '/bin/true']);
  assert.equal(traced.code, 0, traced.stderr);
  const spawnLine = traced.stderr.split('\n').find((line) => line.includes('__init'));
  assert.match(spawnLine ?? '', /spawn \S*node \S+\/build\/js\/[0-9a-f]{24}\/main\.js __init/);

  const engine = engineFor('06');
  const started = await engine.runContainer(['-d', '--name', 'loader-check'], ROOTFS, ['sleep', '30']);
  assert.equal(started.code, 0, started.stderr);
  try {
    let monitor: string[] | undefined;
    for (let i = 0; i < 50 && !monitor; i++, await sleep(100)) {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
          if (argv.includes('__monitor') && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`NUTSHELL_ROOT=${engine.root}\0`)) monitor = argv;
        } catch {
          // the process ended
        }
      }
    }
    assert.ok(monitor, 'the monitor of the detached container is running');
    assert.equal(monitor.length, 4, monitor.join(' '));
    assert.match(monitor[1]!, BUNDLE, 'node runs the bundle itself, no --import');
  } finally {
    await run('06', ['rm', '-f', 'loader-check'], { env: engine.env });
  }
});
