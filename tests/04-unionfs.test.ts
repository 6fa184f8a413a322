/** Chapter 04 · union filesystems, through the command line: the container writes into its
 *  upper dir only, `diff` and `commit` describe what it changed, containers on the same layers
 *  do not see each other, and no mount or directory is left behind. What still holds in later
 *  chapters is tested there too, on layers made into an image. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { assertOneLineError, copyOfRootfs, engineFor, run, tempDir } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

/** Two layers: the busybox rootfs at the bottom, and a small one on top with files to change. */
const bottom = copyOfRootfs();
const top = join(tempDir(), 'top');
mkdirSync(join(top, 'srv', 'data'), { recursive: true });
writeFileSync(join(top, 'srv', 'data', 'keep.txt'), 'keep\n');
writeFileSync(join(top, 'srv', 'data', 'edit.txt'), 'original\n');
writeFileSync(join(top, 'srv', 'data', 'move.txt'), 'move me\n');
const LAYERS = [bottom, top];

/** Every path under `dir` with its type, mode, owner and content hash (or link target). */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    const st = lstatSync(path);
    const what = st.isSymbolicLink() ? `-> ${readlinkSync(path)}`
      : st.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex')
      : st.isDirectory() ? 'dir' : `dev ${st.rdev}`;
    out.push(`${relative(dir, path) || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${what}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name));
  };
  walk(dir);
  return out;
}

const CHANGE_EVERYTHING = [
  'echo new > /srv/data/new.txt',
  'echo changed >> /srv/data/edit.txt',
  'mv /srv/data/move.txt /srv/data/moved.txt',
  'rm /etc/os-release',
  'rm -rf /usr/sbin',
  'chmod 600 /srv/data/keep.txt',
].join(' && ');

/** Wait for a started container to print its first line. */
const started = (box: { stdout: NodeJS.ReadableStream | null }) => new Promise((resolve) => box.stdout!.once('data', resolve));

for (const ch of chaptersFrom('04')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('writes, deletions and renames inside leave every layer byte-identical', async () => {
      const layerDirs = await engine.layerDirs(LAYERS);
      const before = layerDirs.map(snapshot);
      const r = await engine.runContainer(['--name', 'writer'], LAYERS, ['sh', '-c', `${CHANGE_EVERYTHING} && ls /srv/data`]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['edit.txt', 'keep.txt', 'moved.txt', 'new.txt']);
      assert.deepEqual(layerDirs.map(snapshot), before);
    });

    test('diff lists A, C and D like docker diff', async () => {
      const r = await run(ch, ['diff', 'writer'], { env });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      for (const expected of ['A /srv/data/new.txt', 'A /srv/data/moved.txt', 'C /srv/data/edit.txt', 'C /srv/data/keep.txt', 'D /srv/data/move.txt', 'D /etc/os-release', 'D /usr/sbin']) {
        assert.ok(lines.includes(expected), `${expected} in:\n${r.stdout}`);
      }
      assert.ok(!lines.some((l) => l.includes('/usr/sbin/')), 'a deleted directory is one D, not one per file');
    });

    test('two containers on the same layers do not see each other\'s writes', async () => {
      const a = await engine.startContainer(['--name', 'twin-a', '--stop-timeout', '0'], LAYERS, ['sh', '-c', 'echo a > /tmp/mine && echo ready && sleep 30']);
      await started(a);
      try {
        const b = await engine.runContainer([], LAYERS, ['sh', '-c', 'cat /tmp/mine 2>&1; echo b > /tmp/mine; cat /tmp/mine']);
        assert.match(b.stdout, /No such file/);
        assert.match(b.stdout, /^b$/m);
        const seenByA = await run(ch, ['exec', 'twin-a', 'cat', '/tmp/mine'], { env });
        assert.equal(seenByA.stdout, 'a\n');
      } finally {
        a.kill('SIGTERM');
        await new Promise((resolve) => a.once('exit', resolve));
      }
    });

    test('rm removes a container\'s directory, and no overlay mount is left on the host', async () => {
      assert.deepEqual(engine.hostMounts(), [], 'the overlay is mounted in the container\'s mount namespace only');
      const before = engine.containerRecords();
      for (const name of ['writer', 'twin-a']) {
        assert.equal((await run(ch, ['rm', name], { env })).code, 0);
      }
      assert.equal(engine.containerRecords().length, before.length - 2);
      assert.deepEqual(engine.hostMounts(), []);
    });

    test('rm refuses a running container and removes it once it has stopped', async () => {
      const records = engine.containerRecords();
      const busy = await engine.startContainer(['--name', 'busy', '--stop-timeout', '0'], LAYERS, ['sh', '-c', 'echo ready; sleep 30']);
      await started(busy);
      try {
        assertOneLineError(await run(ch, ['rm', 'busy'], { env }), /container "busy" is running: stop it first/);
      } finally {
        busy.kill('SIGTERM');
        await new Promise((resolve) => busy.once('exit', resolve));
      }
      assert.equal((await run(ch, ['rm', 'busy'], { env })).code, 0);
      assert.deepEqual(engine.containerRecords(), records);
    });

    // From 05 on the layers come from an image; 128 of them are tested with real tools there.
    if (ch === '04') test('128 layers: run takes them all, each layer\'s file visible', async () => {
      const many = Array.from({ length: 127 }, (_, i) => {
        const dir = join(tempDir(), `layer-${i}-${'x'.repeat(60)}`);
        mkdirSync(join(dir, 'layers'), { recursive: true });
        writeFileSync(join(dir, 'layers', `${i}`), '');
        return dir;
      });
      const r = await engine.runContainer([], [bottom, ...many], ['sh', '-c', 'ls /layers | wc -l']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), '127');
    });

    test('bad input: one line on stderr and a non-zero exit', async () => {
      for (const verb of ['diff', 'rm']) assertOneLineError(await run(ch, [verb, 'ghost'], { env }), /no container named "ghost"/);
    });
  });
}

// Chapters 04 and 05: a named container is continued by the next `run --name`, an unnamed one
// is removed when it exits, and commit writes a layer tar. From chapter 06 on a name is taken
// until `rm`, every container stays until `rm`, and (from 08) commit makes an image.
for (const ch of chaptersFrom('04', '05')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('a named container keeps its writes and deletions across runs; an unnamed one leaves nothing', async () => {
      const first = await engine.runContainer(['--name', 'writer'], LAYERS, ['sh', '-c', CHANGE_EVERYTHING]);
      assert.equal(first.code, 0, first.stderr);
      const again = await engine.runContainer(['--name', 'writer'], LAYERS, ['sh', '-c', 'cat /srv/data/new.txt; ls /etc/os-release']);
      assert.equal(again.stdout, 'new\n', 'a named container keeps its writes across runs');
      assert.notEqual(again.code, 0, 'and its deletions');
      assert.equal((await engine.runContainer([], LAYERS, ['touch', '/unnamed'])).code, 0);
      assert.deepEqual(engine.containerRecords(), ['writer'], 'the unnamed container\'s directory went when it exited');
    });

    test('commit writes a layer whose whiteouts, applied with GNU tar, rebuild what the container saw', async () => {
      const out = join(tempDir(), 'layer.tar');
      const r = await run(ch, ['commit', 'writer', out], { env });
      assert.equal(r.code, 0, r.stderr);
      const digest = `sha256:${createHash('sha256').update(readFileSync(out)).digest('hex')}`;
      assert.equal(r.stdout.trim(), digest, 'commit prints the diff id of the tar');
      const entries = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).trim().split('\n');
      assert.ok(entries.includes('etc/.wh.os-release') && entries.includes('usr/.wh.sbin') && entries.includes('srv/data/.wh.move.txt'), entries.join(' '));

      // Apply the layers the way an image tool does: extract in order, honouring whiteouts.
      const applied = join(tempDir(), 'applied');
      mkdirSync(applied);
      execFileSync('tar', ['-C', bottom, '-cf', join(applied, '..', 'bottom.tar'), '.']);
      execFileSync('tar', ['-C', top, '-cf', join(applied, '..', 'top.tar'), '.']);
      for (const layer of [join(applied, '..', 'bottom.tar'), join(applied, '..', 'top.tar'), out]) {
        const names = execFileSync('tar', ['-tf', layer], { encoding: 'utf8' }).trim().split('\n');
        for (const name of names.filter((n) => n.split('/').pop()!.startsWith('.wh.'))) {
          rmSync(join(applied, name.replace(/\.wh\.([^/]+)$/, '$1')), { recursive: true, force: true });
        }
        execFileSync('tar', ['-C', applied, '-xpf', layer, '--exclude=.wh.*']);
      }
      const inside = await engine.runContainer(['--name', 'writer'], LAYERS, ['sh', '-c', 'cd / && find etc srv usr | sort && md5sum srv/data/*']);
      const onHost = execFileSync('sh', ['-c', 'cd "$1" && find etc srv usr | sort && md5sum srv/data/*', 'sh', applied], { encoding: 'utf8' });
      assert.equal(inside.stdout, onHost);
      assert.equal((await run(ch, ['rm', 'writer'], { env })).code, 0);
    });
  });
}

// Chapter 04 only: from chapter 05 on a container runs on an image, not on --layer directories.
for (const ch of chaptersFrom('04', '04')) {
  describe(`chapter ${ch}`, () => {
    const env = engineFor(ch).env;

    test('bad input: a missing layer, no layer, or committing a ghost is one line', async () => {
      assertOneLineError(await run(ch, ['run', '--layer', '/no/such/layer', 'true'], { env }), /layer not found: \/no\/such\/layer/);
      assertOneLineError(await run(ch, ['run', 'true'], { env }), /usage: run .*--layer <dir>/);
      assertOneLineError(await run(ch, ['commit', 'ghost', join(tempDir(), 'x.tar')], { env }), /no container named "ghost"/);
    });
  });
}
