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
  // 1. Every blob must be here before the first byte leaves. The store keeps a pulled layer's
  // blob, but a pull skips the download of a layer it already has unpacked from another
  // image (same diff id, other compression): then it has the files, not these bytes.
  // 2. The blobs, layers first and the config last (the order docker pushes them in).
  // 3. The manifest, last: the registry checks that every blob it names is there.
  throw new Error('TODO (chapter 08): write pushImage(), as the comment above it says');
}

/** A repository of the same registry that should hold `digest`: one that an image in the store
 *  was pulled from (images are named where they came from) and whose manifest lists the blob.
 *  Only a guess: a registry that does not have it there opens a plain upload instead. */
function otherRepositoryWith(store: Store, registry: string, repository: string, digest: string): string | undefined {
  // A damaged manifest of another image: no candidate from it.
  throw new Error('TODO (chapter 08): write otherRepositoryWith(), as the comment above it says');
}

/** The Content-Type the manifest goes up with. A Docker manifest always says its type; an OCI
 *  one may not (umoci leaves it out), and then the config's media type tells the two apart. */
function mediaTypeOf(manifest: ImageManifest): string {
  throw new Error('TODO (chapter 08): write mediaTypeOf(), as the comment above it says');
}

// ---------------------------------------------------------------- the requests that write

/** The scope a push needs: writing, and reading too (a registry checks what it has). */
function pushScope(repository: string): string {
  throw new Error('TODO (chapter 08): write pushScope(), as the comment above it says');
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
  throw new Error('TODO (chapter 08): write pushBlob(), as the comment above it says');
}

/** HEAD a blob: a push skips what the registry already has
 *  (spec: "Checking if content exists in the registry"). */
export async function hasBlob(client: RegistryClient, repository: string, digest: string): Promise<boolean> {
  throw new Error('TODO (chapter 08): write hasBlob(), as the comment above it says');
}

/** Ask the registry to link a blob it holds in another repository into this one, with no
 *  upload at all (spec: "Mounting a blob from another repository"). True when it did. */
export async function mountBlob(client: RegistryClient, repository: string, digest: string, fromRepository: string): Promise<boolean> {
  // Reading the source repository is part of the request: the token must cover both.
  // 202: the registry would not mount and opened an ordinary upload instead. The caller
  // uploads with uploadBlob, so close this session rather than leave it dangling.
  throw new Error('TODO (chapter 08): write mountBlob(), as the comment above it says');
}

/** Upload a blob in one request (spec: "Pushing a blob monolithically", POST then PUT):
 *  POST opens an upload session, the PUT to its Location carries all the bytes and the
 *  digest, which the registry checks before it accepts the blob. */
export async function uploadBlob(client: RegistryClient, repository: string, digest: string, size: number, open: () => Readable): Promise<void> {
  // The Location may be relative, and may already carry a query (the registry's state).
  throw new Error('TODO (chapter 08): write uploadBlob(), as the comment above it says');
}

/** PUT a manifest under a tag, last, once all its blobs are there (spec: "Pushing Manifests").
 *  Returns its digest. */
export async function putManifest(client: RegistryClient, repository: string, tag: string, mediaType: string, bytes: Buffer): Promise<string> {
  throw new Error('TODO (chapter 08): write putManifest(), as the comment above it says');
}

async function cancelUpload(client: RegistryClient, repository: string, location: string): Promise<void> {
  throw new Error('TODO (chapter 08): write cancelUpload()');
}
