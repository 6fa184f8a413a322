/** Chapter 05 · the registry client, against a real registry (Debian's docker-registry) holding
 *  images made by umoci and pushed by skopeo: pull OCI and Docker manifests, pick a platform
 *  from an index, authenticate, verify every byte, and say what went wrong in one line.
 *  registry.ts is tested in every chapter from 05 on, each against a registry of its own. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { list as listTar } from 'tar';
import type { Descriptor, ImageConfig, RegistryClient, RegistryOptions } from '../chapters/05-images/registry.ts';
import type { Store } from '../chapters/05-images/store.ts';
import { tempDir } from './helpers/chapter.ts';
import { buildTestImage, pushImage, pushMultiArchIndex, TEST_IMAGE } from './helpers/images.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';
import { blobPath, download, freePort, rejectsWith, startRegistry } from './helpers/registry.ts';
import { traceOf } from './helpers/trace.ts';

const layout = buildTestImage(join(tempDir(), 'layout'), 'v1');

function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

/** The paths in a gzipped layer tarball. */
async function layerEntries(path: string): Promise<string[]> {
  const entries: string[] = [];
  await listTar({ file: path, onReadEntry: (e) => void entries.push(e.path) });
  return entries;
}

/** Fake servers, for what a local registry cannot show: HTTPS refused by a plain-HTTP server,
 *  tokens, redirects. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler, address = '127.0.0.1'): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `${address}:${(server.address() as { port: number }).port}`;
}

for (const ch of chaptersFrom('05')) {
  const { parseReference } = await chapterModule<typeof import('../chapters/05-images/reference.ts')>(ch, 'reference.ts');
  const { digestOf, MEDIA_TYPES, RegistryClient } = await chapterModule<typeof import('../chapters/05-images/registry.ts')>(ch, 'registry.ts');
  const { defaultPlatform, parsePlatform } = await chapterModule<typeof import('../chapters/05-images/platform.ts')>(ch, 'platform.ts');
  const { Store } = await chapterModule<typeof import('../chapters/05-images/store.ts')>(ch, 'store.ts');
  // A registry for each chapter: a test below alters a blob on the registry's disk.
  const registry = await startRegistry();
  pushImage(layout, 'v1', registry.host, 'test/app');
  const client = new RegistryClient(registry.host);

  /** An empty image store in a temporary directory. */
  async function openStore(): Promise<Store> {
    const store = await Store.open(join(tempDir(), 'store'));
    after(() => store.close());
    return store;
  }

  /** An image config, the way a pull reads it: downloaded into a store, then parsed. */
  async function fetchConfig(from: RegistryClient, repository: string, config: Descriptor): Promise<ImageConfig> {
    const store = await openStore();
    await download(store, from, repository, config.digest);
    return store.readJSON<ImageConfig>(config.digest);
  }

  describe(`chapter ${ch}`, () => {
    test('resolve an OCI image by tag: manifest, config and three verified layers', async () => {
      const image = await client.resolveImage(parseReference(`${registry.host}/test/app:v1`));
      assert.equal(image.mediaType, MEDIA_TYPES.ociManifest);
      assert.equal(image.manifestDigest, digestOf(image.manifestBytes));
      const inLayout = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')).manifests[0].digest;
      assert.equal(image.manifestDigest, inLayout, 'the registry serves the manifest skopeo pushed, byte for byte');
      assert.equal(image.layers.length, 3);

      const config = await fetchConfig(client, 'test/app', image.config);
      assert.deepEqual(config.config?.Env, TEST_IMAGE.env);
      assert.equal(config.config?.WorkingDir, TEST_IMAGE.workingDir);
      assert.deepEqual(config.config?.Cmd, TEST_IMAGE.cmd);
      assert.equal(config.architecture, 'amd64');

      const store = await openStore();
      for (const layer of image.layers) {
        assert.equal(sha256File(await download(store, client, 'test/app', layer.digest)), layer.digest);
      }
      const top = await layerEntries(store.blobPath(image.layers[2]!.digest));
      assert.ok(top.includes('etc/.wh.doomed'), `the third layer deletes /etc/doomed with a whiteout: ${top}`);
      assert.ok(top.includes('srv/data/hello.txt'));
      assert.deepEqual(readdirSync(join(store.root, 'blobs/sha256')).sort(), image.layers.map((l) => l.digest.slice(7)).sort());
      assert.deepEqual(readdirSync(join(store.root, 'tmp')), [], 'no partial files left');
    });

    test('resolve by digest gives the same image; a digest that names nothing is unknown', async () => {
      const byTag = await client.resolveImage(parseReference(`${registry.host}/test/app:v1`));
      const byDigest = await client.resolveImage(parseReference(`${registry.host}/test/app@${byTag.manifestDigest}`));
      assert.deepEqual(byDigest.manifestBytes, byTag.manifestBytes);
      await rejectsWith(client.resolveImage(parseReference(`${registry.host}/test/app@sha256:${'0'.repeat(64)}`)), /manifest test\/app@sha256:0+ not found on 127\.0\.0\.1:\d+/);
    });

    test('the same image pushed as Docker schema 2 resolves too', async () => {
      pushImage(layout, 'v1', registry.host, 'test/docker', { format: 'v2s2' });
      const image = await client.resolveImage(parseReference(`${registry.host}/test/docker:v1`));
      assert.equal(image.mediaType, MEDIA_TYPES.dockerManifest);
      assert.equal(image.config.mediaType, 'application/vnd.docker.container.image.v1+json');
      assert.ok(image.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip'));
      const config = await fetchConfig(client, 'test/docker', image.config);
      assert.deepEqual(config.config?.Env, TEST_IMAGE.env);
      assert.equal(config.config?.WorkingDir, TEST_IMAGE.workingDir);
    });

    test('a multi-platform index: this machine by default, arm64 when asked, a clear line when absent', async () => {
      const pushed = pushMultiArchIndex(registry.host, 'test/multi', 'latest');
      const ref = parseReference(`${registry.host}/test/multi`);
      const store = await openStore();
      const readArch = async (digest: string) => layerEntries(await download(store, client, 'test/multi', digest));

      assert.equal(defaultPlatform().architecture, process.arch === 'x64' ? 'amd64' : process.arch);
      const native = await client.resolveImage(ref, { os: 'linux', architecture: 'amd64' });
      assert.equal(native.manifestDigest, pushed.manifests.amd64);
      assert.equal(native.indexDigest, pushed.indexDigest);
      if (process.arch === 'x64') assert.equal((await client.resolveImage(ref)).manifestDigest, pushed.manifests.amd64);

      const arm = await client.resolveImage(ref, parsePlatform('linux/arm64'));
      assert.equal(arm.manifestDigest, pushed.manifests.arm64);
      assert.equal((await fetchConfig(client, 'test/multi', arm.config)).architecture, 'arm64');
      assert.ok((await readArch(arm.layers.at(-1)!.digest)).includes('etc/arch'));
      assert.equal((await client.resolveImage(ref, parsePlatform('linux/arm64/v8'))).manifestDigest, pushed.manifests.arm64);

      await rejectsWith(client.resolveImage(ref, parsePlatform('linux/s390x')), /has no image for linux\/s390x \(available: linux\/amd64, linux\/arm64\)/);
      assert.throws(() => parsePlatform('arm64'), /invalid platform "arm64": expected os\/architecture/);
    });

    test('Basic auth: credentials from options or from a credentials file; none or wrong ones fail in one line', async () => {
      const login = { user: 'learner', password: 's3cret-pass' };
      const locked = await startRegistry({ htpasswd: login });
      pushImage(layout, 'v1', locked.host, 'private/app', { creds: `${login.user}:${login.password}` });
      const ref = parseReference(`${locked.host}/private/app:v1`);
      const resolveWith = (opts: RegistryOptions) => new RegistryClient(locked.host, opts).resolveImage(ref);

      const withOptions = await resolveWith({ username: login.user, password: login.password });
      assert.equal(withOptions.layers.length, 3);
      const file = join(tempDir(), 'config.json');
      const auth = Buffer.from(`${login.user}:${login.password}`).toString('base64');
      writeFileSync(file, JSON.stringify({ auths: { 'other.example:5000': { auth: 'eDp5' }, [locked.host]: { auth } } }));
      const withFile = await resolveWith({ credentialsFile: file });
      assert.equal(withFile.manifestDigest, withOptions.manifestDigest);

      const host = locked.host.replace(/\./g, '\\.');
      await rejectsWith(resolveWith({}), new RegExp(`wrong or missing credentials for ${host}`));
      await rejectsWith(resolveWith({ username: login.user, password: 'wrong' }), new RegExp(`^wrong or missing credentials for ${host}$`));
    });

    test('a blob altered on the registry disk is refused, and no file is left behind', async () => {
      pushImage(layout, 'v1', registry.host, 'test/tampered');
      const image = await client.resolveImage(parseReference(`${registry.host}/test/tampered:v1`));
      const layer = image.layers[1]!;
      const onDisk = blobPath(registry, layer.digest);
      const bytes = readFileSync(onDisk);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff; // same size, one byte different
      writeFileSync(onDisk, bytes);

      const store = await openStore();
      await rejectsWith(download(store, client, 'test/tampered', layer.digest), new RegExp(`blob ${layer.digest}: its content hashes to sha256:\\w+ — corrupted or tampered with, not kept`));
      assert.deepEqual(readdirSync(join(store.root, 'blobs/sha256')), [], 'the blob is not kept');
      assert.deepEqual(readdirSync(join(store.root, 'tmp')), [], 'nor a partial file');
    });

    test('unknown tag, unknown repository, unreachable registry: one clear line each', async () => {
      const at = registry.host.replace(/\./g, '\\.');
      await rejectsWith(client.resolveImage(parseReference(`${registry.host}/test/app:nope`)), new RegExp(`tag nope of test/app not found on ${at} \\(its tags: v1\\)`));
      await rejectsWith(client.resolveImage(parseReference(`${registry.host}/no/such/repo`)), new RegExp(`repository no/such/repo not found on ${at}`));
      const closed = `127.0.0.1:${await freePort()}`;
      await rejectsWith(new RegistryClient(closed).resolveImage(parseReference(`${closed}/x`)), new RegExp(`cannot reach registry ${closed.replace(/\./g, '\\.')}: .*ECONNREFUSED`));
    });

    // ---------------------------------------------------------------- fake servers, for what a
    // local registry cannot show: HTTPS refused by a plain-HTTP server, tokens, redirects.

    test('HTTPS to a plain-HTTP registry hints at --insecure-registry, which then works', async () => {
      // 127.0.0.2 is loopback to the kernel, but not one of the names we treat as local.
      const host = await serve((_req, res) => res.writeHead(404).end(), '127.0.0.2');
      const ref = parseReference(`${host}/x:y`);
      await rejectsWith(new RegistryClient(host).resolveImage(ref), new RegExp(`TLS handshake with ${host.replace(/\./g, '\\.')} failed .*--insecure-registry`));
      await rejectsWith(new RegistryClient(host, { insecureRegistries: [host] }).resolveImage(ref), /tag y of x not found/);
    });

    test('Bearer tokens from the realm, with credentials; blob redirects to another host get no token', async () => {
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'c', digest: digestOf(Buffer.from('{}')), size: 2 }, layers: [] }));
      const blob = Buffer.from('blob bytes\n');
      const seen: { tokenQuery?: string; tokenAuth?: string; cdnAuth?: string } = {};
      const cdn = await serve((req, res) => {
        seen.cdnAuth = req.headers.authorization ?? 'none';
        res.writeHead(200, { 'content-length': blob.length }).end(blob);
      });
      const auth = await serve((req, res) => {
        seen.tokenQuery = req.url;
        seen.tokenAuth = req.headers.authorization;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'granted-token' }));
      });
      const host = await serve((req, res) => {
        if (req.headers.authorization !== 'Bearer granted-token') {
          const scope = `repository:${req.url!.split('/').slice(2, 4).join('/')}:pull`;
          res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${auth}/token",service="fake-registry",scope="${scope}"` }).end();
        } else if (req.url!.includes('/manifests/')) {
          res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest }).end(manifest);
        } else {
          res.writeHead(307, { location: `http://${cdn}/signed/blob?sig=abc` }).end();
        }
      });

      const bearer = new RegistryClient(host, { username: 'me', password: 'pw' });
      const image = await bearer.resolveImage(parseReference(`${host}/org/app:1`));
      assert.equal(image.manifestDigest, digestOf(manifest));
      assert.equal(seen.tokenAuth, `Basic ${Buffer.from('me:pw').toString('base64')}`, 'credentials go to the token server');
      const query = new URL(seen.tokenQuery!, 'http://x').searchParams;
      assert.equal(query.get('service'), 'fake-registry');
      assert.deepEqual(query.getAll('scope'), ['repository:org/app:pull']);

      const dest = await download(await openStore(), bearer, 'org/app', digestOf(blob));
      assert.equal(readFileSync(dest, 'utf8'), 'blob bytes\n');
      assert.equal(seen.cdnAuth, 'none', 'the registry token is not sent to the host we are redirected to');
    });

    test('--trace prints each request: method, URL, status and why', async () => {
      const trace = await traceOf(() => client.resolveImage(parseReference(`${registry.host}/test/app:v1`)));
      assert.match(trace, new RegExp(`GET http://${registry.host.replace(/\./g, '\\.')}/v2/test/app/manifests/v1 → 200.*ask for the manifest of tag v1, any of the four media types`));
    });
  });
}
