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
  return new Digester(algorithm).update(bytes).digest();
}

/** The same name for bytes that go by in chunks, never held whole (a blob as it downloads, a
 *  layer's tar as it unpacks): update() with every chunk, then digest() once, at the end. */
export class Digester {
  readonly #algorithm: string;
  readonly #hash: Hash;
  constructor(algorithm = 'sha256') {
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  update(chunk: Uint8Array | string): this {
    this.#hash.update(chunk);
    return this;
  }

  digest(): string {
    return `${this.#algorithm}:${this.#hash.digest('hex')}`;
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
    const endpoint = endpointOf(registry, options.insecureRegistries ?? []);
    this.registry = endpoint.registry;
    this.apiHost = endpoint.apiHost;
    this.baseUrl = endpoint.baseUrl;
    this.#auth = new Authenticator(endpoint, options);
  }

  // ------------------------------------------------------------ pull: manifests

  /** Steps 1 to 3 of a pull: from a reference to the manifest of one platform's image. */
  async resolveImage(ref: Reference, platform: Platform = defaultPlatform()): Promise<ResolvedImage> {
    const name = formatReference(ref);
    const top = await this.fetchManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
    if (!isIndex(top)) return { reference: ref, ...imageParts(top) };

    // Step 3: an index. Its entries carry a platform; the one we want is fetched by digest.
    const entry = selectPlatform(top.manifest as ImageIndex, platform, name);
    traceStep(`choose ${entry.digest}`, `the ${formatPlatform(platform)} entry of the index ${top.digest}`);
    const image = await this.fetchManifest(ref.repository, entry.digest);
    if (isIndex(image)) throw new UserError(`${name}: the ${formatPlatform(platform)} entry is another index, which we do not follow`);
    return { reference: ref, ...imageParts(image), indexDigest: top.digest, platform: entry.platform ?? platform };
  }

  /** GET a manifest by tag or digest, and check it is what its digest says
   *  (spec: "Pulling manifests"). */
  async fetchManifest(repository: string, tagOrDigest: string): Promise<FetchedManifest> {
    const byDigest = isDigest(tagOrDigest);
    const res = await this.request({
      method: 'GET',
      url: this.url(repository, 'manifests', tagOrDigest),
      why: byDigest
        ? `ask for the manifest ${tagOrDigest.slice(0, 19)}…, whose hash we already know`
        : `ask for the manifest of tag ${tagOrDigest}, any of the four media types`,
      scopes: [pullScope(repository)],
      // The registry only returns a format the client lists (and may convert the others):
      // so we list every format we can read.
      headers: { accept: Object.values(MEDIA_TYPES).join(', ') },
    });
    const what = byDigest ? `manifest ${repository}@${tagOrDigest}` : `tag ${tagOrDigest} of ${repository}`;
    if (res.status === 404 && !byDigest) {
      // The registry says MANIFEST_UNKNOWN for a missing tag and a missing repository alike:
      // the list of tags tells the two apart, and gives the user something to choose from.
      res.discard();
      const tags = await this.listTags(repository).catch((err: Error) => err);
      if (tags instanceof RegistryError && tags.code === 'NAME_UNKNOWN') throw tags;
      const some = Array.isArray(tags) ? ` (its tags: ${tags.slice(0, 8).join(', ') || 'none'}${tags.length > 8 ? ', …' : ''})` : '';
      throw new RegistryError(`${what} not found on ${this.registry}${some}`, 'MANIFEST_UNKNOWN', 404);
    }
    if (!res.ok) throw await failure(this, res, what, repository);
    const bytes = await res.bytes();

    // Step 2: the digest is the hash of these exact bytes, not of the JSON re-serialised.
    const algorithm = byDigest ? tagOrDigest.split(':')[0]! : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (byDigest && digest !== tagOrDigest) {
      throw new UserError(`manifest ${tagOrDigest} from ${this.registry} does not match its digest (its bytes hash to ${digest})`);
    }
    const announced = res.headers.get('docker-content-digest');
    if (!byDigest && announced && announced.startsWith(`${algorithm}:`) && announced !== digest) {
      throw new UserError(`${what} from ${this.registry} does not match the digest the registry announced (${announced})`);
    }

    let manifest: ImageManifest | ImageIndex;
    try {
      manifest = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new UserError(`${what} from ${this.registry} is not valid JSON`);
    }
    // The Content-Type says which of the four formats this is: the document itself may
    // not (the mediaType field is optional in OCI manifests, and umoci leaves it out).
    const contentType = res.headers.get('content-type')?.split(';')[0]!.trim() ?? '';
    const mediaType = [...MANIFEST_TYPES, ...INDEX_TYPES].includes(contentType) ? contentType : (manifest.mediaType ?? contentType);
    const fetched = { mediaType, digest, bytes, manifest };
    const wellFormed = isIndex(fetched)
      ? Array.isArray((manifest as ImageIndex).manifests)
      : MANIFEST_TYPES.includes(mediaType) && Array.isArray((manifest as ImageManifest).layers) && (manifest as ImageManifest).config !== undefined;
    if (!wellFormed) throw new UserError(`${what} from ${this.registry} is not an image manifest or index we can read (${mediaType || 'no media type'})`);
    return fetched;
  }

  /** The tags of a repository (spec: "Content discovery", listing tags). */
  async listTags(repository: string): Promise<string[]> {
    const res = await this.request({
      method: 'GET',
      url: `${this.baseUrl}/v2/${repository}/tags/list`,
      why: `list the tags of ${repository}`,
      scopes: [pullScope(repository)],
    });
    if (!res.ok) throw await failure(this, res, `the tags of ${repository}`, repository);
    return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
  }

  // ------------------------------------------------------------ pull: blobs

  /** Step 4: GET a blob (spec: "Pulling blobs"). The body streams: a layer can be gigabytes. */
  async fetchBlob(repository: string, digest: string): Promise<BlobStream> {
    const res = await this.request({
      method: 'GET',
      url: this.url(repository, 'blobs', digest),
      why: `download blob ${digest.slice(0, 19)}…`,
      scopes: [pullScope(repository)],
    });
    if (!res.ok) throw await failure(this, res, `blob ${digest}`, repository);
    const size = Number(res.headers.get('content-length') ?? Number.NaN);
    return { body: res.body, size };
  }

  /** Step 4 for a small blob (the config): its bytes, held in memory. It is read no further
   *  than the size its descriptor gives, and checked against its digest before anyone reads it. */
  async fetchBlobBytes(repository: string, blob: Descriptor): Promise<Buffer> {
    const { body } = await this.fetchBlob(repository, blob.digest);
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > blob.size) {
        body.destroy();
        throw new UserError(`blob ${blob.digest}: more than the ${blob.size} bytes announced`);
      }
      chunks.push(chunk);
    }
    if (received !== blob.size) throw new UserError(`blob ${blob.digest}: got ${received} bytes, ${blob.size} announced`);
    const bytes = Buffer.concat(chunks);
    const actual = digestOf(bytes, blob.digest.split(':')[0]);
    if (actual !== blob.digest) throw new UserError(`blob ${blob.digest}: its content hashes to ${actual} — corrupted or tampered with, not kept`);
    return bytes;
  }

  // ------------------------------------------------------------ requests

  /** The URL of a manifest or a blob of a repository (spec: "Endpoints"). */
  url(repository: string, kind: 'manifests' | 'blobs', name: string): string {
    return `${this.baseUrl}/v2/${repository}/${kind}/${name}`;
  }

  /** Send one request that needs `call.scopes`, authenticating as the registry asks (auth.ts)
   *  and answered over HTTP (http.ts). Every step of the protocol is one of these. */
  request(call: ScopedRequest): Promise<HttpResponse> {
    return this.#auth.request(call);
  }
}

// ---------------------------------------------------------------- small helpers

function isIndex(m: FetchedManifest): boolean {
  return INDEX_TYPES.includes(m.mediaType);
}

function imageParts(m: FetchedManifest): Omit<ResolvedImage, 'reference'> {
  const manifest = m.manifest as ImageManifest;
  return { manifestDigest: m.digest, manifest, manifestBytes: m.bytes, mediaType: m.mediaType, config: manifest.config, layers: manifest.layers };
}
