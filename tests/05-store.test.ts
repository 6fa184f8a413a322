/** Chapter 05 · the image store: blobs are kept only when they hash to their name; layers are
 *  unpacked once, verified, and shared; removing an image keeps what another still uses; a
 *  killed engine leaves nothing the next one trips on; two engines do not lose each other's
 *  writes. Layers are made with GNU tar, the reference archiver. store.ts is tested in every
 *  chapter from 05 on. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { ImageRecord, Store } from '../chapters/05-images/store.ts';
import { UserError } from '../lib/errors.ts';
import { tempDir } from './helpers/chapter.ts';
import { chapterModule, chapterModuleUrl, chaptersFrom } from './helpers/ladder.ts';

const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REPO = fileURLToPath(new URL('..', import.meta.url));

function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A layer tar made by GNU tar from `files`, reproducibly (fixed owner, mtime, order). */
function layerTar(files: Record<string, string>): Buffer {
  const dir = tempDir('nutshell-layer-src-');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const flags = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner'];
  return execFileSync('tar', ['-C', dir, ...flags, '-cf', '-', ...Object.keys(files)]);
}

/** Pull an image by hand: put its layers, unpack them, store config and manifest, save. */
async function addImage(store: Store, ref: string, tars: Buffer[]): Promise<ImageRecord> {
  const layers = [];
  for (const tar of tars) {
    const blob = gzipSync(tar);
    const digest = sha256(blob);
    await store.putBlob(digest, Readable.from([blob]), blob.length);
    await store.unpackLayer(digest, OCI_GZIP, sha256(tar));
    layers.push({ mediaType: OCI_GZIP, digest, size: blob.length });
  }
  const diffIds = tars.map((tar) => sha256(tar));
  const configDigest = store.putBytes(JSON.stringify({ ref, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const manifest = { schemaVersion: 2, config: { digest: configDigest }, layers };
  const record: ImageRecord = {
    manifestDigest: store.putBytes(JSON.stringify(manifest)),
    configDigest,
    layers: diffIds,
    created: new Date(0).toISOString(),
    size: layers.reduce((sum, layer) => sum + layer.size, 0),
  };
  await store.saveImage(ref, record);
  return record;
}

const list = (dir: string) => readdirSync(dir).sort();

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  return new Promise((done) => child.on('close', (code, signal) => done({ code, signal, stderr })));
}

for (const ch of chaptersFrom('05')) {
  const { Store } = await chapterModule<typeof import('../chapters/05-images/store.ts')>(ch, 'store.ts');

  async function openStore(root = join(tempDir(), 'store')): Promise<Store> {
    const store = await Store.open(root);
    after(() => store.close());
    return store;
  }

  /** Run TypeScript in another Node process, as a second engine would. */
  function engine(code: string): ChildProcess {
    const script = `import { Store } from ${JSON.stringify(chapterModuleUrl(ch, 'store.ts'))};\n${code}`;
    return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  describe(`chapter ${ch}`, () => {
    test('putBlob keeps a blob only if it hashes to its digest; a mismatch leaves nothing', async () => {
      const store = await openStore();
      const good = Buffer.from('{"hello":"world"}');
      const path = await store.putBlob(sha256(good), Readable.from([good]), good.length);
      assert.equal(readFileSync(path, 'utf8'), '{"hello":"world"}');
      assert.ok(store.hasBlob(sha256(good)));
      assert.deepEqual(store.readJSON(sha256(good)), { hello: 'world' });

      const claimed = sha256('what the manifest promised');
      await assert.rejects(store.putBlob(claimed, Readable.from([good])), /content hashes to sha256:.* not kept/);
      await assert.rejects(store.putBlob(claimed, Readable.from([good]), 3), /more than the 3 bytes announced/);
      await assert.rejects(store.putBlob(claimed, Readable.from([good]), 1000), /got 17 bytes, 1000 announced/);
      assert.ok(!store.hasBlob(claimed));
      assert.deepEqual(list(join(store.root, 'blobs/sha256')), [sha256(good).slice(7)], 'only the good blob');
      assert.deepEqual(list(join(store.root, 'tmp')), [], 'no partial download left');
    });

    test('digests are checked before they become paths', async () => {
      const store = await openStore();
      assert.throws(() => store.blobPath('sha256:../../../etc/passwd'), /invalid digest "sha256:\.\.\/\.\.\/\.\.\/etc\/passwd"/);
      await assert.rejects(store.putBlob('sha256:../x', Readable.from([Buffer.from('x')])), UserError);
      assert.throws(() => store.layerPath('md5:d41d8cd98f00b204e9800998ecf8427e'), /invalid digest/);
    });

    test('putBytes stores content under its sha256; readBlob notices a damaged blob', async () => {
      const store = await openStore();
      const digest = store.putBytes('{"schemaVersion":2}');
      assert.equal(digest, sha256('{"schemaVersion":2}'));
      assert.equal(store.putBytes('{"schemaVersion":2}'), digest, 'same content, same name');
      writeFileSync(store.blobPath(digest), '{"schemaVersion":3}');
      assert.throws(() => store.readBlob(digest), /is damaged: it hashes to sha256:/);
      assert.throws(() => store.readBlob(sha256('absent')), /is not in the store/);
    });

    test('unpackLayer unpacks once, verifies the diff id, and reuses the directory', async () => {
      const store = await openStore();
      const tar = layerTar({ 'hello.txt': 'hello\n' });
      const blob = gzipSync(tar);
      await store.putBlob(sha256(blob), Readable.from([blob]));

      await assert.rejects(
        store.unpackLayer(sha256(blob), OCI_GZIP, sha256('another layer')),
        /layer sha256:[0-9a-f]{12}: its content has diff id sha256:\w+, but the image config says sha256:/,
      );
      assert.deepEqual(list(join(store.root, 'layers/sha256')), [], 'nothing kept for a wrong diff id');
      assert.deepEqual(list(join(store.root, 'tmp')), [], 'the half-unpacked directory is gone');

      const dir = await store.unpackLayer(sha256(blob), OCI_GZIP, sha256(tar));
      assert.equal(dir, join(store.root, 'layers/sha256', sha256(tar).slice(7)));
      assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'hello\n');
      assert.equal(statSync(dir).mode & 0o777, 0o755);
      writeFileSync(join(dir, 'marker'), '');
      assert.equal(await store.unpackLayer(sha256(blob), OCI_GZIP, sha256(tar)), dir);
      assert.ok(existsSync(join(dir, 'marker')), 'the second call reused the directory');
    });

    test('unpackLayer of a download stores the blob and unpacks it in one pass, and keeps neither unless the blob checks out', async () => {
      const store = await openStore();
      const tar = layerTar({ 'hello.txt': 'hello\n' });
      const blob = gzipSync(tar);
      // The right layer under the wrong blob digest: the tar unpacks fine and has the right
      // diff id, so only the blob check can refuse it, and it must refuse it before the
      // layer directory is placed.
      const wrong = sha256('some other blob');
      await assert.rejects(
        store.unpackLayer(wrong, OCI_GZIP, sha256(tar), { body: Readable.from([blob]), size: blob.length }),
        /content hashes to sha256:.* not kept/,
      );
      assert.deepEqual(list(join(store.root, 'layers/sha256')), [], 'no layer from an unverified blob');
      assert.deepEqual(list(join(store.root, 'blobs/sha256')), []);
      assert.deepEqual(list(join(store.root, 'tmp')), []);

      const dir = await store.unpackLayer(sha256(blob), OCI_GZIP, sha256(tar), { body: Readable.from([blob]), size: blob.length });
      assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'hello\n');
      assert.deepEqual(readFileSync(store.blobPath(sha256(blob))), blob, 'the blob is kept too, for a later push');
      assert.deepEqual(list(join(store.root, 'tmp')), []);
    });

    test('unpackLayer of a download that fails before reading it closes the download and leaves nothing', async () => {
      const store = await openStore();
      const blob = gzipSync(layerTar({ 'hello.txt': 'hello\n' }));
      const body = Readable.from([blob]);
      await assert.rejects(
        store.unpackLayer(sha256(blob), 'application/vnd.oci.image.layer.v1.tar+zstd', sha256('x'), { body, size: blob.length }),
        /zstd/,
      );
      assert.ok(body.destroyed, 'a download left open would keep its connection, and the engine, alive');
      assert.deepEqual(list(join(store.root, 'blobs/sha256')), []);
      assert.deepEqual(list(join(store.root, 'tmp')), []);
    });

    test('unpackLayer refuses a hostile layer and cleans up after it', async () => {
      const store = await openStore();
      const src = tempDir('nutshell-hostile-');
      mkdirSync(join(src, 'inner'));
      writeFileSync(join(src, 'escape'), 'out\n');
      // -P keeps the "../" that GNU tar would otherwise strip.
      const tar = execFileSync('tar', ['-C', join(src, 'inner'), '-P', '-cf', '-', '../escape'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const blob = gzipSync(tar);
      await store.putBlob(sha256(blob), Readable.from([blob]));
      await assert.rejects(store.unpackLayer(sha256(blob), OCI_GZIP, sha256(tar)), (err: Error) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /^layer sha256:[0-9a-f]{12}: entry "\.\.\/escape" escapes the layer \(path traversal\)$/);
        return true;
      });
      assert.deepEqual(list(join(store.root, 'layers/sha256')), []);
      assert.deepEqual(list(join(store.root, 'tmp')), []);
      assert.ok(!existsSync(join(store.root, 'escape')) && !existsSync(join(store.root, 'tmp/escape')));
    });

    test('images: layerDirs bottom first; a shared layer survives rmi of one image, not of both', async () => {
      const store = await openStore();
      const base = layerTar({ 'os-release': 'nutshell\n' });
      const app = layerTar({ app: 'app\n' });
      const tool = layerTar({ tool: 'tool\n' });
      const first = await addImage(store, 'example.com/app:1', [base, app]);
      const second = await addImage(store, 'example.com/tool:1', [base, tool]);
      await store.saveImage('example.com/app:latest', first); // one image, two names

      assert.deepEqual(
        store.layerDirs('example.com/app:1'),
        [base, app].map((tar) => store.layerPath(sha256(tar))),
      );
      assert.deepEqual(store.listImages().map((image) => image.ref), ['example.com/app:1', 'example.com/app:latest', 'example.com/tool:1']);
      assert.deepEqual(store.getImage('example.com/tool:1'), second);

      assert.deepEqual(await store.removeImage('example.com/app:1'), { blobs: [], layers: [] }, 'app:latest still uses it all');
      const removed = await store.removeImage('example.com/app:latest');
      assert.deepEqual(removed.layers, [sha256(app)]);
      assert.equal(removed.blobs.length, 3, 'its manifest, config and app layer blob');
      assert.ok(!existsSync(store.layerPath(sha256(app))));
      assert.ok(existsSync(join(store.layerPath(sha256(base)), 'os-release')), 'the shared base layer stays');
      assert.deepEqual(store.layerDirs('example.com/tool:1').length, 2);

      await store.removeImage('example.com/tool:1');
      assert.deepEqual(list(join(store.root, 'layers/sha256')), [], 'the last user gone, the base goes too');
      assert.deepEqual(list(join(store.root, 'blobs/sha256')), []);
      assert.deepEqual(store.listImages(), []);
      await assert.rejects(store.removeImage('example.com/tool:1'), /no such image: example.com\/tool:1/);
      assert.throws(() => store.layerDirs('example.com/tool:1'), /no such image/);
    });

    test('saveImage refuses a record that names a layer not in the store', async () => {
      const store = await openStore();
      const manifestDigest = store.putBytes('{}');
      const record = { manifestDigest, configDigest: manifestDigest, layers: [sha256('gone')], created: '', size: 0 };
      await assert.rejects(store.saveImage('x:1', record), /cannot save x:1: layer sha256:\w+ is not unpacked/);
      assert.equal(store.getImage('x:1'), undefined);
    });

    // ---------------------------------------------------------------- crashes and concurrency

    test('leftovers in tmp/ from a crash are cleaned on open and do not break the next put', async () => {
      const root = join(tempDir(), 'store');
      mkdirSync(join(root, 'tmp/layer-abc/usr/bin'), { recursive: true });
      writeFileSync(join(root, 'tmp/blob-123-456'), 'half a download');
      writeFileSync(join(root, 'tmp/layer-abc/usr/bin/half'), '');
      const store = await openStore(root);
      assert.deepEqual(list(join(root, 'tmp')), []);
      const bytes = Buffer.from('after the crash');
      await store.putBlob(sha256(bytes), Readable.from([bytes]));
      assert.ok(store.hasBlob(sha256(bytes)));
    });

    test('an engine SIGKILLed in the middle of a download leaves a consistent store', async () => {
      const root = join(tempDir(), 'store');
      const bytes = Buffer.alloc(1 << 20, 'n');
      // The child writes half the blob and then waits forever for the rest.
      const child = engine(`
        import { PassThrough } from 'node:stream';
        const store = await Store.open(${JSON.stringify(root)});
        const body = new PassThrough();
        body.write(Buffer.alloc(${bytes.length / 2}, 'n'));
        store.putBlob(${JSON.stringify(sha256(bytes))}, body);
        setInterval(() => {}, 1000);
      `);
      const done = exited(child);
      const tmp = join(root, 'tmp');
      for (let i = 0; i < 200; i++) {
        const partial = existsSync(tmp) ? readdirSync(tmp) : [];
        if (partial.length > 0 && statSync(join(tmp, partial[0]!)).size > 0) break;
        await sleep(50);
      }
      assert.equal(readdirSync(tmp).length, 1, 'the child got half way');
      child.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');

      const store = await openStore(root);
      assert.deepEqual(list(tmp), [], 'the partial download is cleaned');
      assert.ok(!store.hasBlob(sha256(bytes)), 'and was never published');
      const body = new PassThrough();
      body.end(bytes);
      await store.putBlob(sha256(bytes), body, bytes.length);
      assert.ok(store.hasBlob(sha256(bytes)));
    });

    test('while another engine has the store open, its tmp/ work is left alone', async () => {
      const root = join(tempDir(), 'store');
      const first = await Store.open(root);
      writeFileSync(join(root, 'tmp/blob-in-progress'), 'still downloading');
      const second = await Store.open(root);
      assert.ok(existsSync(join(root, 'tmp/blob-in-progress')), 'not cleaned under a running engine');
      first.close();
      second.close();
      (await Store.open(root)).close();
      assert.deepEqual(list(join(root, 'tmp')), [], 'cleaned once the store was ours alone');
    });

    test('engines saving images at the same time do not lose each other\'s writes', async () => {
      const root = join(tempDir(), 'store');
      const store = await openStore(root);
      const manifestDigest = store.putBytes('{"layers":[]}');
      const record = { manifestDigest, configDigest: manifestDigest, layers: [], created: '', size: 0 };
      const engines = [0, 1, 2, 3, 4, 5].map((n) =>
        exited(
          engine(`
            const store = await Store.open(${JSON.stringify(root)});
            for (let i = 0; i < 30; i++) await store.saveImage('engine${n}/image:' + i, ${JSON.stringify(record)});
            store.close();
          `),
        ),
      );
      for (const result of await Promise.all(engines)) assert.equal(result.code, 0, result.stderr);
      assert.equal(store.listImages().length, 180);
    });

    test('store root is created private to root', async () => {
      const root = join(tempDir(), 'deep/store');
      const store = await openStore(root);
      assert.equal(statSync(root).mode & 0o777, 0o700);
      assert.deepEqual(list(root), ['blobs', 'layers', 'store.lock', 'tmp']);
      assert.equal(store.root, root);
    });
  });
}
