//@ daemon..
/** Chapter 11 · the image endpoints: what `docker pull`, `images`, `image inspect`, `history`,
 *  `tag`, `rmi`, `push` and `commit` ask the daemon. Each is a verb of the earlier chapters
 *  (pullImage, pushImage, tagImage, commitContainer, the store), answered the way dockerd
 *  answers, since the docker CLI prints what it gets:
 *    - an image's ID is the digest of its config (the store keeps images by name: one ID may
 *      have several names, and `rmi` of one name only untags while others remain);
 *    - names are shown short, as docker writes them: docker.io/library/busybox:latest is
 *      `busybox:latest`, 127.0.0.1:5000/app:v1 stays as it is;
 *    - pull and push answer with a stream of JSON lines, one per step of each layer, which the
 *      CLI draws as progress bars on a terminal and prints as lines into a pipe. A failure
 *      before the stream began is an ordinary HTTP error; after, it is the stream's last line.
 *  Lesson: docs/11-daemon.md */
import { lstatSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { detectCgroups } from './cgroups.ts';
import { commitContainer, tagImage } from './commit.ts';
import { ApiError, sendJSON, startJSONStream, type ApiRequest, type Route } from './daemon.ts';
import { pullImage, type TransferEvent } from './image.ts';
import { parsePlatform } from './platform.ts';
import { pushImage } from './push.ts';
import { DOCKER_HUB, formatReference, isDigest, parseReference, type Reference } from './reference.ts';
import type { ImageConfig, ImageManifest } from './registry.ts';
import { readState } from './state.ts';
import { findContainerDirs, listContainers } from './storage.ts';
import { Store, type ImageEntry } from './store.ts';

/** The config as dockerd reports it: what a runtime reads (ImageConfig), and the rest. */
interface FullConfig extends ImageConfig {
  created?: string;
  author?: string;
  comment?: string;
  config?: ImageConfig['config'] & { Labels?: Record<string, string>; ExposedPorts?: Record<string, object> };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

/** One image as docker sees it: an ID (its config's digest) and every name that points to it. */
export interface LocalImage {
  id: string;
  /** The store's entries for it, one per name: usually the same manifest, but the same config
   *  pulled as OCI and as Docker schema 2 has two. */
  entries: ImageEntry[];
}

/** Open the store for one request, and close it whatever happens. */
async function withStore<T>(work: (store: Store) => T | Promise<T>): Promise<T> {
  const store = await Store.open();
  try {
    return await work(store);
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------- names, as docker shows them

/** docker's short name: `busybox` for docker.io/library/busybox, `org/app` for
 *  docker.io/org/app; a name on any other registry keeps its host. */
export function familiarName(ref: Reference): string {
  if (ref.registry !== DOCKER_HUB) return `${ref.registry}/${ref.repository}`;
  const official = /^library\/[^/]+$/.test(ref.repository);
  return official ? ref.repository.slice('library/'.length) : ref.repository;
}

/** The short name with its tag or digest: `busybox:latest`, `busybox@sha256:…`. */
export function familiarString(ref: Reference): string {
  return `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The first 12 hex digits of a digest or an ID: how docker shortens them everywhere. */
function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

function tagsOf(image: LocalImage): string[] {
  return image.entries.map((e) => parseReference(e.ref)).filter((r) => r.tag !== undefined).map(familiarString);
}

/** `name@sha256:<manifest>` for each repository the image is in: the digest a registry serves
 *  it under there (a committed image gets it too: a push sends the manifest's bytes as they are). */
function digestsOf(image: LocalImage): string[] {
  const digests = image.entries.map((e) => `${familiarName(parseReference(e.ref))}@${e.manifestDigest}`);
  return [...new Set(digests)];
}

// ---------------------------------------------------------------- finding images

/** Every image in the store, by ID. */
function imagesById(store: Store): Map<string, LocalImage> {
  const images = new Map<string, LocalImage>();
  for (const entry of store.listImages()) {
    const id = entry.configDigest;
    if (!images.has(id)) images.set(id, { id, entries: [] });
    images.get(id)!.entries.push(entry);
  }
  return images;
}

/** The store's entries that `name` names: the name itself (`busybox` is busybox:latest), or,
 *  for `name@sha256:…`, the names in that repository whose manifest has that digest. None
 *  when `name` is no name at all (an ID, say). */
function entriesNamed(entries: ImageEntry[], name: string): ImageEntry[] {
  let ref: Reference;
  try {
    ref = parseReference(name);
  } catch {
    return []; // an ID prefix can look like an invalid name
  }
  if (!ref.digest) return entries.filter((e) => e.ref === formatReference(ref));
  return entries.filter((e) => {
    const other = parseReference(e.ref);
    return other.registry === ref.registry && other.repository === ref.repository && e.manifestDigest === ref.digest;
  });
}

/** The image `name` means, in dockerd's order: a full ID, a name, then a prefix of an ID
 *  (`docker rmi 1a2b`). Unknown, it is a 404 "No such image", on which `docker run` pulls.
 *  Its `entries[0].ref` is a name the store knows it by (for layerDirs, say). */
export function findImage(store: Store, name: string): LocalImage {
  const images = imagesById(store);
  const hex = /^(?:sha256:)?([0-9a-f]+)$/.exec(name)?.[1];
  const byId = hex?.length === 64 ? images.get(`sha256:${hex}`) : undefined;
  if (byId) return byId;
  const named = entriesNamed(store.listImages(), name)[0];
  if (named) return images.get(named.configDigest)!;
  if (hex !== undefined && hex.length < 64) {
    const matches = [...images.values()].filter((image) => image.id.startsWith(`sha256:${hex}`));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new ApiError(400, `ambiguous image ID "${name}": ${matches.length} images start with it, give more of it`);
  }
  let shown = name;
  try {
    if (hex === undefined) shown = familiarString(parseReference(name)); // dockerd says "busybox:latest"
  } catch {
    // not a name either: say it as it was given
  }
  throw new ApiError(404, `No such image: ${shown}`);
}

// ---------------------------------------------------------------- sizes

/** Layers never change once unpacked: their sizes are measured once per daemon. */
const layerSizes = new Map<string, number>();

/** A layer's size as dockerd counts it: the bytes of its files, each hard-linked file once,
 *  directories not at all. The image's Size is that of its layers, unpacked. */
function layerSize(store: Store, diffId: string): number {
  let size = layerSizes.get(diffId);
  if (size === undefined) {
    const inodes = new Set<number>();
    let total = 0;
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          walk(path);
          continue;
        }
        const stat = lstatSync(path);
        if (inodes.has(stat.ino)) continue;
        inodes.add(stat.ino);
        total += stat.size;
      }
    };
    try {
      walk(store.layerPath(diffId));
    } catch {
      return 0; // a layer missing from the store: `run` says so; a listing need not fail
    }
    layerSizes.set(diffId, total);
    size = total;
  }
  return size;
}

function imageSize(store: Store, image: LocalImage): number {
  return image.entries[0]!.layers.reduce((sum, diffId) => sum + layerSize(store, diffId), 0);
}

// ---------------------------------------------------------------- GET /images/json

/** `filters={"reference":{"busybox":true}}` (or the older `{"reference":["busybox"]}`). */
function parseFilters(text: string | null): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  if (!text) return filters;
  let parsed: Record<string, string[] | Record<string, boolean>>;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid filters: not JSON');
  }
  for (const [key, values] of Object.entries(parsed)) {
    filters.set(key, Array.isArray(values) ? values : Object.keys(values).filter((v) => values[v]));
  }
  return filters;
}

/** A `reference` filter is a shell pattern, matched against the short name with and without
 *  its tag (`busybox`, `busybox:1.*`); `*` stops at a "/", as in Go's path.Match. */
function matchesPattern(pattern: string, ref: Reference): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  const regex = new RegExp(`^${source}$`);
  return regex.test(familiarName(ref)) || regex.test(familiarString(ref));
}

function listImages({ query, response }: ApiRequest): Promise<void> {
  const filters = parseFilters(query.get('filters'));
  for (const key of filters.keys()) if (key !== 'reference' && key !== 'dangling') throw new ApiError(400, `invalid filter '${key}'`);
  const patterns = filters.get('reference');
  const dangling = filters.get('dangling')?.[0];
  return withStore((store) => {
    const summaries = [];
    for (const image of imagesById(store).values()) {
      if (dangling === 'true' && tagsOf(image).length > 0) continue;
      if (dangling === 'false' && tagsOf(image).length === 0) continue;
      // Only the names that match are listed, as dockerd does: `docker images busybox` shows
      // busybox's rows, not the other names the same image has.
      const named = patterns ? { id: image.id, entries: image.entries.filter((e) => patterns.some((p) => matchesPattern(p, parseReference(e.ref)))) } : image;
      if (named.entries.length === 0) continue;
      const entry = image.entries[0]!;
      const config = store.readJSON<FullConfig>(image.id);
      summaries.push({
        Containers: -1, // dockerd counts them only when asked (`docker system df`)
        Created: Math.floor(Date.parse(entry.created) / 1000),
        Id: image.id,
        Labels: config.config?.Labels ?? {},
        ParentId: '',
        RepoDigests: digestsOf(named),
        RepoTags: tagsOf(named),
        SharedSize: -1,
        Size: imageSize(store, image),
      });
    }
    summaries.sort((a, b) => b.Created - a.Created); // newest first, as dockerd lists them
    sendJSON(response, 200, summaries);
  });
}

// ---------------------------------------------------------------- GET /images/{name}/json

function inspectImage({ params: [name], response }: ApiRequest): Promise<void> {
  return withStore((store) => {
    const image = findImage(store, name!);
    const config = store.readJSON<FullConfig>(image.id);
    const entry = image.entries[0]!;
    sendJSON(response, 200, {
      Id: image.id,
      RepoTags: tagsOf(image),
      RepoDigests: digestsOf(image),
      Parent: '',
      // `docker commit -m`: commit.ts keeps it in the history entry of the new layer.
      Comment: config.comment ?? config.history?.at(-1)?.comment ?? '',
      Created: config.created ?? entry.created,
      DockerVersion: '',
      Author: config.author ?? '',
      // What `run` starts from: the image config's own `config`, with dockerd's empty values.
      Config: { User: '', Env: null, Cmd: null, WorkingDir: '', Entrypoint: null, Labels: null, OnBuild: null, Volumes: null, ...config.config },
      Architecture: config.architecture,
      ...(config.variant && { Variant: config.variant }),
      Os: config.os,
      Size: imageSize(store, image),
      // Where the layers are: overlayfs's lower dirs for a container of this image, top first.
      GraphDriver: { Name: 'overlay', Data: { LowerDir: [...entry.layers].reverse().map((d) => store.layerPath(d)).join(':') } },
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    });
  });
}

// ---------------------------------------------------------------- GET /images/{name}/history

/** `docker history`: the config's history, newest first. The entries that are not
 *  `empty_layer` pair, in order, with the layers. */
function imageHistory({ params: [name], response }: ApiRequest): Promise<void> {
  return withStore((store) => {
    const image = findImage(store, name!);
    const config = store.readJSON<FullConfig>(image.id);
    const layers = [...config.rootfs.diff_ids];
    const rows = (config.history ?? []).map((step) => ({
      Id: '<missing>',
      Created: Math.floor(Date.parse(step.created ?? '1970-01-01T00:00:00Z') / 1000),
      CreatedBy: step.created_by ?? '',
      Tags: null as string[] | null,
      Size: step.empty_layer ? 0 : layerSize(store, layers.shift() ?? ''),
      Comment: step.comment ?? '',
    }));
    rows.reverse();
    if (rows.length > 0) rows[0] = { ...rows[0]!, Id: image.id, Tags: tagsOf(image) };
    sendJSON(response, 200, rows);
  });
}

// ---------------------------------------------------------------- POST /images/create (pull)

/** The credentials the CLI sends in X-Registry-Auth: base64url of
 *  {"username": …, "password": …, "serveraddress": …}, from its config.json or `docker login`. */
function registryAuth(incoming: IncomingMessage): { username?: string; password?: string } {
  const header = incoming.headers['x-registry-auth'];
  if (typeof header !== 'string' || header === '') return {};
  let auth: { username?: string; password?: string };
  try {
    auth = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError(400, 'X-Registry-Auth is not base64url-encoded JSON');
  }
  return auth.username ? { username: auth.username, password: auth.password ?? '' } : {};
}

/** A JSON-lines stream that begins with its first message: until then, a failure can still be
 *  an HTTP error, which the CLI prints as "Error response from daemon: …". */
function lazyStream(response: ServerResponse, first: () => object[]) {
  let send: ((message: object) => void) | undefined;
  const stream = {
    get started() {
      return send !== undefined;
    },
    send(message: object) {
      if (!send) {
        send = startJSONStream(response);
        for (const opening of first()) send(opening);
      }
      if (!response.destroyed) send(message);
    },
    /** The failure as the stream's last line: the CLI prints it and exits 1. */
    fail(err: unknown) {
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
      stream.send({ errorDetail: { message }, error: message });
    },
  };
  return stream;
}

/** How often a layer's "Downloading"/"Pushing" line may go out: the bytes come in 64 KB
 *  chunks, and a line for each would be more stream than progress. */
const PROGRESS_INTERVAL_MS = 100;

/** The reference of `fromImage` and `tag`. The CLI sends the name and the tag apart
 *  (fromImage=docker.io/library/busybox&tag=latest), and a digest in `tag` too. */
function pullReference(query: URLSearchParams): Reference {
  const from = query.get('fromImage');
  if (!from) throw new ApiError(400, query.has('fromSrc') ? 'import (fromSrc) is not supported: use `nutshell import`' : 'fromImage is required');
  const ref = parseReference(from);
  const tag = query.get('tag');
  if (!tag) return ref;
  if (isDigest(tag)) return { ...ref, tag: undefined, digest: tag };
  return parseReference(formatReference({ ...ref, tag, digest: undefined })); // parsed again: is the tag valid?
}

async function createImage({ query, incoming, response }: ApiRequest): Promise<void> {
  const ref = pullReference(query);
  const text = formatReference(ref);
  const platform = query.get('platform') ? parsePlatform(query.get('platform')!) : undefined;
  const options = { ...registryAuth(incoming), platform };
  // dockerd's first line: "<tag>: Pulling from library/busybox" (the repository in its registry).
  const stream = lazyStream(response, () => [{ status: `Pulling from ${ref.repository}`, id: ref.tag ?? ref.digest }]);
  // A layer we have already is "Already exists". Those lines wait: if the whole image turns out
  // to be up to date, dockerd shows no layer at all, only "Image is up to date".
  let held: object[] = [];
  const say = (message: object) => {
    for (const h of held) stream.send(h);
    held = [];
    stream.send(message);
  };
  const lastLine = new Map<string, number>();
  const onProgress = (event: TransferEvent) => {
    const id = shortId(event.digest);
    if (event.end && event.status === 'already exists') {
      held.push({ status: 'Already exists', progressDetail: {}, id });
    } else if (event.end) {
      if (lastLine.get(id) === 0) say({ status: 'Pulling fs layer', progressDetail: {}, id });
      // The blob is unpacked as it downloads (chapter 05): it is complete and pulled at once.
      say({ status: 'Download complete', progressDetail: {}, id });
      say({ status: 'Pull complete', progressDetail: {}, id });
    } else if (event.current === 0) {
      lastLine.set(id, 0); // "Pulling fs layer" waits until we know the layer is not here
    } else {
      if (lastLine.get(id) === 0) say({ status: 'Pulling fs layer', progressDetail: {}, id });
      const now = Date.now();
      if (now - (lastLine.get(id) ?? 0) < PROGRESS_INTERVAL_MS && event.current < event.size) return;
      lastLine.set(id, now);
      say({ status: 'Downloading', progressDetail: { current: event.current, total: event.size }, id });
    }
  };

  await withStore(async (store) => {
    const before = store.getImage(text)?.manifestDigest;
    let digest: string;
    try {
      ({ digest } = await pullImage(store, text, { ...options, onProgress }));
    } catch (err) {
      if (!stream.started) throw notFoundAsDockerSays(err, ref);
      stream.fail(err);
      response.end();
      return;
    }
    const upToDate = before === digest;
    if (!upToDate) for (const h of held) stream.send(h);
    stream.send({ status: `Digest: ${digest}` });
    stream.send({ status: `Status: ${upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiarString(ref)}` });
    response.end();
  });
}

/** An image the registry does not have: dockerd's 404, which `docker run` also shows. */
function notFoundAsDockerSays(err: unknown, ref: Reference): unknown {
  if (err instanceof UserError && /MANIFEST_UNKNOWN|NAME_UNKNOWN|not found/i.test(err.message)) {
    return new ApiError(404, `manifest for ${familiarString(ref)} not found: ${err.message}`);
  }
  return err;
}

// ---------------------------------------------------------------- POST /images/{name}/push

async function pushImageRoute({ params: [name], query, incoming, response }: ApiRequest): Promise<void> {
  const repo = parseReference(name!);
  const auth = registryAuth(incoming);
  await withStore(async (store) => {
    // Without a tag (`docker push --all-tags`), every tag of the repository goes.
    const tag = query.get('tag');
    const sameRepo = (r: Reference) => r.registry === repo.registry && r.repository === repo.repository && r.tag !== undefined;
    const refs = tag ? [{ ...repo, tag, digest: undefined }] : store.listImages().map((e) => parseReference(e.ref)).filter(sameRepo);
    for (const ref of refs) {
      if (!store.getImage(formatReference(ref))) throw new ApiError(404, `An image does not exist locally with the tag: ${familiarName(ref)}`);
    }
    if (refs.length === 0) throw new ApiError(404, `An image does not exist locally with the tag: ${familiarName(repo)}`);

    const stream = lazyStream(response, () => []);
    stream.send({ status: `The push refers to repository [${repo.registry}/${repo.repository}]` });
    for (const ref of refs) {
      const record = store.getImage(formatReference(ref))!;
      const manifestBytes = store.readBlob(record.manifestDigest);
      const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
      // dockerd names a layer by its diff id when it pushes (by its blob digest when it pulls),
      // and does not show the config at all.
      const diffIdOf = new Map(manifest.layers.map((layer, i) => [layer.digest, record.layers[i]!]));
      const lastLine = new Map<string, number>();
      const onProgress = (event: TransferEvent) => {
        const diffId = diffIdOf.get(event.digest);
        if (!diffId) return;
        const id = shortId(diffId);
        if (event.end) {
          const said = { pushed: 'Pushed', 'already exists': 'Layer already exists', mounted: 'Mounted from another repository' }[event.status] ?? event.status;
          stream.send({ status: said, progressDetail: {}, id });
        } else if (event.current === 0) {
          stream.send({ status: 'Preparing', progressDetail: {}, id });
        } else {
          const now = Date.now();
          if (now - (lastLine.get(id) ?? 0) < PROGRESS_INTERVAL_MS && event.current < event.size) return;
          lastLine.set(id, now);
          stream.send({ status: 'Pushing', progressDetail: { current: event.current, total: event.size }, id });
        }
      };
      let digest: string;
      try {
        ({ digest } = await pushImage(store, formatReference(ref), { ...auth, onProgress }));
      } catch (err) {
        stream.fail(err);
        response.end();
        return;
      }
      stream.send({ status: `${ref.tag}: digest: ${digest} size: ${manifestBytes.length}` });
      // For the CLI itself (`docker push` prints nothing of it; content trust signs with it).
      stream.send({ progressDetail: {}, aux: { Tag: ref.tag, Digest: digest, Size: manifestBytes.length } });
    }
    response.end();
  });
}

// ---------------------------------------------------------------- POST /images/{name}/tag

function tagImageRoute({ params: [name], query, response }: ApiRequest): Promise<void> {
  const repo = query.get('repo');
  if (!repo) throw new ApiError(400, 'repo is required: the new name');
  const target = parseReference(repo);
  if (target.digest) throw new ApiError(400, 'refusing to create a tag with a digest reference');
  const newName = formatReference({ ...target, tag: query.get('tag') || target.tag });
  return withStore(async (store) => {
    const image = findImage(store, name!);
    await tagImage(store, image.entries[0]!.ref, newName);
    response.writeHead(201).end();
  });
}

// ---------------------------------------------------------------- DELETE /images/{name}

/** The containers made from this image: their lower dirs are its layers. (Not its name: that
 *  may have been untagged since, or point to a newer image.) */
function containersOf(store: Store, image: LocalImage) {
  const layers = image.entries[0]!.layers.map((diffId) => store.layerPath(diffId)).join(':');
  return listContainers().filter((c) => c.spec.lowerDirs.join(':') === layers);
}

async function removeImageRoute({ params: [name], query, response }: ApiRequest): Promise<void> {
  const force = query.get('force') === '1' || query.get('force') === 'true';
  await withStore(async (store) => {
    const image = findImage(store, name!);
    // By name, with other names left, only that name goes (`docker rmi` of a second tag).
    // By ID, every name goes.
    const named = entriesNamed(image.entries, name!);
    const byId = named.length === 0;
    const doomed = byId ? image.entries : named;
    const lastName = doomed.length === image.entries.length;
    if (byId && !force && new Set(image.entries.map((e) => familiarName(parseReference(e.ref)))).size > 1) {
      throw new ApiError(409, `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    if (lastName) {
      for (const container of containersOf(store, image)) {
        const id = container.spec.id.slice(0, 12);
        // A running container's layers are mounted: never pull them from under it.
        if (readState(container).status === 'running') {
          throw new ApiError(409, `conflict: unable to delete ${shortId(image.id)} (cannot be forced) - image is being used by running container ${id}`);
        }
        if (!force) {
          throw new ApiError(409, byId
            ? `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is being used by stopped container ${id}`
            : `conflict: unable to remove repository reference "${name}" (must force) - container ${id} is using its referenced image ${shortId(image.id)}`);
        }
      }
    }
    const report: object[] = [];
    const deleted: string[] = [];
    for (const entry of doomed) {
      report.push({ Untagged: familiarString(parseReference(entry.ref)) });
      deleted.push(...(await store.removeImage(entry.ref)).layers);
    }
    if (lastName) {
      for (const digest of digestsOf(image)) if (!report.some((r) => (r as { Untagged: string }).Untagged === digest)) report.push({ Untagged: digest });
      report.push({ Deleted: image.id }, ...deleted.map((diffId) => ({ Deleted: diffId })));
    }
    sendJSON(response, 200, report);
  });
}

// ---------------------------------------------------------------- POST /commit

/** `--change 'CMD ["sh"]'` (or `CMD sh -c …`, in the shell form): the one change commit.ts makes. */
function parseChanges(changes: string[]): string[] | undefined {
  let cmd: string[] | undefined;
  for (const change of changes.flatMap((c) => c.split('\n')).filter((c) => c.trim() !== '')) {
    const match = /^\s*CMD\s+(.*)$/i.exec(change);
    if (!match) throw new ApiError(400, `unsupported change "${change}": nutshell's commit changes only CMD`);
    const rest = match[1]!.trim();
    try {
      cmd = rest.startsWith('[') ? JSON.parse(rest) : ['/bin/sh', '-c', rest];
    } catch {
      throw new ApiError(400, `invalid change "${change}": CMD ["program", "arg"…] or CMD command line`);
    }
  }
  return cmd;
}

async function commitRoute({ query, json, response }: ApiRequest): Promise<void> {
  const container = query.get('container');
  if (!container) throw new ApiError(400, 'container is required');
  const repo = query.get('repo');
  // The store knows an image by its names: one without any would be lost at once.
  if (!repo) throw new ApiError(400, 'nutshell keeps images by name: give the new image one (docker commit CONTAINER NAME[:TAG])');
  const newRef = formatReference({ ...parseReference(repo), tag: query.get('tag') || parseReference(repo).tag, digest: undefined });
  const body = await json<{ Cmd?: string[] } | null>();
  const cmd = parseChanges(query.getAll('changes')) ?? body?.Cmd ?? undefined;
  let dirs;
  try {
    dirs = findContainerDirs(container);
  } catch {
    throw new ApiError(404, `No such container: ${container}`);
  }
  const state = readState(dirs);
  // As the commit verb: a running container is frozen while its upper dir is read, unless the
  // client said pause=0 (`docker commit --pause=false`).
  const wantsPause = query.get('pause') !== '0' && query.get('pause') !== 'false';
  const pause = wantsPause && state.status === 'running' ? detectCgroups().open(state.cgroupId!) : undefined;
  await withStore(async (store) => {
    const comment = query.get('comment') || undefined;
    const { name } = await commitContainer(store, { upperDir: dirs.upperDir, baseRef: dirs.spec.image, newRef, comment, cmd, pause });
    sendJSON(response, 201, { Id: store.getImage(name)!.configDigest });
  });
}

/** The image endpoints, for the daemon's routing table (paths without the /v1.NN prefix). */
export const imageRoutes: Route[] = [
  ['POST', /^\/images\/create$/, createImage],
  ['GET', /^\/images\/json$/, listImages],
  ['GET', /^\/images\/(.+)\/json$/, inspectImage],
  ['GET', /^\/images\/(.+)\/history$/, imageHistory],
  ['POST', /^\/images\/(.+)\/tag$/, tagImageRoute],
  ['POST', /^\/images\/(.+)\/push$/, pushImageRoute],
  ['DELETE', /^\/images\/(.+)$/, removeImageRoute],
  ['POST', /^\/commit$/, commitRoute],
];
