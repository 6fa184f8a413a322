//@ distribution..
/** Chapter 08 · push: a pull played backwards (registry.ts has the pull, http.ts and auth.ts
 *  the exchange underneath). The registry accepts a manifest only once it holds every blob
 *  the manifest names, so the order is fixed: each layer blob, then the config blob, then the
 *  manifest, under its tag (OCI Distribution Specification, spec.md, "Push").
 *  Each blob goes the cheapest way there is (pushBlob):
 *    - HEAD it first: a registry that has it, here, needs nothing ("already exists");
 *    - one that has it in another repository can link it without a byte sent ("mounted");
 *    - otherwise upload it ("pushed").
 *  The manifest goes up as the exact bytes in the store: its digest is the hash of those
 *  bytes, so re-serialising the JSON would give the image another identity.
 *  Every request is one RegistryClient.request(), as a pull's are; what a push adds is its
 *  own scope (`pull,push`) and the requests that write.
 *  Lesson: docs/08-distribution.md */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { pullScope } from './auth.ts';
import { failure } from './http.ts';
import { formatReference, parseReference } from './reference.ts';
import { digestOf, MEDIA_TYPES, RegistryClient, type Descriptor, type ImageManifest, type RegistryOptions } from './registry.ts';
import type { Store } from './store.ts';
//> ..network
//| import { counted, TransferProgress } from './image.ts';
//< ..network
//> daemon..
import { counted, TransferProgress, type OnProgress } from './image.ts';
//< daemon..

export interface PushOptions extends RegistryOptions {
  /** No per-blob lines on stdout. */
  quiet?: boolean;
  //> daemon..
  /** The progress as events, for a client to draw (the daemon's stream): nothing is printed here. */
  onProgress?: OnProgress;
  //< daemon..
}

const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** What the three outcomes of pushBlob are called in the progress lines, as docker says them. */
const SAID = { uploaded: 'pushed', exists: 'already exists', mounted: 'mounted' } as const;

/** Push the image `text` from the store to the registry its name says. Returns the digest
 *  of the manifest, which the registry now serves under the tag. */
export async function pushImage(store: Store, text: string, opts: PushOptions = {}): Promise<{ digest: string }> {
  const ref = parseReference(text);
  const name = formatReference(ref);
  const record = store.getImage(name);
  if (!record) throw new UserError(`no image ${name} in the store`);
  const manifestBytes = store.readBlob(record.manifestDigest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;

  // 1. Every blob must be here before the first byte leaves. The store keeps a pulled layer's
  // blob, but a pull skips the download of a layer it already has unpacked from another
  // image (same diff id, other compression): then it has the files, not these bytes.
  const blobs: Descriptor[] = [...manifest.layers, manifest.config];
  const missing = blobs.filter((blob) => !store.hasBlob(blob.digest));
  if (missing.length > 0) {
    throw new UserError(
      `cannot push ${name}: the store has no blob ${missing[0]!.digest}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''} — ` +
        'its layer was unpacked from another image\'s copy; pull it into an empty --root to push it',
    );
  }

  // 2. The blobs, layers first and the config last (the order docker pushes them in).
  const client = new RegistryClient(ref.registry, opts);
  //> ..network
  //| const progress = await TransferProgress.start(opts.quiet === true, 'waiting');
  //< ..network
  //> daemon..
  const progress = await TransferProgress.start(opts.quiet === true, 'waiting', opts.onProgress);
  //< daemon..
  try {
    for (const blob of blobs) {
      const bar = progress.add(blob);
      const mountFrom = otherRepositoryWith(store, ref.registry, ref.repository, blob.digest);
      const open = () => counted(createReadStream(store.blobPath(blob.digest)), (n) => bar.advance(n));
      bar.finish(SAID[await pushBlob(client, ref.repository, blob, open, mountFrom)]);
    }
  } finally {
    progress.stop();
  }

  // 3. The manifest, last: the registry checks that every blob it names is there.
  const digest = await putManifest(client, ref.repository, ref.tag ?? ref.digest ?? 'latest', mediaTypeOf(manifest), manifestBytes);
  return { digest };
}

/** A repository of the same registry that should hold `digest`: one that an image in the store
 *  was pulled from (images are named where they came from) and whose manifest lists the blob.
 *  Only a guess: a registry that does not have it there opens a plain upload instead. */
function otherRepositoryWith(store: Store, registry: string, repository: string, digest: string): string | undefined {
  for (const image of store.listImages()) {
    const other = parseReference(image.ref);
    if (other.registry !== registry || other.repository === repository) continue;
    try {
      const manifest = store.readJSON<ImageManifest>(image.manifestDigest);
      if (manifest.config.digest === digest || manifest.layers.some((layer) => layer.digest === digest)) {
        traceStep(`mount candidate ${other.repository}`, `${image.ref} uses blob ${digest.slice(0, 19)}…`);
        return other.repository;
      }
    } catch {
      // A damaged manifest of another image: no candidate from it.
    }
  }
  return undefined;
}

/** The Content-Type the manifest goes up with. A Docker manifest always says its type; an OCI
 *  one may not (umoci leaves it out), and then the config's media type tells the two apart. */
function mediaTypeOf(manifest: ImageManifest): string {
  if (manifest.mediaType) return manifest.mediaType;
  return manifest.config.mediaType === DOCKER_CONFIG ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
}

// ---------------------------------------------------------------- the requests that write

/** The scope a push needs: writing, and reading too (a registry checks what it has). */
function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Push one blob the cheapest way there is: not at all if the registry has it, by mount if
 *  another repository of the registry has it, else by upload. Says which it was. */
export async function pushBlob(
  client: RegistryClient,
  repository: string,
  blob: { digest: string; size: number },
  open: () => Readable,
  mountFrom?: string,
): Promise<'exists' | 'mounted' | 'uploaded'> {
  if (await hasBlob(client, repository, blob.digest)) return 'exists';
  if (mountFrom && (await mountBlob(client, repository, blob.digest, mountFrom))) return 'mounted';
  await uploadBlob(client, repository, blob.digest, blob.size, open);
  return 'uploaded';
}

/** HEAD a blob: a push skips what the registry already has
 *  (spec: "Checking if content exists in the registry"). */
export async function hasBlob(client: RegistryClient, repository: string, digest: string): Promise<boolean> {
  const res = await client.request({
    method: 'HEAD',
    url: client.url(repository, 'blobs', digest),
    why: `does the registry already have blob ${digest.slice(0, 19)}…? then we need not upload it`,
    scopes: [pushScope(repository)],
  });
  if (!res.ok && res.status !== 404) throw await failure(client, res, `blob ${digest}`, repository);
  res.discard();
  return res.ok;
}

/** Ask the registry to link a blob it holds in another repository into this one, with no
 *  upload at all (spec: "Mounting a blob from another repository"). True when it did. */
export async function mountBlob(client: RegistryClient, repository: string, digest: string, fromRepository: string): Promise<boolean> {
  const query = new URLSearchParams({ mount: digest, from: fromRepository });
  const url = `${client.url(repository, 'blobs', 'uploads/')}?${query}`;
  const res = await client.request({
    method: 'POST',
    url,
    why: `mount blob ${digest.slice(0, 19)}… from ${fromRepository}, so its bytes need not travel`,
    // Reading the source repository is part of the request: the token must cover both.
    scopes: [pushScope(repository), pullScope(fromRepository)],
  });
  if (res.status !== 201 && res.status !== 202) throw await failure(client, res, `mount of blob ${digest}`, repository);
  res.discard();
  if (res.status === 201) return true;
  // 202: the registry would not mount and opened an ordinary upload instead. The caller
  // uploads with uploadBlob, so close this session rather than leave it dangling.
  const location = res.headers.get('location');
  if (location) await cancelUpload(client, repository, new URL(location, url).href);
  return false;
}

/** Upload a blob in one request (spec: "Pushing a blob monolithically", POST then PUT):
 *  POST opens an upload session, the PUT to its Location carries all the bytes and the
 *  digest, which the registry checks before it accepts the blob. */
export async function uploadBlob(client: RegistryClient, repository: string, digest: string, size: number, open: () => Readable): Promise<void> {
  const sessions = client.url(repository, 'blobs', 'uploads/');
  const start = await client.request({
    method: 'POST',
    url: sessions,
    why: `open an upload session for blob ${digest.slice(0, 19)}…`,
    scopes: [pushScope(repository)],
  });
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw await failure(client, start, `upload of blob ${digest}`, repository);
  start.discard();

  // The Location may be relative, and may already carry a query (the registry's state).
  const target = new URL(location, sessions);
  target.searchParams.set('digest', digest);
  const res = await client.request({
    method: 'PUT',
    url: target.href,
    why: `send the ${size} bytes of blob ${digest.slice(0, 19)}… and close the session`,
    scopes: [pushScope(repository)],
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: open,
  });
  if (res.status !== 201) throw await failure(client, res, `upload of blob ${digest}`, repository);
  res.discard();
}

/** PUT a manifest under a tag, last, once all its blobs are there (spec: "Pushing Manifests").
 *  Returns its digest. */
export async function putManifest(client: RegistryClient, repository: string, tag: string, mediaType: string, bytes: Buffer): Promise<string> {
  const res = await client.request({
    method: 'PUT',
    url: client.url(repository, 'manifests', tag),
    why: `publish the manifest as ${repository}:${tag}; the registry checks that its blobs exist`,
    scopes: [pushScope(repository)],
    headers: { 'content-type': mediaType },
    body: () => bytes,
  });
  if (res.status !== 201) throw await failure(client, res, `manifest ${repository}:${tag}`, repository);
  res.discard();
  return digestOf(bytes);
}

async function cancelUpload(client: RegistryClient, repository: string, location: string): Promise<void> {
  const res = await client.request({ method: 'DELETE', url: location, why: 'cancel the upload session the mount opened', scopes: [pushScope(repository)] });
  res.discard();
}
