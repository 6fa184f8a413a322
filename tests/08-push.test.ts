/** Chapter 08 · the push side of the registry client, against a real registry (Debian's
 *  docker-registry): blobs checked for, mounted from another repository or uploaded, the
 *  manifest last; skopeo reads the result back; the registry refuses bytes that lie. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import type { ImageManifest } from '../chapters/08-distribution/registry.ts';
import type { Store } from '../chapters/08-distribution/store.ts';
import { tempDir } from './helpers/chapter.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';
import { blobPath, download, rejectsWith, startRegistry } from './helpers/registry.ts';

for (const ch of chaptersFrom('08')) {
  const { digestOf, MEDIA_TYPES, RegistryClient } = await chapterModule<typeof import('../chapters/08-distribution/registry.ts')>(ch, 'registry.ts');
  const { hasBlob, mountBlob, pushBlob, putManifest, uploadBlob } = await chapterModule<typeof import('../chapters/08-distribution/push.ts')>(ch, 'push.ts');
  const { Store } = await chapterModule<typeof import('../chapters/08-distribution/store.ts')>(ch, 'store.ts');
  const registry = await startRegistry();
  const client = new RegistryClient(registry.host);

  /** An empty image store in a temporary directory. */
  async function openStore(): Promise<Store> {
    const store = await Store.open(join(tempDir(), 'store'));
    after(() => store.close());
    return store;
  }

  describe(`chapter ${ch}`, () => {
    test('push: blob, config and manifest; skopeo reads it back; a second push skips the blob', async () => {
      const layer = Buffer.from('not really a tarball, but a blob all the same\n');
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      const blob = (bytes: Buffer) => ({ digest: digestOf(bytes), size: bytes.length });
      const repo = 'pushed/app';

      assert.equal(await hasBlob(client, repo, digestOf(layer)), false);
      assert.equal(await pushBlob(client, repo, blob(layer), () => Readable.from([layer])), 'uploaded');
      assert.equal(await pushBlob(client, repo, blob(config), () => Readable.from([config])), 'uploaded');
      assert.equal(await hasBlob(client, repo, digestOf(layer)), true);
      assert.equal(await pushBlob(client, repo, blob(layer), () => assert.fail('the blob is there: no upload')), 'exists');

      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(config) },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...blob(layer) }],
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      assert.equal(await putManifest(client, repo, 'v1', MEDIA_TYPES.ociManifest, bytes), digestOf(bytes));
      const raw = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/${repo}:v1`]);
      assert.deepEqual(raw, bytes);

      assert.deepEqual(readFileSync(await download(await openStore(), client, repo, digestOf(layer))), layer);
    });

    test('push: a blob is mounted from another repository of the registry, or uploaded when it cannot be', async () => {
      const bytes = Buffer.from('shared between repositories\n');
      const digest = digestOf(bytes);
      await uploadBlob(client, 'mount/source', digest, bytes.length, () => Readable.from([bytes]));

      assert.equal(await mountBlob(client, 'mount/target', digest, 'mount/source'), true);
      assert.equal(await hasBlob(client, 'mount/target', digest), true);
      assert.equal(await pushBlob(client, 'mount/third', { digest, size: bytes.length }, () => assert.fail('no upload'), 'mount/source'), 'mounted');

      const lonely = Buffer.from('in no repository yet\n');
      assert.equal(await mountBlob(client, 'mount/target', digestOf(lonely), 'mount/source'), false);
      assert.equal(await pushBlob(client, 'mount/target', { digest: digestOf(lonely), size: lonely.length }, () => Readable.from([lonely]), 'mount/source'), 'uploaded');
      assert.equal(await hasBlob(client, 'mount/target', digestOf(lonely)), true);
      assert.equal(existsSync(blobPath(registry, digestOf(lonely))), true);
    });

    test('an upload whose bytes do not match the digest is refused by the registry', async () => {
      const bytes = Buffer.from('honest bytes\n');
      await rejectsWith(
        uploadBlob(client, 'test/liar', digestOf(Buffer.from('other bytes\n')), bytes.length, () => Readable.from([bytes])),
        /127\.0\.0\.1:\d+ answered 400 Bad Request for upload of blob sha256:[0-9a-f]+: DIGEST_INVALID/,
      );
    });
  });
}
