/** Chapter 05 · the registry protocol: how an image travels over HTTP. A registry stores
 *  two kinds of things per repository: manifests (small JSON documents, named by tag or by
 *  digest) and blobs (the image config and the layer tarballs, named by digest only).
 *  Everything is content-addressed: the name of a blob is the sha256 of its bytes, so the
 *  client checks every byte it receives. The rules are the OCI Distribution Specification
 *  (github.com/opencontainers/distribution-spec, spec.md); section names are cited below.
 *
 *  A pull, step by step (see resolveImage and fetchBlob):
 *    1. GET /v2/<name>/manifests/<tag>, listing in Accept the four manifest types we read.
 *       A 401 answer carries a challenge: fetch a token (or use Basic auth) and ask again.
 *    2. Hash the manifest's bytes: that is the image's digest. Asked by digest, it must match.
 *    3. An index (multi-platform image) lists one manifest per platform: pick ours and
 *       fetch it by digest (back to step 1 and 2).
 *    4. GET /v2/<name>/blobs/<digest> for the config, then for each layer, following redirects
 *       to wherever the registry keeps its bytes. The store (store.ts) hashes them as they
 *       stream to disk, and keeps a blob only if it matches its digest.
 *  Beside this file: http.ts (one HTTP exchange, its redirects, its errors in one line),
 *  auth.ts (step 1's 401: challenges, tokens, credentials), platform.ts (step 3's choice). */
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { Authenticator, pullScope, type CredentialOptions, type ScopedRequest } from './auth.ts';
import { endpointOf, failure, RegistryError, type HttpResponse, type RegistryEndpoint } from './http.ts';
import { defaultPlatform, formatPlatform, selectPlatform, type Platform } from './platform.ts';
import { formatReference, isDigest, type Reference } from './reference.ts';

// ---------------------------------------------------------------- what a registry serves

/** The four manifest formats in use. Docker's came first; OCI's are the standardised copy. */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList];

/** A pointer to content: its type, its digest and its size (OCI image spec, "Descriptors"). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** One image for one platform: its config and its layers, bottom layer first. */
export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** A multi-platform image: one manifest per platform (Docker calls it a manifest list). */
export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

/** The parts of the image config (OCI image spec, "Image Configuration") a runtime uses. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    User?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  manifest: ImageManifest | ImageIndex;
}

export interface ResolvedImage {
  reference: Reference;
  /** The digest of the platform's manifest: the image's identity. */
  manifestDigest: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  /** When the reference named an index: its digest and the platform we took from it. */
  indexDigest?: string;
  platform?: Platform;
}

export interface BlobStream {
  body: Readable;
  /** From Content-Length: NaN when the registry did not say. */
  size: number;
}

/** How to reach a registry: who we are (auth.ts), and which hosts speak plain HTTP (http.ts). */
export interface RegistryOptions extends CredentialOptions {
  /** Hosts spoken to in plain HTTP, besides the loopback ones (docker's --insecure-registry). */
  insecureRegistries?: string[];
}

// ---------------------------------------------------------------- digests

/** `sha256:<hex>` of some bytes: the name of content in a registry, and so in the store, whose
 *  blobs are named as the registry names them. Declared here, where a pull first needs it
 *  (step 2: the image's digest is the hash of its manifest's bytes); the store, the layer's
 *  diff id and commit use it too, so that a digest is built one way only. */
export function digestOf(bytes: Uint8Array | string, algorithm = 'sha256'): string {
  throw new Error('TODO (chapter 05): write digestOf(), as the comment above it says');
}

/** The same name for bytes that go by in chunks, never held whole (a blob as it downloads, a
 *  layer's tar as it unpacks): update() with every chunk, then digest() once, at the end. */
export class Digester {
  readonly #algorithm: string;
  readonly #hash: Hash;
  constructor(algorithm = 'sha256') {
    throw new Error('TODO (chapter 05): write Digester.constructor()');
  }

  update(chunk: Uint8Array | string): this {
    throw new Error('TODO (chapter 05): write Digester.update()');
  }

  digest(): string {
    throw new Error('TODO (chapter 05): write Digester.digest()');
  }
}

// ---------------------------------------------------------------- the client

/** Talks to one registry: `new RegistryClient('docker.io')`. */
export class RegistryClient implements RegistryEndpoint {
  /** The registry as references name it (docker.io), and where its API is served. */
  readonly registry: string;
  readonly apiHost: string;
  readonly baseUrl: string;
  /** Sends our requests, and answers the registry's 401s (auth.ts). */
  readonly #auth: Authenticator;

  constructor(registry: string, options: RegistryOptions = {}) {
    throw new Error('TODO (chapter 05): write RegistryClient.constructor()');
  }

  // ------------------------------------------------------------ pull: manifests

  /** Steps 1 to 3 of a pull: from a reference to the manifest of one platform's image. */
  async resolveImage(ref: Reference, platform: Platform = defaultPlatform()): Promise<ResolvedImage> {
    // Step 3: an index. Its entries carry a platform; the one we want is fetched by digest.
    throw new Error('TODO (chapter 05): write RegistryClient.resolveImage(), as the comment above it says');
  }

  /** GET a manifest by tag or digest, and check it is what its digest says
   *  (spec: "Pulling manifests"). */
  async fetchManifest(repository: string, tagOrDigest: string): Promise<FetchedManifest> {
    // The registry only returns a format the client lists (and may convert the others):
    // so we list every format we can read.
    // The registry says MANIFEST_UNKNOWN for a missing tag and a missing repository alike:
    // the list of tags tells the two apart, and gives the user something to choose from.
    // Step 2: the digest is the hash of these exact bytes, not of the JSON re-serialised.
    // The Content-Type says which of the four formats this is: the document itself may
    // not (the mediaType field is optional in OCI manifests, and umoci leaves it out).
    throw new Error('TODO (chapter 05): write RegistryClient.fetchManifest(), as the comment above it says');
  }

  /** The tags of a repository (spec: "Content discovery", listing tags). */
  async listTags(repository: string): Promise<string[]> {
    throw new Error('TODO (chapter 05): write RegistryClient.listTags(), as the comment above it says');
  }

  // ------------------------------------------------------------ pull: blobs

  /** Step 4: GET a blob (spec: "Pulling blobs"). The body streams: a layer can be gigabytes. */
  async fetchBlob(repository: string, digest: string): Promise<BlobStream> {
    throw new Error('TODO (chapter 05): write RegistryClient.fetchBlob(), as the comment above it says');
  }

  /** Step 4 for a small blob (the config): its bytes, held in memory. It is read no further
   *  than the size its descriptor gives, and checked against its digest before anyone reads it. */
  async fetchBlobBytes(repository: string, blob: Descriptor): Promise<Buffer> {
    throw new Error('TODO (chapter 05): write RegistryClient.fetchBlobBytes(), as the comment above it says');
  }

  // ------------------------------------------------------------ requests

  /** The URL of a manifest or a blob of a repository (spec: "Endpoints"). */
  url(repository: string, kind: 'manifests' | 'blobs', name: string): string {
    throw new Error('TODO (chapter 05): write RegistryClient.url(), as the comment above it says');
  }

  /** Send one request that needs `call.scopes`, authenticating as the registry asks (auth.ts)
   *  and answered over HTTP (http.ts). Every step of the protocol is one of these. */
  request(call: ScopedRequest): Promise<HttpResponse> {
    throw new Error('TODO (chapter 05): write RegistryClient.request(), as the comment above it says');
  }
}

// ---------------------------------------------------------------- small helpers

function isIndex(m: FetchedManifest): boolean {
  throw new Error('TODO (chapter 05): write isIndex()');
}

function imageParts(m: FetchedManifest): Omit<ResolvedImage, 'reference'> {
  throw new Error('TODO (chapter 05): write imageParts()');
}
