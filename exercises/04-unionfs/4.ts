/** Exercise 04-4: `apply <layer.tar> <dir>` extracts a layer onto a directory, honouring the
 *  whiteouts. The layer that commit made, applied on a copy of the container's layers, must
 *  give the tree the container saw. */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

const CHANGES = 'echo changed >> /srv/hello.txt; echo new > /srv/new.txt; rm /etc/os-release; rm -rf /srv/cache; mkdir /srv/cache; echo c > /srv/cache/c';
const LOOK = 'find /srv /etc | sort; cat /srv/hello.txt';

export default defineExercise({
  title: 'apply',
  async check(copy) {
    const app = copy.scratch('nutshell-exercise-app-');
    mkdirSync(join(app, 'srv', 'cache'), { recursive: true });
    writeFileSync(join(app, 'srv', 'hello.txt'), 'hello from the app layer\n');
    writeFileSync(join(app, 'srv', 'cache', 'a'), 'a\n');
    writeFileSync(join(app, 'srv', 'cache', 'b'), 'b\n');
    const layers = ['--layer', ROOTFS, '--layer', app];
    const changed = await copy.run(['run', '--name', 'box', ...layers, 'sh', '-c', CHANGES], { timeout: 30_000 });
    if (changed.code !== 0) notYet(`run … (the changes) exited with ${changed.code}: ${changed.stderr.trim()}`);
    const seen = await copy.run(['run', '--name', 'box', ...layers, 'sh', '-c', LOOK], { timeout: 30_000 });
    if (seen.code !== 0) notYet(`run … (a look at /srv and /etc) exited with ${seen.code}: ${seen.stderr.trim()}`);
    const layerTar = join(copy.scratch(), 'box.tar');
    const commit = await copy.run(['commit', 'box', layerTar], { timeout: 30_000 });
    if (commit.code !== 0) notYet(`commit exited with ${commit.code}: ${commit.stderr.trim()}`);

    // Copies of both layers, the top one over the bottom one, as the container started on.
    const dir = copy.scratch('nutshell-exercise-applied-');
    for (const layer of [ROOTFS, app]) cpSync(layer, dir, { recursive: true, verbatimSymlinks: true });
    const applied = await copy.run(['apply', layerTar, dir], { timeout: 30_000 });
    if (applied.code !== 0) notYet(`apply box.tar <dir> exited with ${applied.code}: ${applied.stderr.trim()}`);

    const found = execFileSync('find', ['srv', 'etc'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').map((p) => `/${p}`).sort();
    const view = [...found, ...readFileSync(join(dir, 'srv', 'hello.txt'), 'utf8').trim().split('\n')].join('\n');
    const leftover = found.find((p) => p.split('/').pop()!.startsWith('.wh.'));
    if (leftover) notYet(`${leftover} is in the directory: a whiteout was extracted as a file instead of deleting its path`);
    if (view !== seen.stdout.trim()) {
      notYet(`the applied directory differs from what the container saw.\nThe container saw:\n${seen.stdout.trim()}\nThe directory holds:\n${view}`);
    }
    return `box.tar applied on copies of both layers gives what the container saw (${found.length} paths under /srv and /etc, /etc/os-release and /srv/cache/a, b gone)`;
  },
});
