//@ images..
/** Chapter 05 · push: a pull played backwards (registry.ts has the protocol). The registry
 *  accepts a manifest only once it holds every blob the manifest names, so the order is
 *  fixed: each layer blob, then the config blob, then the manifest, under its tag.
 *  Each blob goes the cheapest way there is (RegistryClient.pushBlob):
 *    - HEAD it first: a registry that has it, here, needs nothing ("already exists");
 *    - one that has it in another repository can link it without a byte sent ("mounted");
 *    - otherwise upload it ("pushed").
 *  The manifest goes up as the exact bytes in the store: its digest is the hash of those
 *  bytes, so re-serialising the JSON would give the image another identity.
 *  Lesson: docs/05-images.md */
import { createReadStream } from 'node:fs';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { formatReference, parseReference } from './reference.ts';
import { MEDIA_TYPES, RegistryClient, type Descriptor, type ImageManifest, type RegistryOptions } from './registry.ts';
import type { Store } from './store.ts';
import { counted, TransferProgress } from './image.ts';

export interface PushOptions extends RegistryOptions {
  /** No per-blob lines on stdout. */
  quiet?: boolean;
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
  const progress = await TransferProgress.start(opts.quiet === true, 'waiting');
  try {
    for (const blob of blobs) {
      const bar = progress.add(blob);
      const mountFrom = otherRepositoryWith(store, ref.registry, ref.repository, blob.digest);
      const open = () => counted(createReadStream(store.blobPath(blob.digest)), (n) => bar.advance(n));
      bar.finish(SAID[await client.pushBlob(ref.repository, blob, open, mountFrom)]);
    }
  } finally {
    progress.stop();
  }

  // 3. The manifest, last: the registry checks that every blob it names is there.
  const digest = await client.putManifest(ref.repository, ref.tag ?? ref.digest ?? 'latest', mediaTypeOf(manifest), manifestBytes);
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
