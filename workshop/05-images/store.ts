/** Chapter 05 · the image store: where pulled images live on disk.
 *
 *    <root>/blobs/sha256/<hex>          every blob (manifest, config, compressed layer), named by its digest
 *    <root>/layers/sha256/<diff id>/    each layer unpacked once, shared by every image that uses it
 *    <root>/images.json                 reference → its manifest, config and layers
 *    <root>/tmp/                        work in progress, on the same filesystem as the rest
 *
 *  Content addressing makes the store check itself: a blob's name is the sha256 of its bytes,
 *  so a download is kept only if it hashes to the name it was asked for. And every change is
 *  made in tmp/ first and then renamed into place: rename(2) within one filesystem is atomic,
 *  so a process killed at any instant leaves the old state or the new one, never half a file.
 *  What a killed process leaves in tmp/ is removed by the next engine that finds itself
 *  alone in the store.                                              Lesson: docs/05-images.md */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../lib/errors.ts';
import { streamed } from '../../lib/memory.ts';
import { traceStep } from '../../lib/trace.ts';
import { extractLayer, type ExtractedLayer } from './layer.ts';
import { digestOf, Digester } from './registry.ts';
import { engineRoot } from './storage.ts';
import { syncfs, tryFlock } from './syscalls.ts';

/** What the store remembers about one image reference. */
export interface ImageRecord {
  manifestDigest: string;
  configDigest: string;
  /** Diff ids, bottom layer first, as the config's `rootfs.diff_ids` lists them. */
  layers: string[];
  /** When the image was built (the config's `created`), ISO 8601. */
  created: string;
  /** Bytes: the compressed layers, as the manifest counts them. */
  size: number;
}

export interface ImageEntry extends ImageRecord {
  ref: string;
}

/** A blob as it arrives from the registry, with the size its descriptor announced. */
export interface Download {
  body: Readable;
  size: number;
}

/** A layer unpacked into tmp/ (`work`) and checked, not yet renamed to `path` in layers/. */
export interface UnpackedLayer {
  work: string;
  path: string;
  placed?: boolean;
}

/** What removeImage deleted: the blobs and layers no other image still uses. */
export interface Removed {
  blobs: string[];
  layers: string[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const LOCK_RETRY_MS = 20;
/** How many bytes of a blob streaming in are written and passed on at once. */
const BLOB_BATCH = 256 << 10;

export class Store {
  readonly root: string;
  /** store.lock, held shared for as long as the store is open (see open()). */
  #lockFd: number | undefined;

  private constructor(root: string, lockFd: number) {
    throw new Error('TODO (chapter 05): write Store.constructor()');
  }

  /** Open (and create) the store at `root`. Every engine holds store.lock *shared* while it
   *  uses the store; one that gets it *exclusive* knows no other engine is running, so what
   *  tmp/ holds was left by a killed one and can go. flock(2) locks die with their process:
   *  a SIGKILLed engine cannot leave the store locked. */
  static async open(root: string = engineRoot()): Promise<Store> {
    // 0700: unpacked layers hold setuid programs; only root should reach them.
    throw new Error('TODO (chapter 05): write Store.open(), as the comment above it says');
  }

  /** Let go of store.lock (closing the file releases the flock). */
  close(): void {
    throw new Error('TODO (chapter 05): write Store.close(), as the comment above it says');
  }

  // ---------------------------------------------------------------- blobs

  /** Where the blob `sha256:<hex>` is (or would be). The digest comes from a manifest, that
   *  is from the network: checking its form keeps "sha256:../../x" out of our paths. */
  blobPath(digest: string): string {
    throw new Error('TODO (chapter 05): write Store.blobPath(), as the comment above it says');
  }

  hasBlob(digest: string): boolean {
    throw new Error('TODO (chapter 05): write Store.hasBlob()');
  }

  /** Stream a blob into the store, hashing it on the way; it is kept only if its sha256 is
   *  `digest` (and its length `size`, when given). Returns the blob's path. */
  async putBlob(digest: string, source: Readable, size?: number): Promise<string> {
    // Same name, same bytes: nothing to read. A file stream may still be opening: once
    // destroyed it reports nothing anyone waits for, so its late errors are dropped here.
    // The file is all the bytes are for here: what the tee passes on flows away unread.
    throw new Error('TODO (chapter 05): write Store.putBlob(), as the comment above it says');
  }

  /** A tee for a blob as it streams in: each chunk is counted and hashed, and the chunks are
   *  written to a file in tmp/ and passed on in batches. When the stream in ends, the blob is
   *  renamed into place if its size and sha256 are right, and only then does the tee pass on
   *  its last batch and end the stream it passes on: whoever reads that to its end has read
   *  verified bytes. If anything goes wrong, or the tee is destroyed before the end (its
   *  reader gave up), the temporary file goes. */
  #blobTee(digest: string, size: number | undefined): Transform {
    // Chunks arrive at 16–64 KB; each one written and passed on alone is a trip to the thread
    // pool and one more round through gunzip and tar. They go on in batches of BLOB_BATCH (one
    // writev(2), no copy), and a batch is passed on while the thread pool writes it: one write
    // in flight at most, so a slow disk holds the download back instead of piling batches up.
    // writev(2), like write(2), may take less than it was given: the rest goes after it.
    // Stop a server that sends more than announced before it fills the disk.
    // The four moments of a stream's life, each one step above: before the first chunk, each
    // chunk, after the last one, and its end (done or failed, the stream is destroyed).
    throw new Error('TODO (chapter 05): write Store.#blobTee(), as the comment above it says');
  }

  /** Store small content we already hold (a manifest, a config) and return its digest. */
  putBytes(bytes: Uint8Array | string): string {
    throw new Error('TODO (chapter 05): write Store.putBytes(), as the comment above it says');
  }

  /** A blob's bytes, checked against its digest again: disks do go bad. */
  readBlob(digest: string): Buffer {
    throw new Error('TODO (chapter 05): write Store.readBlob(), as the comment above it says');
  }

  readJSON<T>(digest: string): T {
    throw new Error('TODO (chapter 05): write Store.readJSON()');
  }

  // ---------------------------------------------------------------- layers

  /** The directory of the layer with diff id `sha256:<hex>`. */
  layerPath(diffId: string): string {
    throw new Error('TODO (chapter 05): write Store.layerPath(), as the comment above it says');
  }

  /** Unpack the layer blob `blobDigest` and return its directory: unpackToTmp, then
   *  placeLayers for this one layer. */
  async unpackLayer(blobDigest: string, mediaType: string, expectedDiffId: string, download?: Download): Promise<string> {
    throw new Error('TODO (chapter 05): write Store.unpackLayer(), as the comment above it says');
  }

  /** Unpack the layer blob `blobDigest` into tmp/ and check it, or return null when the
   *  layer is in the store already. The blob is in the store already, or it is `download`,
   *  the blob as it arrives: then it is stored and unpacked in one pass (see #storeAndUnpack),
   *  and the unpacking cannot finish before the blob checked out. The layer is checked
   *  against `expectedDiffId` (from the image config); it becomes part of the store only in
   *  placeLayers, and a layer directory exists only once it is complete, verified and on
   *  disk, so finding one is enough to reuse it. */
  async unpackToTmp(blobDigest: string, mediaType: string, expectedDiffId: string, download?: Download): Promise<UnpackedLayer | null> {
    throw new Error('TODO (chapter 05): write Store.unpackToTmp(), as the comment above it says');
  }

  /** Make unpacked layers part of the store: one syncfs(2) puts every file of all of them on
   *  disk, then each is renamed into layers/. A layer must be on disk before its directory
   *  counts, or a crash could leave a complete-looking layer of empty files; one sync for the
   *  whole batch costs the disk's time once, where one per layer would wait for it each time
   *  (and a sync of a whole filesystem blocks the engine's only thread). A layer another
   *  engine placed first is left to discardLayers. */
  placeLayers(layers: UnpackedLayer[]): void {
    throw new Error('TODO (chapter 05): write Store.placeLayers(), as the comment above it says');
  }

  /** Remove what unpackToTmp left in tmp/ and placeLayers did not place (a pull that failed
   *  part-way, a layer another engine placed first). */
  discardLayers(layers: UnpackedLayer[]): void {
    throw new Error('TODO (chapter 05): write Store.discardLayers(), as the comment above it says');
  }

  /** The one pass of a pull: the download streams through the tee into its blob file and on
   *  into extractLayer, both at once. The tee ends the stream it passes on only once the blob
   *  has checked out and is in place, so the unpacking cannot finish on an unverified blob. */
  async #storeAndUnpack(blobDigest: string, download: Download, mediaType: string, work: string, name: string): Promise<ExtractedLayer> {
    // pipeline() carries a failure both ways: a broken download breaks the tee (and so the
    // unpacking that reads it), and a tee destroyed before the end stops the download.
    // Both settle before we go on, so a failed blob's partial file is gone when we return.
    // When both failed, the unpacking's reason is the one to tell: the tee's follows from it.
    throw new Error('TODO (chapter 05): write Store.#storeAndUnpack(), as the comment above it says');
  }

  // ---------------------------------------------------------------- images

  /** The image a reference points to, or undefined. Reading needs no lock: images.json is
   *  only ever replaced whole, by rename(2), so a reader sees the old file or the new one. */
  getImage(ref: string): ImageRecord | undefined {
    throw new Error('TODO (chapter 05): write Store.getImage(), as the comment above it says');
  }

  listImages(): ImageEntry[] {
    throw new Error('TODO (chapter 05): write Store.listImages()');
  }

  /** Point `ref` at an image whose blobs and layers are all in the store. */
  async saveImage(ref: string, record: ImageRecord): Promise<void> {
    // Checked under the lock: an `rmi` running beside our pull may have removed a shared
    // layer we found present a moment ago. images.json never names what is not there.
    throw new Error('TODO (chapter 05): write Store.saveImage(), as the comment above it says');
  }

  /** Forget `ref`, then delete its blobs and layers that no other image uses. */
  async removeImage(ref: string): Promise<Removed> {
    // Forget first, delete second: killed in between, we leave unused files behind,
    // never an image that names missing ones.
    throw new Error('TODO (chapter 05): write Store.removeImage(), as the comment above it says');
  }

  /** The image's layer directories, bottom first. (overlayfs's `lowerdir=` lists the top
   *  one first: reverse them for the mount.) */
  layerDirs(ref: string): string[] {
    throw new Error('TODO (chapter 05): write Store.layerDirs(), as the comment above it says');
  }

  // ---------------------------------------------------------------- on disk

  /** Every blob an image uses: manifest, config, and the compressed layers its manifest lists. */
  #blobsOf(record: ImageRecord): string[] {
    // The manifest is gone or damaged: only what the record itself names.
    throw new Error('TODO (chapter 05): write Store.#blobsOf(), as the comment above it says');
  }

  #readImages(): Map<string, ImageRecord> {
    throw new Error('TODO (chapter 05): write Store.#readImages()');
  }

  #writeImages(images: Map<string, ImageRecord>): void {
    throw new Error('TODO (chapter 05): write Store.#writeImages()');
  }

  /** Run `update` holding images.lock, so that two engines updating images.json at once
   *  do not each write their own version and lose the other's change. */
  async #withImagesLock<T>(update: () => T): Promise<T> {
    throw new Error('TODO (chapter 05): write Store.#withImagesLock(), as the comment above it says');
  }

  /** A name in tmp/ nobody else will pick. */
  #tmpName(what: string): string {
    throw new Error('TODO (chapter 05): write Store.#tmpName(), as the comment above it says');
  }

  /** Replace `path` with `bytes` all at once: write a file in tmp/, fsync it, rename it. */
  #writeAtomic(path: string, bytes: Uint8Array | string): void {
    throw new Error('TODO (chapter 05): write Store.#writeAtomic(), as the comment above it says');
  }

  /** Publish a finished file: rename it into place, then fsync the directory, which is
   *  where the new name is recorded. */
  #commit(tmp: string, path: string): void {
    throw new Error('TODO (chapter 05): write Store.#commit(), as the comment above it says');
  }

  /** #commit on the thread pool, for a blob that streams in while layers unpack: the fsync
   *  of a directory waits for the disk, and the engine's one thread has work meanwhile. */
  async #commitAsync(tmp: string, path: string): Promise<void> {
    throw new Error('TODO (chapter 05): write Store.#commitAsync(), as the comment above it says');
  }

  /** Move the layer out of layers/ in one rename, then delete it at leisure: killed halfway
   *  through, we leave a half-deleted tree in tmp/ (cleaned later), not in layers/. */
  #removeLayerDirectory(diffId: string): void {
    throw new Error('TODO (chapter 05): write Store.#removeLayerDirectory(), as the comment above it says');
  }
}

/** The hex part of a sha256 digest, refusing anything else. */
function hexOf(digest: string): string {
  throw new Error('TODO (chapter 05): write hexOf(), as the comment above it says');
}

export async function waitForFlock(fd: number, kind: 'shared' | 'exclusive', why: string): Promise<void> {
  throw new Error('TODO (chapter 05): write waitForFlock()');
}

function cleanTmp(tmp: string): void {
  throw new Error('TODO (chapter 05): write cleanTmp()');
}

function fsyncDirectory(path: string): void {
  throw new Error('TODO (chapter 05): write fsyncDirectory()');
}
