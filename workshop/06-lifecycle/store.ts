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
    this.root = root;
    this.#lockFd = lockFd;
  }

  /** Open (and create) the store at `root`. Every engine holds store.lock *shared* while it
   *  uses the store; one that gets it *exclusive* knows no other engine is running, so what
   *  tmp/ holds was left by a killed one and can go. flock(2) locks die with their process:
   *  a SIGKILLed engine cannot leave the store locked. */
  static async open(root: string = engineRoot()): Promise<Store> {
    // 0700: unpacked layers hold setuid programs; only root should reach them.
    mkdirSync(root, { recursive: true, mode: 0o700 });
    for (const dir of ['blobs/sha256', 'layers/sha256', 'tmp']) mkdirSync(join(root, dir), { recursive: true });
    const fd = openSync(join(root, 'store.lock'), constants.O_RDWR | constants.O_CREAT, 0o600);
    if (tryFlock(fd, 'exclusive', 'alone in the store? then tmp/ holds only what killed engines left')) {
      cleanTmp(join(root, 'tmp'));
    }
    await waitForFlock(fd, 'shared', 'hold the store open: no other engine may empty tmp/ under us');
    return new Store(root, fd);
  }

  /** Let go of store.lock (closing the file releases the flock). */
  close(): void {
    if (this.#lockFd !== undefined) closeSync(this.#lockFd);
    this.#lockFd = undefined;
  }

  // ---------------------------------------------------------------- blobs

  /** Where the blob `sha256:<hex>` is (or would be). The digest comes from a manifest, that
   *  is from the network: checking its form keeps "sha256:../../x" out of our paths. */
  blobPath(digest: string): string {
    return join(this.root, 'blobs/sha256', hexOf(digest));
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  /** Stream a blob into the store, hashing it on the way; it is kept only if its sha256 is
   *  `digest` (and its length `size`, when given). Returns the blob's path. */
  async putBlob(digest: string, source: Readable, size?: number): Promise<string> {
    const path = this.blobPath(digest);
    if (existsSync(path)) {
      // Same name, same bytes: nothing to read. A file stream may still be opening: once
      // destroyed it reports nothing anyone waits for, so its late errors are dropped here.
      source.on('error', () => {});
      source.destroy();
      return path;
    }
    // The file is all the bytes are for here: what the tee passes on flows away unread.
    await pipeline(source, this.#blobTee(digest, size).resume());
    return path;
  }

  /** A tee for a blob as it streams in: each chunk is counted and hashed, and the chunks are
   *  written to a file in tmp/ and passed on in batches. When the stream in ends, the blob is
   *  renamed into place if its size and sha256 are right, and only then does the tee pass on
   *  its last batch and end the stream it passes on: whoever reads that to its end has read
   *  verified bytes. If anything goes wrong, or the tee is destroyed before the end (its
   *  reader gave up), the temporary file goes. */
  #blobTee(digest: string, size: number | undefined): Transform {
    const path = this.blobPath(digest);
    const tmp = this.#tmpName('blob');
    const digester = new Digester();
    let received = 0;
    let file: FileHandle | undefined;
    let kept = false;

    const openFile = async () => {
      file = await open(tmp, 'wx', 0o644);
    };
    // Chunks arrive at 16–64 KB; each one written and passed on alone is a trip to the thread
    // pool and one more round through gunzip and tar. They go on in batches of BLOB_BATCH (one
    // writev(2), no copy), and a batch is passed on while the thread pool writes it: one write
    // in flight at most, so a slow disk holds the download back instead of piling batches up.
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let writing: Promise<void> = Promise.resolve();
    const takeBatch = async (): Promise<Buffer[]> => {
      await writing; // the previous batch is in the file, or its error is thrown here
      const chunks = batch;
      const bytes = batchBytes;
      batch = [];
      batchBytes = 0;
      if (bytes > 0) {
        writing = writeBatch(chunks, bytes);
        writing.catch(() => {}); // awaited at the next batch or at the end, never left unhandled
      }
      return chunks;
    };
    const writeBatch = async (chunks: Buffer[], bytes: number) => {
      const { bytesWritten } = await file!.writev(chunks);
      // writev(2), like write(2), may take less than it was given: the rest goes after it.
      const rest = bytesWritten < bytes ? Buffer.concat(chunks).subarray(bytesWritten) : Buffer.alloc(0);
      for (let done = 0; done < rest.length; ) done += (await file!.write(rest, done)).bytesWritten;
      streamed(bytes);
    };
    const writeChunk = async (chunk: Buffer) => {
      received += chunk.length;
      // Stop a server that sends more than announced before it fills the disk.
      if (size !== undefined && received > size) throw new UserError(`blob ${digest}: more than the ${size} bytes announced`);
      digester.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      return batchBytes >= BLOB_BATCH ? takeBatch() : [];
    };
    const verifyAndPublish = async () => {
      const last = await takeBatch();
      await writing;
      if (size !== undefined && received !== size) throw new UserError(`blob ${digest}: got ${received} bytes, ${size} announced`);
      const actual = digester.digest();
      if (actual !== digest) {
        throw new UserError(`blob ${digest}: its content hashes to ${actual} — corrupted or tampered with, not kept`);
      }
      await file!.sync(); // on disk before the rename publishes it
      await file!.close();
      await this.#commitAsync(tmp, path);
      kept = true;
      return last; // passed on only now: the stream's reader never sees its end unverified
    };
    const closeAndClean = async () => {
      await file?.close(); // a no-op once verifyAndPublish closed it
      if (!kept) rmSync(tmp, { force: true });
    };

    const passOn = (chunks: Buffer[], done: () => void) => {
      for (const chunk of chunks) tee.push(chunk);
      done();
    };
    // The four moments of a stream's life, each one step above: before the first chunk, each
    // chunk, after the last one, and its end (done or failed, the stream is destroyed).
    const tee = new Transform({
      construct: (done) => void openFile().then(() => done(), done),
      transform: (chunk: Buffer, _encoding, done) => void writeChunk(chunk).then((chunks) => passOn(chunks, done), done),
      flush: (done) => void verifyAndPublish().then((chunks) => passOn(chunks, done), done),
      destroy: (err, done) => void closeAndClean().then(() => done(err), done),
    });
    return tee;
  }

  /** Store small content we already hold (a manifest, a config) and return its digest. */
  putBytes(bytes: Uint8Array | string): string {
    const digest = digestOf(bytes);
    const path = this.blobPath(digest);
    if (!existsSync(path)) this.#writeAtomic(path, bytes);
    return digest;
  }

  /** A blob's bytes, checked against its digest again: disks do go bad. */
  readBlob(digest: string): Buffer {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`blob ${digest} is not in the store`);
      throw err;
    }
    const actual = digestOf(bytes);
    if (actual !== digest) throw new UserError(`blob ${digest} in the store is damaged: it hashes to ${actual}`);
    return bytes;
  }

  readJSON<T>(digest: string): T {
    return JSON.parse(this.readBlob(digest).toString('utf8')) as T;
  }

  // ---------------------------------------------------------------- layers

  /** The directory of the layer with diff id `sha256:<hex>`. */
  layerPath(diffId: string): string {
    return join(this.root, 'layers/sha256', hexOf(diffId));
  }

  /** Unpack the layer blob `blobDigest` and return its directory: unpackToTmp, then
   *  placeLayers for this one layer. */
  async unpackLayer(blobDigest: string, mediaType: string, expectedDiffId: string, download?: Download): Promise<string> {
    const unpacked = await this.unpackToTmp(blobDigest, mediaType, expectedDiffId, download);
    if (unpacked === null) return this.layerPath(expectedDiffId);
    try {
      this.placeLayers([unpacked]);
    } finally {
      this.discardLayers([unpacked]);
    }
    return unpacked.path;
  }

  /** Unpack the layer blob `blobDigest` into tmp/ and check it, or return null when the
   *  layer is in the store already. The blob is in the store already, or it is `download`,
   *  the blob as it arrives: then it is stored and unpacked in one pass (see #storeAndUnpack),
   *  and the unpacking cannot finish before the blob checked out. The layer is checked
   *  against `expectedDiffId` (from the image config); it becomes part of the store only in
   *  placeLayers, and a layer directory exists only once it is complete, verified and on
   *  disk, so finding one is enough to reuse it. */
  async unpackToTmp(blobDigest: string, mediaType: string, expectedDiffId: string, download?: Download): Promise<UnpackedLayer | null> {
    const path = this.layerPath(expectedDiffId);
    if (existsSync(path)) {
      download?.body.destroy();
      return null; // unpacked before, for this image or another
    }
    if (!download && !this.hasBlob(blobDigest)) throw new UserError(`layer ${blobDigest} is not in the store: pull the image again`);
    const name = `layer ${blobDigest.slice(0, 19)}`; // `layer sha256:1a2b3c4d5e6f`, as docker shortens ids
    const work = mkdtempSync(join(this.root, 'tmp', 'layer-'));
    let checked = false;
    try {
      chmodSync(work, 0o755); // mkdtemp made it 0700; it becomes the root of a lower dir
      const { diffId } = download
        ? await this.#storeAndUnpack(blobDigest, download, mediaType, work, name)
        : await extractLayer(createReadStream(this.blobPath(blobDigest)), mediaType, work, name);
      if (diffId !== expectedDiffId) {
        throw new UserError(`${name}: its content has diff id ${diffId}, but the image config says ${expectedDiffId}`);
      }
      checked = true;
      return { work, path };
    } finally {
      if (!checked) {
        download?.body.destroy(); // a failed unpacking may not have read it to the end
        rmSync(work, { recursive: true, force: true });
      }
    }
  }

  /** Make unpacked layers part of the store: one syncfs(2) puts every file of all of them on
   *  disk, then each is renamed into layers/. A layer must be on disk before its directory
   *  counts, or a crash could leave a complete-looking layer of empty files; one sync for the
   *  whole batch costs the disk's time once, where one per layer would wait for it each time
   *  (and a sync of a whole filesystem blocks the engine's only thread). A layer another
   *  engine placed first is left to discardLayers. */
  placeLayers(layers: UnpackedLayer[]): void {
    if (layers.length === 0) return;
    const fd = openSync(join(this.root, 'tmp'), 'r');
    try {
      const what = layers.length === 1 ? 'every unpacked file' : `every file of the ${layers.length} unpacked layers`;
      syncfs(fd, `${what} on disk before the rename makes a layer part of the store`);
    } finally {
      closeSync(fd);
    }
    for (const layer of layers) {
      try {
        renameSync(layer.work, layer.path);
        layer.placed = true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        traceStep(`keep ${layer.path}`, 'another engine unpacked the same layer first; ours goes');
      }
    }
    fsyncDirectory(join(this.root, 'layers/sha256')); // where the new names are recorded
  }

  /** Remove what unpackToTmp left in tmp/ and placeLayers did not place (a pull that failed
   *  part-way, a layer another engine placed first). */
  discardLayers(layers: UnpackedLayer[]): void {
    for (const layer of layers) if (!layer.placed) rmSync(layer.work, { recursive: true, force: true });
  }

  /** The one pass of a pull: the download streams through the tee into its blob file and on
   *  into extractLayer, both at once. The tee ends the stream it passes on only once the blob
   *  has checked out and is in place, so the unpacking cannot finish on an unverified blob. */
  async #storeAndUnpack(blobDigest: string, download: Download, mediaType: string, work: string, name: string): Promise<ExtractedLayer> {
    const tee = this.#blobTee(blobDigest, download.size);
    // pipeline() carries a failure both ways: a broken download breaks the tee (and so the
    // unpacking that reads it), and a tee destroyed before the end stops the download.
    const storing = pipeline(download.body, tee);
    const unpacking = extractLayer(tee, mediaType, work, name).catch((err: unknown) => {
      tee.destroy(); // the unpacking gave up (a hostile entry, say): the download stops too
      throw err;
    });
    // Both settle before we go on, so a failed blob's partial file is gone when we return.
    // When both failed, the unpacking's reason is the one to tell: the tee's follows from it.
    const [stored, unpacked] = await Promise.allSettled([storing, unpacking]);
    if (unpacked.status === 'rejected') throw unpacked.reason;
    if (stored.status === 'rejected') throw stored.reason;
    return unpacked.value;
  }

  // ---------------------------------------------------------------- images

  /** The image a reference points to, or undefined. Reading needs no lock: images.json is
   *  only ever replaced whole, by rename(2), so a reader sees the old file or the new one. */
  getImage(ref: string): ImageRecord | undefined {
    return this.#readImages().get(ref);
  }

  listImages(): ImageEntry[] {
    return [...this.#readImages()]
      .map(([ref, record]) => ({ ref, ...record }))
      .sort((a, b) => a.ref.localeCompare(b.ref));
  }

  /** Point `ref` at an image whose blobs and layers are all in the store. */
  async saveImage(ref: string, record: ImageRecord): Promise<void> {
    await this.#withImagesLock(() => {
      // Checked under the lock: an `rmi` running beside our pull may have removed a shared
      // layer we found present a moment ago. images.json never names what is not there.
      for (const digest of [record.manifestDigest, record.configDigest]) {
        if (!this.hasBlob(digest)) throw new UserError(`cannot save ${ref}: blob ${digest} is not in the store`);
      }
      for (const diffId of record.layers) {
        if (!existsSync(this.layerPath(diffId))) throw new UserError(`cannot save ${ref}: layer ${diffId} is not unpacked; pull again`);
      }
      const images = this.#readImages();
      images.set(ref, record);
      this.#writeImages(images);
    });
  }

  /** Forget `ref`, then delete its blobs and layers that no other image uses. */
  async removeImage(ref: string): Promise<Removed> {
    return this.#withImagesLock(() => {
      const images = this.#readImages();
      const record = images.get(ref);
      if (!record) throw new UserError(`no such image: ${ref}`);
      const ours = this.#blobsOf(record);
      images.delete(ref);
      // Forget first, delete second: killed in between, we leave unused files behind,
      // never an image that names missing ones.
      this.#writeImages(images);

      const others = [...images.values()];
      const blobsInUse = new Set(others.flatMap((other) => this.#blobsOf(other)));
      const layersInUse = new Set(others.flatMap((other) => other.layers));
      const removed: Removed = { blobs: [], layers: [] };
      for (const diffId of new Set(record.layers)) {
        if (layersInUse.has(diffId) || !existsSync(this.layerPath(diffId))) continue;
        this.#removeLayerDirectory(diffId);
        removed.layers.push(diffId);
      }
      for (const digest of new Set(ours)) {
        if (blobsInUse.has(digest) || !this.hasBlob(digest)) continue;
        rmSync(this.blobPath(digest));
        removed.blobs.push(digest);
      }
      return removed;
    });
  }

  /** The image's layer directories, bottom first. (overlayfs's `lowerdir=` lists the top
   *  one first: reverse them for the mount.) */
  layerDirs(ref: string): string[] {
    const record = this.getImage(ref);
    if (!record) throw new UserError(`no such image: ${ref}`);
    return record.layers.map((diffId) => {
      const path = this.layerPath(diffId);
      if (!existsSync(path)) throw new UserError(`image ${ref}: layer ${diffId} is missing from the store; pull it again`);
      return path;
    });
  }

  // ---------------------------------------------------------------- on disk

  /** Every blob an image uses: manifest, config, and the compressed layers its manifest lists. */
  #blobsOf(record: ImageRecord): string[] {
    const blobs = [record.manifestDigest, record.configDigest];
    try {
      const manifest = this.readJSON<{ layers?: { digest: string }[] }>(record.manifestDigest);
      for (const layer of manifest.layers ?? []) blobs.push(layer.digest);
    } catch {
      // The manifest is gone or damaged: only what the record itself names.
    }
    return blobs;
  }

  #readImages(): Map<string, ImageRecord> {
    let text: string;
    try {
      text = readFileSync(join(this.root, 'images.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    return new Map(Object.entries(JSON.parse(text) as Record<string, ImageRecord>));
  }

  #writeImages(images: Map<string, ImageRecord>): void {
    this.#writeAtomic(join(this.root, 'images.json'), JSON.stringify(Object.fromEntries(images), null, 2) + '\n');
  }

  /** Run `update` holding images.lock, so that two engines updating images.json at once
   *  do not each write their own version and lose the other's change. */
  async #withImagesLock<T>(update: () => T): Promise<T> {
    const fd = openSync(join(this.root, 'images.lock'), constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      await waitForFlock(fd, 'exclusive', 'one engine at a time rewrites images.json');
      return update();
    } finally {
      closeSync(fd); // and with it the lock
    }
  }

  /** A name in tmp/ nobody else will pick. */
  #tmpName(what: string): string {
    return join(this.root, 'tmp', `${what}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Replace `path` with `bytes` all at once: write a file in tmp/, fsync it, rename it. */
  #writeAtomic(path: string, bytes: Uint8Array | string): void {
    const tmp = this.#tmpName('write');
    try {
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        writeFileSync(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.#commit(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** Publish a finished file: rename it into place, then fsync the directory, which is
   *  where the new name is recorded. */
  #commit(tmp: string, path: string): void {
    renameSync(tmp, path);
    fsyncDirectory(dirname(path));
  }

  /** #commit on the thread pool, for a blob that streams in while layers unpack: the fsync
   *  of a directory waits for the disk, and the engine's one thread has work meanwhile. */
  async #commitAsync(tmp: string, path: string): Promise<void> {
    await rename(tmp, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Move the layer out of layers/ in one rename, then delete it at leisure: killed halfway
   *  through, we leave a half-deleted tree in tmp/ (cleaned later), not in layers/. */
  #removeLayerDirectory(diffId: string): void {
    const doomed = this.#tmpName('removed-layer');
    renameSync(this.layerPath(diffId), doomed);
    rmSync(doomed, { recursive: true, force: true });
  }
}

/** The hex part of a sha256 digest, refusing anything else. */
function hexOf(digest: string): string {
  if (!DIGEST.test(digest)) throw new UserError(`invalid digest "${digest}": the store keeps sha256:<64 hex> digests`);
  return digest.slice('sha256:'.length);
}

export async function waitForFlock(fd: number, kind: 'shared' | 'exclusive', why: string): Promise<void> {
  while (!tryFlock(fd, kind, why)) await sleep(LOCK_RETRY_MS); // never block Node's only thread
}

function cleanTmp(tmp: string): void {
  for (const name of readdirSync(tmp)) {
    traceStep(`rm -r ${join(tmp, name)}`, 'left by an engine that was killed mid-way');
    rmSync(join(tmp, name), { recursive: true, force: true });
  }
}

function fsyncDirectory(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
