//@ images..
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
 *  A push goes the other way: blobs first (skipping those the registry has), manifest last. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { formatReference, isDigest, registryApiHost, type Reference } from './reference.ts';

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

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
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

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  username?: string;
  password?: string;
  /** A docker-style config.json: {"auths": {"host:port": {"auth": base64("user:pass")}}}. */
  credentialsFile?: string;
  /** Hosts spoken to in plain HTTP, besides the loopback ones (docker's --insecure-registry). */
  insecureRegistries?: string[];
}

// ---------------------------------------------------------------- the client

/** Statuses after which the answer is elsewhere (Location). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

interface Call {
  method: string;
  url: string;
  /** Printed by --trace beside the request. */
  why: string;
  /** The token scopes the request needs ("repository:library/busybox:pull"). */
  scopes: string[];
  headers?: Record<string, string>;
  /** A factory, because a request refused with 401 is sent again, body and all. */
  body?: () => Readable | Buffer;
}

/** Talks to one registry: `new RegistryClient('docker.io')`. */
export class RegistryClient {
  /** The registry as references name it (docker.io), and where its API is served. */
  readonly registry: string;
  readonly apiHost: string;
  readonly baseUrl: string;
  private readonly credentials: Credentials | undefined;
  /** Set once the registry has asked for Basic auth: then every request carries it. */
  private useBasic = false;
  /** Bearer tokens already granted, by the scopes they were granted for. */
  private readonly tokens = new Map<string, string>();

  constructor(registry: string, options: RegistryOptions = {}) {
    this.registry = registry;
    this.apiHost = registryApiHost(registry);
    // Registries speak HTTPS. Plain HTTP only on loopback, or when the user says the host
    // is insecure: the same rule as docker's, so that a local test registry just works.
    const plain = LOOPBACK.has(hostnameOf(this.apiHost)) || isListed(options.insecureRegistries ?? [], registry, this.apiHost);
    this.baseUrl = `${plain ? 'http' : 'https'}://${this.apiHost}`;
    this.credentials =
      options.username !== undefined
        ? { username: options.username, password: options.password ?? '' }
        : options.credentialsFile !== undefined
          ? readCredentials(options.credentialsFile, registry, this.apiHost)
          : undefined;
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
    if (!res.ok) throw await this.failure(res, what, repository);
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
    if (!res.ok) throw await this.failure(res, `the tags of ${repository}`, repository);
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
    if (!res.ok) throw await this.failure(res, `blob ${digest}`, repository);
    const size = Number(res.headers.get('content-length') ?? Number.NaN);
    return { body: res.body, size };
  }

  // ------------------------------------------------------------ push

  /** Push one blob the cheapest way there is: not at all if the registry has it, by mount if
   *  another repository of the registry has it, else by upload. Says which it was. */
  async pushBlob(
    repository: string,
    blob: { digest: string; size: number },
    open: () => Readable,
    mountFrom?: string,
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    if (await this.hasBlob(repository, blob.digest)) return 'exists';
    if (mountFrom && (await this.mountBlob(repository, blob.digest, mountFrom))) return 'mounted';
    await this.uploadBlob(repository, blob.digest, blob.size, open);
    return 'uploaded';
  }

  /** HEAD a blob: a push skips what the registry already has
   *  (spec: "Checking if content exists in the registry"). */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.request({
      method: 'HEAD',
      url: this.url(repository, 'blobs', digest),
      why: `does the registry already have blob ${digest.slice(0, 19)}…? then we need not upload it`,
      scopes: [pushScope(repository)],
    });
    if (!res.ok && res.status !== 404) throw await this.failure(res, `blob ${digest}`, repository);
    res.discard();
    return res.ok;
  }

  /** Ask the registry to link a blob it holds in another repository into this one, with no
   *  upload at all (spec: "Mounting a blob from another repository"). True when it did. */
  async mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    const query = new URLSearchParams({ mount: digest, from: fromRepository });
    const res = await this.request({
      method: 'POST',
      url: `${this.url(repository, 'blobs', 'uploads/')}?${query}`,
      why: `mount blob ${digest.slice(0, 19)}… from ${fromRepository}, so its bytes need not travel`,
      scopes: [pushScope(repository), pullScope(fromRepository)],
    });
    if (res.status !== 201 && res.status !== 202) throw await this.failure(res, `mount of blob ${digest}`, repository);
    res.discard();
    if (res.status === 201) return true;
    // 202: the registry would not mount and opened an ordinary upload instead. The caller
    // uploads with uploadBlob, so close this session rather than leave it dangling.
    const location = res.headers.get('location');
    if (location) await this.cancelUpload(repository, new URL(location, res.url).href);
    return false;
  }

  /** Upload a blob in one request (spec: "Pushing a blob monolithically", POST then PUT):
   *  POST opens an upload session, the PUT to its Location carries all the bytes and the
   *  digest, which the registry checks before it accepts the blob. */
  async uploadBlob(repository: string, digest: string, size: number, open: () => Readable): Promise<void> {
    const start = await this.request({
      method: 'POST',
      url: this.url(repository, 'blobs', 'uploads/'),
      why: `open an upload session for blob ${digest.slice(0, 19)}…`,
      scopes: [pushScope(repository)],
    });
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw await this.failure(start, `upload of blob ${digest}`, repository);
    start.discard();

    // The Location may be relative, and may already carry a query (the registry's state).
    const target = new URL(location, start.url);
    target.searchParams.set('digest', digest);
    const res = await this.request({
      method: 'PUT',
      url: target.href,
      why: `send the ${size} bytes of blob ${digest.slice(0, 19)}… and close the session`,
      scopes: [pushScope(repository)],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: open,
    });
    if (res.status !== 201) throw await this.failure(res, `upload of blob ${digest}`, repository);
    res.discard();
  }

  /** PUT a manifest under a tag, last, once all its blobs are there (spec: "Pushing Manifests").
   *  Returns its digest. */
  async putManifest(repository: string, tag: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.request({
      method: 'PUT',
      url: this.url(repository, 'manifests', tag),
      why: `publish the manifest as ${repository}:${tag}; the registry checks that its blobs exist`,
      scopes: [pushScope(repository)],
      headers: { 'content-type': mediaType },
      body: () => bytes,
    });
    if (res.status !== 201) throw await this.failure(res, `manifest ${repository}:${tag}`, repository);
    res.discard();
    return digestOf(bytes, 'sha256');
  }

  private async cancelUpload(repository: string, location: string): Promise<void> {
    const res = await this.request({ method: 'DELETE', url: location, why: 'cancel the upload session the mount opened', scopes: [pushScope(repository)] });
    res.discard();
  }

  // ------------------------------------------------------------ HTTP and authentication

  private url(repository: string, kind: 'manifests' | 'blobs', name: string): string {
    return `${this.baseUrl}/v2/${repository}/${kind}/${name}`;
  }

  /** Send a request; on 401, answer the registry's challenge once and send it again. */
  private async request(call: Call): Promise<HttpResponse> {
    const first = await this.send(call, this.authorizationFor(call.scopes));
    if (first.status !== 401) return first;
    const challenge = first.headers.get('www-authenticate') ?? '';
    first.discard();
    const authorization = await this.answerChallenge(challenge, call.scopes);
    const second = await this.send(call, authorization);
    if (second.status === 401) {
      second.discard();
      throw this.unauthorized();
    }
    return second;
  }

  /** What we already know to send: Basic credentials, or a token granted for these scopes. */
  private authorizationFor(scopes: string[]): string | undefined {
    if (this.useBasic && this.credentials) return basicAuthorization(this.credentials);
    const token = this.tokens.get(scopes.join(' '));
    return token ? `Bearer ${token}` : undefined;
  }

  /** A 401 names how to authenticate in WWW-Authenticate (RFC 7235). Registries use two:
   *  Basic (send the password with every request), and Bearer, Docker's "Token
   *  Authentication Specification": ask the token server named by `realm` for a token
   *  valid for `service` and `scope`, giving it our credentials if we have any. Docker Hub
   *  grants anonymous tokens for public images. */
  private async answerChallenge(challenge: string, scopes: string[]): Promise<string> {
    const scheme = challenge.split(' ')[0]!.toLowerCase();
    const params = challengeParams(challenge);
    if (scheme === 'basic') {
      if (!this.credentials) throw this.unauthorized();
      traceStep(`Authorization: Basic (${this.credentials.username})`, 'the registry asked for a password: send it with this and every later request');
      this.useBasic = true;
      return basicAuthorization(this.credentials);
    }
    if (scheme !== 'bearer' || !params.realm) {
      throw new UserError(`${this.registry} asks for an authentication we do not know: "${challenge || 'none given'}"`);
    }
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    // The challenge names the scope of this request; a mount also needs the source repository.
    for (const scope of new Set([...(params.scope?.split(' ') ?? []), ...scopes])) tokenUrl.searchParams.append('scope', scope);

    const res = await this.send(
      { method: 'GET', url: tokenUrl.href, why: `get a token for ${scopes.join(' ')}${this.credentials ? ` as ${this.credentials.username}` : ', anonymously'}`, scopes: [] },
      this.credentials && basicAuthorization(this.credentials),
    );
    if (res.status === 401 || res.status === 403) {
      res.discard();
      throw this.unauthorized();
    }
    if (!res.ok) throw await this.failure(res, 'a token', '');
    // The token server answers {"token": …}; OAuth2-style servers say "access_token".
    const answer = (await res.json()) as { token?: string; access_token?: string };
    const token = answer.token ?? answer.access_token;
    if (!token) throw new UserError(`the token server ${tokenUrl.host} of ${this.registry} sent no token`);
    this.tokens.set(scopes.join(' '), token);
    return `Bearer ${token}`;
  }

  /** One HTTP exchange, following redirects by hand so that --trace shows each hop and our
   *  credentials never travel to another host (blobs are often redirected to a CDN, whose
   *  signed URL is all the authorization it needs). */
  private async send(call: Call, authorization: string | undefined): Promise<HttpResponse> {
    let url = call.url;
    for (let hop = 0; ; hop++) {
      const headers = { ...call.headers, ...(authorization && { authorization }) };
      let res: HttpResponse;
      try {
        res = await httpExchange(url, call.method, headers, call.body?.());
      } catch (err) {
        throw this.unreachable(err, url);
      }
      traceStep(`${call.method} ${shortUrl(url)} → ${res.status}`, hop === 0 ? call.why : 'the registry sent us elsewhere: follow');
      const location = res.headers.get('location');
      const follow = REDIRECTS.has(res.status) && location && (call.method === 'GET' || call.method === 'HEAD');
      if (!follow || hop === MAX_REDIRECTS) return res;
      res.discard();
      const next = new URL(location, url);
      if (next.origin !== new URL(url).origin) authorization = undefined;
      url = next.href;
    }
  }

  // ------------------------------------------------------------ errors, one line each

  private unauthorized(): UserError {
    const hint = this.credentials ? '' : ' (none were given; or the repository does not exist)';
    return new UserError(`wrong or missing credentials for ${this.registry}${hint}`);
  }

  /** A request that got no answer: the reason is in the socket's error code. */
  private unreachable(err: unknown, url: string): UserError {
    const cause = ((err as { cause?: unknown }).cause ?? err) as { code?: string; message?: string };
    // OpenSSL's messages run over lines and name its source files; its error code says it all.
    const message = cause?.message ?? (err as Error).message;
    const reason = message.includes(':error:') && cause?.code ? cause.code : message.split('\n')[0]!;
    const tls = /^ERR_SSL|^ERR_TLS|^EPROTO$|CERT|^DEPTH_ZERO|^UNABLE_TO/.test(cause?.code ?? '');
    if (tls && url.startsWith('https:')) {
      return new UserError(
        `TLS handshake with ${this.apiHost} failed (${reason}): if it is a plain-HTTP registry, allow it with --insecure-registry ${this.registry}`,
      );
    }
    return new UserError(`cannot reach registry ${this.registry}: ${reason}`);
  }

  /** A non-2xx answer as one line. The body, when there is one, is the spec's error JSON
   *  {"errors": [{"code", "message", "detail"}]} (spec: "Error Codes"). */
  private async failure(res: HttpResponse, what: string, repository: string): Promise<RegistryError> {
    let code = '';
    let message = '';
    try {
      const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
      code = body.errors?.[0]?.code ?? '';
      message = body.errors?.[0]?.message ?? '';
    } catch {
      // HEAD answers and proxies' error pages have no error JSON: the status says enough.
    }
    const error = (line: string) => new RegistryError(line, code || String(res.status), res.status);
    if (code === 'NAME_UNKNOWN') return error(`repository ${repository} not found on ${this.registry}`);
    if (res.status === 404) return error(`${what} not found on ${this.registry}`);
    if (res.status === 401) return error(this.unauthorized().message);
    if (code === 'DENIED' || res.status === 403) return error(`access to ${repository || what} on ${this.registry} denied${message ? `: ${message}` : ''}`);
    if (res.status === 429) return error(`${this.registry} is rate limiting us (429 Too Many Requests): wait a while, or log in for a higher limit`);
    const detail = code ? `: ${code}${message ? ` (${message})` : ''}` : '';
    return error(`${this.registry} answered ${res.status} ${res.statusText} for ${what}${detail}`);
  }
}

/** A refusal from the registry: the one-line message, plus the spec's error code (or the
 *  HTTP status when the answer had none) for callers that handle some codes themselves. */
export class RegistryError extends UserError {
  readonly code: string;
  readonly status: number;
  constructor(message: string, code: string, status: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// ---------------------------------------------------------------- digests

/** `sha256:<hex>` of some bytes: the name of content in a registry. */
export function digestOf(bytes: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

// ---------------------------------------------------------------- platforms

/** The platform of this machine in the OCI spelling (Node says x64, OCI says amd64). */
export function defaultPlatform(): Platform {
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', mipsel: 'mipsle' };
  const architecture = names[process.arch] ?? process.arch;
  const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
  return { os: 'linux', architecture, ...(architecture === 'arm' && armVersion && { variant: `v${armVersion}` }) };
}

/** `linux/arm64` or `linux/arm/v7`, as given to --platform. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, ...extra] = s.split('/');
  if (!os || !architecture || variant === '' || extra.length > 0) {
    throw new UserError(`invalid platform "${s}": expected os/architecture[/variant], such as linux/arm64`);
  }
  return { os, architecture, ...(variant && { variant }) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Pick the index entry for a platform. Without a variant asked for, any variant will do;
 *  arm64 without a variant means v8, as in containerd's platform matcher. */
export function selectPlatform(index: ImageIndex, wanted: Platform, name: string): Descriptor {
  const variantOf = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : '');
  const match = index.manifests.find(
    ({ platform: p }) =>
      p !== undefined && p.os === wanted.os && p.architecture === wanted.architecture && (wanted.variant === undefined || variantOf(p) === variantOf(wanted)),
  );
  if (match) return match;
  const available = index.manifests
    .map((m) => m.platform)
    .filter((p): p is Platform => p !== undefined && p.os !== 'unknown')
    .map(formatPlatform);
  throw new UserError(`${name} has no image for ${formatPlatform(wanted)} (available: ${available.join(', ') || 'none'})`);
}

// ---------------------------------------------------------------- small helpers

function isIndex(m: FetchedManifest): boolean {
  return INDEX_TYPES.includes(m.mediaType);
}

function imageParts(m: FetchedManifest): Omit<ResolvedImage, 'reference'> {
  const manifest = m.manifest as ImageManifest;
  return { manifestDigest: m.digest, manifest, manifestBytes: m.bytes, mediaType: m.mediaType, config: manifest.config, layers: manifest.layers };
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` → its parameters. */
function challengeParams(challenge: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of challenge.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) params[key!.toLowerCase()] = quoted ?? bare ?? '';
  return params;
}

/** The host name without the port: `[::1]:5000` → `::1`, `localhost:5000` → `localhost`. */
function hostnameOf(host: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(host);
  return bracketed ? bracketed[1]! : host.replace(/:\d+$/, '');
}

function isListed(list: string[], ...hosts: string[]): boolean {
  return hosts.some((host) => list.includes(host) || list.includes(hostnameOf(host)));
}

/** The upload session's state rides in the query string, and is long: shorten it for traces. */
function shortUrl(url: string): string {
  return url.replace(/=([^&]{40})[^&]+/g, '=$1…');
}

/** Credentials from a docker-style config.json. Its keys may be `host:port` or a URL
 *  (`https://index.docker.io/v1/` is how docker names Docker Hub). */
function readCredentials(file: string, registry: string, apiHost: string): Credentials | undefined {
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read the credentials file ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const names = registry === 'docker.io' ? ['docker.io', 'index.docker.io', apiHost] : [registry];
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!names.includes(key.replace(/^https?:\/\//, '').split('/')[0]!)) continue;
    if (entry.username !== undefined) return { username: entry.username, password: entry.password ?? '' };
    if (!entry.auth) continue;
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new UserError(`the credentials for ${key} in ${file} are not base64("user:password")`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

// ------------------------------------------------------------ one HTTP exchange

/** What the client needs of an HTTP answer. It is made with node:http, not fetch(): fetch
 *  loads undici, some 40 MB of memory for a handful of requests, and it would also ask for
 *  gzip'd bodies, which a blob must never be (its digest is over the bytes as stored). */
interface HttpResponse {
  url: string;
  status: number;
  statusText: string;
  ok: boolean;
  headers: { get(name: string): string | null };
  /** The body, streamed. */
  body: Readable;
  bytes(): Promise<Buffer>;
  json(): Promise<unknown>;
  /** Read and drop the body. Every answer must be read or dropped: until its body has
   *  ended, its connection stays open and keeps the engine from exiting. */
  discard(): void;
}

function httpExchange(url: string, method: string, headers: Record<string, string>, body: Readable | Buffer | undefined): Promise<HttpResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const bytes = async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      };
      resolve({
        url,
        status,
        statusText: res.statusMessage ?? '',
        ok: status >= 200 && status < 300,
        headers: {
          get: (name) => {
            const value = res.headers[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
          },
        },
        body: res,
        bytes,
        json: async () => JSON.parse((await bytes()).toString('utf8')),
        discard: () => void res.resume(),
      });
    });
    req.on('error', reject);
    if (body instanceof Readable) {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}
