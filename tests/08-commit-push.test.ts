/** Chapter 08 · commit and push: a container's upper dir becomes a new image in the store, and
 *  the image goes up to a real registry (Debian's docker-registry). What went up is read back
 *  with the reference tools (skopeo inspect, skopeo copy + umoci unpack) and pulled and run by
 *  the chapter itself in an empty store. commit.ts and push.ts are called as a library here,
 *  in every chapter from 05 on, each with registries of its own (a push depends on what the
 *  registry already has). Commit of a running container: it is frozen while its upper dir is
 *  read (that the upper dir is read through descriptors is chapter 04's: tests/04-overlay.test.ts). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CGROUP_V2 } from './helpers/cgroups.ts';
import { assertOneLineError, ROOTFS, run, tempDir } from './helpers/chapter.ts';
import { buildTestImage, pushImage as skopeoPush, TEST_IMAGE } from './helpers/images.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';

const layout = buildTestImage(join(tempDir(), 'layout'), 'v1');
const NEW_FILE = 'committed by nutshell\n';
const NEW_CMD = ['cat', '/etc/committed.txt'];

/** What a container would leave in its upper dir: a new file, and overlay's mark (a 0/0
 *  character device) of a deleted lower file, /etc/greeting of the base's layer 2. */
function fakeUpperDir(): string {
  const upper = join(tempDir('nutshell-upper-'), 'upper');
  mkdirSync(join(upper, 'etc'), { recursive: true, mode: 0o755 });
  writeFileSync(join(upper, 'etc/committed.txt'), NEW_FILE);
  execFileSync('mknod', [join(upper, 'etc/greeting'), 'c', '0', '0']);
  return upper;
}

/** Run `work` and return the text it wrote to stdout (pushImage's progress lines). The test
 *  runner reports to its parent through this same stdout, in binary: let that through. */
async function capturingStdout(work: () => Promise<unknown>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await work();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

for (const ch of chaptersFrom('08')) {
  const { commitContainer, tagImage } = await chapterModule<typeof import('../chapters/08-distribution/commit.ts')>(ch, 'commit.ts');
  const { pushImage } = await chapterModule<typeof import('../chapters/08-distribution/push.ts')>(ch, 'push.ts');
  const { Store } = await chapterModule<typeof import('../chapters/08-distribution/store.ts')>(ch, 'store.ts');
  // Started at the top level: the helper stops them in an after() hook of this file.
  const registry: TestRegistry = await startRegistry();
  const secured: TestRegistry = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret' } });
  skopeoPush(layout, 'v1', registry.host, 'test/base');
  const BASE = `${registry.host}/test/base:v1`;
  const COMMITTED = `${registry.host}/test/committed:v1`;

  /** A fresh engine root, with the base image pulled into it by the chapter's CLI. */
  async function storeWithBase(): Promise<{ root: string; env: NodeJS.ProcessEnv }> {
    const root = tempDir('nutshell-root-');
    const env = { ...process.env, NUTSHELL_ROOT: root, NUTSHELL_STATE_DIR: tempDir('nutshell-state-') };
    const pulled = await run(ch, ['--root', root, 'pull', '-q', BASE], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    return { root, env };
  }

  const main = await storeWithBase();
  const store = await Store.open(main.root);
  after(() => store.close());

  describe(`chapter ${ch}`, () => {
    test('commit makes a new image in the store: one layer more, the new config, runnable at once', async () => {
      const base = store.getImage(BASE)!;
      const { name, manifestDigest } = await commitContainer(store, { upperDir: fakeUpperDir(), baseRef: BASE, newRef: COMMITTED, comment: 'add a file', cmd: NEW_CMD });
      assert.equal(name, COMMITTED);
      const image = store.getImage(COMMITTED)!;
      assert.equal(image.manifestDigest, manifestDigest);
      assert.equal(image.layers.length, base.layers.length + 1);
      assert.deepEqual(image.layers.slice(0, -1), base.layers, 'the base layers, unchanged, under ours');

      const config = store.readJSON<{ config: { Cmd: string[]; Env: string[]; WorkingDir: string }; rootfs: { diff_ids: string[] }; history: { created_by?: string; comment?: string }[]; created: string }>(image.configDigest);
      assert.deepEqual(config.rootfs.diff_ids, image.layers);
      assert.deepEqual(config.config.Cmd, NEW_CMD);
      assert.deepEqual(config.config.Env, TEST_IMAGE.env, 'the rest of the base config is kept');
      assert.equal(config.history.at(-1)!.created_by, 'nutshell commit');
      assert.equal(config.history.at(-1)!.comment, 'add a file');
      assert.equal(config.created, image.created);
      assert.ok(Date.now() - Date.parse(config.created) < 60_000, 'created just now');

      const manifest = store.readJSON<{ mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string }[] }>(manifestDigest);
      const baseManifest = store.readJSON<{ layers: { digest: string }[] }>(base.manifestDigest);
      assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
      assert.equal(manifest.config.digest, image.configDigest);
      assert.deepEqual(manifest.layers.slice(0, -1).map((l) => l.digest), baseManifest.layers.map((l) => l.digest));
      assert.equal(manifest.layers.at(-1)!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      assert.ok(store.hasBlob(manifest.layers.at(-1)!.digest), 'the new layer blob is in the store');

      // Unpacked as a lower dir: the file, and the whiteout back as overlay's 0/0 device.
      const layerDir = store.layerPath(image.layers.at(-1)!);
      assert.equal(readFileSync(join(layerDir, 'etc/committed.txt'), 'utf8'), NEW_FILE);
      const mark = lstatSync(join(layerDir, 'etc/greeting'));
      assert.ok(mark.isCharacterDevice() && mark.rdev === 0, 'the whiteout is a 0/0 character device');
      assert.deepEqual(readdirSync(join(main.root, 'tmp')), [], 'nothing left in tmp/');

      // The chapter runs the committed image from this store without pulling anything.
      const r = await run(ch, ['--root', main.root, 'run', COMMITTED, 'sh', '-c', 'cat /etc/committed.txt; cat /srv/data/hello.txt; ls /etc/greeting 2>&1'], { env: main.env });
      assert.equal(r.code, 1, r.stderr);
      const [added, hello, gone] = r.stdout.trim().split('\n');
      assert.equal(`${added}\n`, NEW_FILE);
      assert.equal(`${hello}\n`, TEST_IMAGE.hello);
      assert.match(gone!, /No such file/);
    });

    test('tag gives the same image a second name', async () => {
      const other = `${registry.host}/test/tagged:v2`;
      assert.equal(await tagImage(store, COMMITTED, other), other);
      assert.deepEqual(store.getImage(other), store.getImage(COMMITTED));
      await assert.rejects(tagImage(store, `${registry.host}/no/such:v1`, other), /no image .* in the store/);
    });

    test('a failed commit changes nothing: unknown base, missing upper dir', async () => {
      const before = readFileSync(join(main.root, 'images.json'), 'utf8');
      await assert.rejects(commitContainer(store, { upperDir: fakeUpperDir(), baseRef: 'never/pulled', newRef: 'x/y:z' }), /no image docker\.io\/never\/pulled:latest in the store/);
      await assert.rejects(commitContainer(store, { upperDir: '/nonexistent/upper', baseRef: BASE, newRef: 'x/y:z' }), /upper dir .* not found/);
      assert.equal(readFileSync(join(main.root, 'images.json'), 'utf8'), before);
      assert.deepEqual(readdirSync(join(main.root, 'tmp')), []);
    });

    test('import of the same directory twice on one store: the second finds the layer there and ends cleanly', async () => {
      // The second import makes the same gzip, whose blob the store has: putBlob then drops the
      // file stream unread, and commit removes its work dir. A stream still opening then failed
      // with ENOENT …/layer.tar.gz, and the engine died of the unhandled error with a stack trace.
      const root = tempDir('nutshell-root-');
      const env = { ...process.env, NUTSHELL_ROOT: root, NUTSHELL_STATE_DIR: tempDir('nutshell-state-') };
      for (let i = 0; i < 3; i++) {
        const imported = await run(ch, ['import', ROOTFS, 'demo/x'], { env });
        assert.deepEqual([imported.code, imported.stderr, imported.stdout], [0, '', 'docker.io/demo/x:latest\n'], `import number ${i + 1}`);
      }
      assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'nothing left in tmp/');
      assert.equal(readdirSync(join(root, 'layers', 'sha256')).length, 1, 'one layer, stored once');
    });

    test('commit freezes the container before it reads the upper dir, and thaws it after, also when the read fails', async () => {
      // The freeze and thaw hooks write files: what the layer holds says when the upper dir was read.
      const upper = fakeUpperDir();
      const calls: string[] = [];
      const pause = {
        freeze: () => (calls.push('freeze'), writeFileSync(join(upper, 'etc/at-freeze'), 'x')),
        thaw: () => (calls.push('thaw'), writeFileSync(join(upper, 'etc/at-thaw'), 'x')),
      };
      const { name } = await commitContainer(store, { upperDir: upper, baseRef: BASE, newRef: 'nutshell-test/paused:v1', pause });
      assert.deepEqual(calls, ['freeze', 'thaw']);
      const layer = store.layerPath(store.getImage(name)!.layers.at(-1)!);
      assert.ok(existsSync(join(layer, 'etc/at-freeze')), 'read after freeze()');
      assert.ok(!existsSync(join(layer, 'etc/at-thaw')), 'read before thaw()');

      // A read that fails (here: the upper dir is gone once the container is frozen).
      const before = readFileSync(join(main.root, 'images.json'), 'utf8');
      const doomed = fakeUpperDir();
      const failing = { freeze: () => (calls.push('freeze'), rmSync(doomed, { recursive: true })), thaw: () => calls.push('thaw') };
      await assert.rejects(commitContainer(store, { upperDir: doomed, baseRef: BASE, newRef: 'x/y:z', pause: failing }), /ENOENT/);
      assert.deepEqual(calls, ['freeze', 'thaw', 'freeze', 'thaw'], 'a failed commit never leaves the container frozen');
      assert.equal(readFileSync(join(main.root, 'images.json'), 'utf8'), before);
      assert.deepEqual(readdirSync(join(main.root, 'tmp')), []);
    });

    test('commit of a running container freezes it while its upper dir is read; --pause=false does not', async () => {
      const env = main.env;
      const started = await run(ch, ['run', '-d', '--name', 'pausable', '--cpus', '0.2', BASE, 'sh', '-c', 'head -c 64000000 /dev/zero > /big; while :; do :; done'], { env });
      assert.equal(started.code, 0, started.stderr);
      try {
        const { dir, state } = JSON.parse((await run(ch, ['inspect', 'pausable'], { env })).stdout) as { dir: string; state: { pid: number; cgroupId: string } };
        while (statSync(join(dir, 'upper/big'), { throwIfNoEntry: false })?.size !== 64_000_000) await sleep(50);
        const frozen = CGROUP_V2
          ? () => /^frozen 1$/m.test(readFileSync(`/sys/fs/cgroup/nutshell/${state.cgroupId}/cgroup.events`, 'utf8'))
          : () => readFileSync(`/sys/fs/cgroup/freezer/nutshell/${state.cgroupId}/freezer.state`, 'utf8').trim() === 'FROZEN';
        /** Commit, looking at the freezer every few ms meanwhile: was the container ever frozen? */
        const commitWatching = async (args: string[]) => {
          const committing = run(ch, ['commit', ...args, 'pausable', 'nutshell-test/pausable:v1'], { env });
          let done = false;
          void committing.finally(() => (done = true));
          let sawFrozen = false;
          while (!done) {
            sawFrozen ||= frozen();
            await sleep(2);
          }
          const r = await committing;
          assert.equal(r.code, 0, r.stderr);
          return sawFrozen;
        };
        assert.equal(await commitWatching([]), true, 'frozen while commit ran');
        assert.equal(frozen(), false, 'thawed after');
        const ticks = () => readFileSync(`/proc/${state.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0);
        const before = ticks();
        await sleep(500);
        assert.ok(ticks() > before, 'the container runs on');
        assert.equal(await commitWatching(['--pause=false']), false, '--pause=false never froze it');
        assertOneLineError(await run(ch, ['commit', '--pause=no', 'pausable', 'x/y:z'], { env }), /invalid --pause "no"/);
      } finally {
        await run(ch, ['rm', '-f', 'pausable'], { env });
      }
    });

    test('a container left frozen (its commit was killed half-way) still ends on rm -f', async () => {
      const env = main.env;
      const started = await run(ch, ['run', '-d', '--name', 'left-frozen', BASE, 'sh', '-c', 'trap "" TERM; while :; do sleep 1; done'], { env });
      assert.equal(started.code, 0, started.stderr);
      const { state } = JSON.parse((await run(ch, ['inspect', 'left-frozen'], { env })).stdout) as { state: { pid: number; cgroupId: string } };
      // What a commit does first, as a commit whose engine was then killed would leave it.
      if (CGROUP_V2) writeFileSync(`/sys/fs/cgroup/nutshell/${state.cgroupId}/cgroup.freeze`, '1');
      else writeFileSync(`/sys/fs/cgroup/freezer/nutshell/${state.cgroupId}/freezer.state`, 'FROZEN');
      const removed = await run(ch, ['rm', '-f', 'left-frozen'], { env });
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(existsSync(`/proc/${state.pid}`), false, 'the container\'s PID 1 is gone');
      assert.doesNotMatch((await run(ch, ['ps', '-a'], { env })).stdout, /left-frozen/);
    });

    test('push sends the committed image: base layers mounted, ours and the config pushed', async () => {
      const image = store.getImage(COMMITTED)!;
      let digest = '';
      const out = await capturingStdout(async () => ({ digest } = await pushImage(store, COMMITTED, {})));
      assert.equal(digest, image.manifestDigest, 'the registry got the exact manifest bytes');
      const manifest = store.readJSON<{ layers: { digest: string }[]; config: { digest: string } }>(image.manifestDigest);
      const expected = [
        ...manifest.layers.slice(0, -1).map((l) => `${l.digest.slice(7, 19)}: mounted`),
        `${manifest.layers.at(-1)!.digest.slice(7, 19)}: pushed`,
        `${manifest.config.digest.slice(7, 19)}: pushed`,
      ];
      assert.deepEqual(out.trimEnd().split('\n'), expected);

      // (a) skopeo reads it back: four layers, our Cmd, our manifest digest.
      const inspect = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${COMMITTED}`]));
      assert.equal(inspect.Layers.length, 4);
      assert.equal(inspect.Digest, image.manifestDigest);
      assert.deepEqual(inspect.Env, TEST_IMAGE.env);
      const config = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--config', `docker://${COMMITTED}`]));
      assert.deepEqual(config.config.Cmd, NEW_CMD);
      assert.equal(config.history.at(-1).created_by, 'nutshell commit');

      // (b) skopeo copies it into an OCI layout and umoci unpacks it: the rootfs has our file,
      // and neither the file our whiteout deleted nor the one the base's own whiteout did.
      const dir = tempDir('nutshell-oci-');
      skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${COMMITTED}`, `oci:${join(dir, 'layout')}:v1`]);
      execFileSync('umoci', ['unpack', '--image', `${join(dir, 'layout')}:v1`, join(dir, 'bundle')], { stdio: 'pipe' });
      const rootfs = join(dir, 'bundle', 'rootfs');
      assert.equal(readFileSync(join(rootfs, 'etc/committed.txt'), 'utf8'), NEW_FILE);
      assert.ok(!existsSync(join(rootfs, 'etc/greeting')), 'whited out by our layer');
      assert.ok(!existsSync(join(rootfs, 'etc/doomed')), 'whited out by the base image');
      assert.equal(readFileSync(join(rootfs, 'srv/data/hello.txt'), 'utf8'), TEST_IMAGE.hello);

      // (c) the chapter pulls it into an empty store and runs its new Cmd.
      const root = tempDir('nutshell-root-');
      const env = { ...process.env, NUTSHELL_ROOT: root, NUTSHELL_STATE_DIR: tempDir('nutshell-state-') };
      const r = await run(ch, ['--root', root, 'run', COMMITTED], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, NEW_FILE);
      const gone = await run(ch, ['--root', root, 'run', COMMITTED, 'ls', '/etc/greeting'], { env });
      assert.notEqual(gone.code, 0, 'the whited-out file is gone in the pulled image too');
    });

    test('a second push finds every blob already there; quiet prints nothing', async () => {
      const out = await capturingStdout(() => pushImage(store, COMMITTED, {}));
      const lines = out.trimEnd().split('\n');
      assert.equal(lines.length, 5, out);
      for (const line of lines) assert.match(line, /^[0-9a-f]{12}: already exists$/);
      assert.equal(await capturingStdout(() => pushImage(store, COMMITTED, { quiet: true })), '');
    });

    test('a registry with Basic auth: push works with credentials, one clear line without', async () => {
      const ref = `${secured.host}/private/committed:v1`;
      await tagImage(store, COMMITTED, ref);
      const noCredentials = await pushImage(store, ref, { quiet: true }).then(() => undefined, (err: Error) => err);
      assert.ok(noCredentials instanceof Error, 'the push without credentials failed');
      assert.match(noCredentials.message, /credentials/);
      assert.doesNotMatch(noCredentials.message, /\n/, 'one line');
      const { digest } = await pushImage(store, ref, { quiet: true, username: 'alice', password: 's3cret' });
      assert.equal(digest, store.getImage(ref)!.manifestDigest);
      const inspect = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--creds', 'alice:s3cret', `docker://${ref}`]));
      assert.equal(inspect.Layers.length, 4);
    });

    test('pushing an unknown image, or one whose blob the store lacks, is one clear error', async () => {
      await assert.rejects(pushImage(store, `${registry.host}/never/committed:v1`, { quiet: true }), /no image 127\.0\.0\.1:\d+\/never\/committed:v1 in the store/);
      // A store of its own: delete a layer blob (as when a pull reused another image's unpacked layer).
      const other = await storeWithBase();
      const otherStore = await Store.open(other.root);
      try {
        const manifest = otherStore.readJSON<{ layers: { digest: string }[] }>(otherStore.getImage(BASE)!.manifestDigest);
        const lost = manifest.layers[0]!.digest;
        rmSync(otherStore.blobPath(lost));
        await assert.rejects(pushImage(otherStore, `${registry.host}/test/base:v1`, { quiet: true }), (err: Error) => {
          assert.match(err.message, new RegExp(`cannot push .*no blob ${lost}`));
          assert.doesNotMatch(err.message, /\n/);
          return true;
        });
      } finally {
        otherStore.close();
      }
    });

    test('commit a changed container, push it, pull it back into an empty store and run it', async () => {
      const changed = await run(ch, ['run', '--name', 'changer', BASE, 'sh', '-c', 'echo committed > /srv/data/new.txt && rm /etc/greeting'], { env: main.env });
      assert.equal(changed.code, 0, changed.stderr);
      const target = `${registry.host}/test/committed:v2`;
      const committed = await run(ch, ['commit', '-m', 'a test commit', 'changer', target], { env: main.env });
      assert.equal(committed.code, 0, committed.stderr);
      const pushed = await run(ch, ['push', target], { env: main.env });
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stdout, /digest: sha256:[0-9a-f]{64}/);
      const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`], { encoding: 'utf8' }));
      assert.equal(inspect.Layers.length, 4, 'three layers of the base and the committed one');
      const fresh = { ...process.env, NUTSHELL_ROOT: tempDir('nutshell-root-') };
      const back = await run(ch, ['run', '--rm', target, 'sh', '-c', 'cat /srv/data/new.txt; ls /etc/greeting 2>&1'], { env: fresh });
      assert.match(back.stdout, /^committed\n.*No such file/s, back.stderr);
      assertOneLineError(await run(ch, ['push', `${registry.host}/never/made:v1`], { env: main.env }), /no image .* in the store/);
      assert.equal((await run(ch, ['rm', 'changer'], { env: main.env })).code, 0);
    });

  });
}
