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
  throw new Error('TODO (chapter 11): write withStore(), as the comment above it says');
}

// ---------------------------------------------------------------- names, as docker shows them

/** docker's short name: `busybox` for docker.io/library/busybox, `org/app` for
 *  docker.io/org/app; a name on any other registry keeps its host. */
export function familiarName(ref: Reference): string {
  throw new Error('TODO (chapter 11): write familiarName(), as the comment above it says');
}

/** The short name with its tag or digest: `busybox:latest`, `busybox@sha256:…`. */
export function familiarString(ref: Reference): string {
  throw new Error('TODO (chapter 11): write familiarString(), as the comment above it says');
}

/** The first 12 hex digits of a digest or an ID: how docker shortens them everywhere. */
function shortId(digest: string): string {
  throw new Error('TODO (chapter 11): write shortId(), as the comment above it says');
}

function tagsOf(image: LocalImage): string[] {
  throw new Error('TODO (chapter 11): write tagsOf()');
}

/** `name@sha256:<manifest>` for each repository the image is in: the digest a registry serves
 *  it under there (a committed image gets it too: a push sends the manifest's bytes as they are). */
function digestsOf(image: LocalImage): string[] {
  throw new Error('TODO (chapter 11): write digestsOf(), as the comment above it says');
}

// ---------------------------------------------------------------- finding images

/** Every image in the store, by ID. */
function imagesById(store: Store): Map<string, LocalImage> {
  throw new Error('TODO (chapter 11): write imagesById(), as the comment above it says');
}

/** The store's entries that `name` names: the name itself (`busybox` is busybox:latest), or,
 *  for `name@sha256:…`, the names in that repository whose manifest has that digest. None
 *  when `name` is no name at all (an ID, say). */
function entriesNamed(entries: ImageEntry[], name: string): ImageEntry[] {
  throw new Error('TODO (chapter 11): write entriesNamed(), as the comment above it says');
}

/** The image `name` means, in dockerd's order: a full ID, a name, then a prefix of an ID
 *  (`docker rmi 1a2b`). Unknown, it is a 404 "No such image", on which `docker run` pulls.
 *  Its `entries[0].ref` is a name the store knows it by (for layerDirs, say). */
export function findImage(store: Store, name: string): LocalImage {
  // not a name either: say it as it was given
  throw new Error('TODO (chapter 11): write findImage(), as the comment above it says');
}

// ---------------------------------------------------------------- sizes

/** Layers never change once unpacked: their sizes are measured once per daemon. */
const layerSizes = new Map<string, number>();

/** A layer's size as dockerd counts it: the bytes of its files, each hard-linked file once,
 *  directories not at all. The image's Size is that of its layers, unpacked. */
function layerSize(store: Store, diffId: string): number {
  throw new Error('TODO (chapter 11): write layerSize(), as the comment above it says');
}

function imageSize(store: Store, image: LocalImage): number {
  throw new Error('TODO (chapter 11): write imageSize()');
}

// ---------------------------------------------------------------- GET /images/json

/** `filters={"reference":{"busybox":true}}` (or the older `{"reference":["busybox"]}`). */
function parseFilters(text: string | null): Map<string, string[]> {
  throw new Error('TODO (chapter 11): write parseFilters(), as the comment above it says');
}

/** A `reference` filter is a shell pattern, matched against the short name with and without
 *  its tag (`busybox`, `busybox:1.*`); `*` stops at a "/", as in Go's path.Match. */
function matchesPattern(pattern: string, ref: Reference): boolean {
  throw new Error('TODO (chapter 11): write matchesPattern(), as the comment above it says');
}

function listImages({ query, response }: ApiRequest): Promise<void> {
  // Only the names that match are listed, as dockerd does: `docker images busybox` shows
  // busybox's rows, not the other names the same image has.
  throw new Error('TODO (chapter 11): write listImages()');
}

// ---------------------------------------------------------------- GET /images/{name}/json

function inspectImage({ params: [name], response }: ApiRequest): Promise<void> {
  // `docker commit -m`: commit.ts keeps it in the history entry of the new layer.
  // What `run` starts from: the image config's own `config`, with dockerd's empty values.
  // Where the layers are: overlayfs's lower dirs for a container of this image, top first.
  throw new Error('TODO (chapter 11): write inspectImage()');
}

// ---------------------------------------------------------------- GET /images/{name}/history

/** `docker history`: the config's history, newest first. The entries that are not
 *  `empty_layer` pair, in order, with the layers. */
function imageHistory({ params: [name], response }: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write imageHistory(), as the comment above it says');
}

// ---------------------------------------------------------------- POST /images/create (pull)

/** The credentials the CLI sends in X-Registry-Auth: base64url of
 *  {"username": …, "password": …, "serveraddress": …}, from its config.json or `docker login`. */
function registryAuth(incoming: IncomingMessage): { username?: string; password?: string } {
  throw new Error('TODO (chapter 11): write registryAuth(), as the comment above it says');
}

/** A JSON-lines stream that begins with its first message: until then, a failure can still be
 *  an HTTP error, which the CLI prints as "Error response from daemon: …". */
function lazyStream(response: ServerResponse, first: () => object[]) {
  throw new Error('TODO (chapter 11): write lazyStream(), as the comment above it says');
}

/** How often a layer's "Downloading"/"Pushing" line may go out: the bytes come in 64 KB
 *  chunks, and a line for each would be more stream than progress. */
const PROGRESS_INTERVAL_MS = 100;

/** The reference of `fromImage` and `tag`. The CLI sends the name and the tag apart
 *  (fromImage=docker.io/library/busybox&tag=latest), and a digest in `tag` too. */
function pullReference(query: URLSearchParams): Reference {
  throw new Error('TODO (chapter 11): write pullReference(), as the comment above it says');
}

async function createImage({ query, incoming, response }: ApiRequest): Promise<void> {
  // dockerd's first line: "<tag>: Pulling from library/busybox" (the repository in its registry).
  // A layer we have already is "Already exists". Those lines wait: if the whole image turns out
  // to be up to date, dockerd shows no layer at all, only "Image is up to date".
  // The blob is unpacked as it downloads (chapter 05): it is complete and pulled at once.
  throw new Error('TODO (chapter 11): write createImage()');
}

/** An image the registry does not have: dockerd's 404, which `docker run` also shows. */
function notFoundAsDockerSays(err: unknown, ref: Reference): unknown {
  throw new Error('TODO (chapter 11): write notFoundAsDockerSays(), as the comment above it says');
}

// ---------------------------------------------------------------- POST /images/{name}/push

async function pushImageRoute({ params: [name], query, incoming, response }: ApiRequest): Promise<void> {
  // Without a tag (`docker push --all-tags`), every tag of the repository goes.
  // dockerd names a layer by its diff id when it pushes (by its blob digest when it pulls),
  // and does not show the config at all.
  // For the CLI itself (`docker push` prints nothing of it; content trust signs with it).
  throw new Error('TODO (chapter 11): write pushImageRoute()');
}

// ---------------------------------------------------------------- POST /images/{name}/tag

function tagImageRoute({ params: [name], query, response }: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write tagImageRoute()');
}

// ---------------------------------------------------------------- DELETE /images/{name}

/** The containers made from this image: their lower dirs are its layers. (Not its name: that
 *  may have been untagged since, or point to a newer image.) */
function containersOf(store: Store, image: LocalImage) {
  throw new Error('TODO (chapter 11): write containersOf(), as the comment above it says');
}

async function removeImageRoute({ params: [name], query, response }: ApiRequest): Promise<void> {
  // By name, with other names left, only that name goes (`docker rmi` of a second tag).
  // By ID, every name goes.
  // A running container's layers are mounted: never pull them from under it.
  throw new Error('TODO (chapter 11): write removeImageRoute()');
}

// ---------------------------------------------------------------- POST /commit

/** `--change 'CMD ["sh"]'` (or `CMD sh -c …`, in the shell form): the one change commit.ts makes. */
function parseChanges(changes: string[]): string[] | undefined {
  throw new Error('TODO (chapter 11): write parseChanges(), as the comment above it says');
}

async function commitRoute({ query, json, response }: ApiRequest): Promise<void> {
  // The store knows an image by its names: one without any would be lost at once.
  // As the commit verb: a running container is frozen while its upper dir is read, unless the
  // client said pause=0 (`docker commit --pause=false`).
  throw new Error('TODO (chapter 11): write commitRoute()');
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
