/** Chapter 08 · commit: a container's changes become a new image. Chapter 04 already turns
 *  the upper dir into a layer tar (overlay.ts, writeLayerTar); here that layer joins the
 *  store like a pulled one, and a new config and manifest put it on top of the base image:
 *    1. the upper dir → a tar (its sha256 is the diff id) → gzip (its sha256 is the blob digest);
 *    2. the blob into the store, and unpacked into layers/, so the new image runs at once;
 *    3. a config: the base one, plus the diff id, a history entry, a new `created` (and Cmd);
 *    4. a manifest: the base image's layer descriptors, plus ours, and the new config;
 *    5. last, the name: images.json points the new reference at the manifest.
 *  Each step publishes complete content by rename(2), and the name comes last: killed or
 *  failing at any point, commit leaves no image that names something missing. What it did
 *  publish before a failure is whole and named by its hash, so the next commit reuses it.
 *  A running container is frozen while step 1 reads its upper dir, as `docker commit` pauses
 *  it: no process in it can change a file, or swap a directory for a symlink, meanwhile.
 *  Lesson: docs/08-distribution.md */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import type { Cgroup } from './cgroups.ts';
import { DEFAULT_PATH } from './container.ts';
import { writeLayerTar } from './overlay.ts';
import { formatReference, parseReference } from './reference.ts';
import { digestOf, Digester, MEDIA_TYPES, type Descriptor, type ImageConfig, type ImageManifest } from './registry.ts';
import type { ImageRecord, Store } from './store.ts';

export interface CommitOptions {
  /** The container's upper dir: everything it wrote, with overlay's marks of deletions. */
  upperDir: string;
  /** The image the container ran: its layers are the lower dirs under that upper dir.
   *  Without one (`import`), the directory becomes the only layer of a new image. */
  baseRef?: string;
  /** The name of the new image. */
  newRef: string;
  /** Kept in the new history entry, like `docker commit -m`. */
  comment?: string;
  /** Replaces the image's Cmd, like `docker commit --change 'CMD [...]'`. */
  cmd?: string[];
  /** The cgroup of the container, if it runs: frozen while its upper dir is read, thawed
   *  after (`docker commit --pause=false` is the same without one). */
  pause?: Pick<Cgroup, 'freeze' | 'thaw'>;
}

const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** The same gzipped tar under Docker's name and OCI's: an OCI manifest uses OCI's names. */
const OCI_NAME_OF: Record<string, string> = {
  'application/vnd.docker.image.rootfs.diff.tar.gzip': OCI_LAYER_GZIP,
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** The parts of a config that commit changes, beyond what a runtime reads (ImageConfig). */
interface CommittableConfig extends ImageConfig {
  created?: string;
  history?: HistoryEntry[];
}

interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** Commit the upper dir on top of `baseRef` as `newRef`: the new image's full name and digest. */
export async function commitContainer(store: Store, opts: CommitOptions): Promise<{ name: string; manifestDigest: string }> {
  const name = formatReference(parseReference(opts.newRef));
  if (!statSync(opts.upperDir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`upper dir ${opts.upperDir} not found: nothing to commit`);
  const { baseManifest, baseConfig } = opts.baseRef ? readBase(store, opts.baseRef) : SCRATCH;

  // 1 and 2. The layer, made in the store's tmp/ (same filesystem: the blob is renamed, not
  // copied, into blobs/), then unpacked by the store, which checks it against our diff id.
  const work = mkdtempSync(join(store.root, 'tmp', 'commit-'));
  let layer: Descriptor;
  let diffId: string;
  try {
    // Frozen, the container cannot change what we read; its processes go on where they
    // stopped once the tar is written — or the read failed: never leave a container frozen.
    opts.pause?.freeze();
    try {
      diffId = writeLayerTar(opts.upperDir, join(work, 'layer.tar'));
    } finally {
      opts.pause?.thaw();
    }
    const gzipped = await gzipFile(join(work, 'layer.tar'), join(work, 'layer.tar.gz'));
    layer = { mediaType: OCI_LAYER_GZIP, ...gzipped };
    traceStep(`layer ${diffId.slice(0, 19)} → blob ${layer.digest.slice(0, 19)}`, 'the diff id names the tar, the blob digest names its gzip: the config lists one, the manifest the other');
    await store.putBlob(layer.digest, createReadStream(join(work, 'layer.tar.gz')), layer.size);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  await store.unpackLayer(layer.digest, layer.mediaType, diffId);

  // 3. The config: everything the base said (Env, Entrypoint, WorkingDir…), one layer more.
  const created = new Date().toISOString();
  const config: CommittableConfig = {
    ...baseConfig,
    created,
    config: { ...baseConfig.config, ...(opts.cmd && { Cmd: opts.cmd }) },
    rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, diffId] },
    history: [
      ...historyOf(baseConfig),
      { created, created_by: opts.baseRef ? 'nutshell commit' : 'nutshell import', ...(opts.comment !== undefined && { comment: opts.comment }) },
    ],
  };
  const configBytes = Buffer.from(JSON.stringify(config));

  // 4. The manifest. Its layers are the base's descriptors as they are: same blobs, same
  // digests, so a registry that has the base image already has all of them but ours.
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: OCI_CONFIG, digest: digestOf(configBytes), size: configBytes.length },
    layers: [...baseManifest.layers.map(asOciLayer), layer],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));

  const configDigest = store.putBytes(configBytes);
  const manifestDigest = store.putBytes(manifestBytes);
  // 5. The name, last: only now does the image exist.
  const record: ImageRecord = {
    manifestDigest,
    configDigest,
    layers: config.rootfs.diff_ids,
    created,
    size: manifest.layers.reduce((sum, l) => sum + l.size, 0),
  };
  await store.saveImage(name, record);
  return { name, manifestDigest };
}

/** Give the image `source` a second name, `target` (docker tag): the same record, so the
 *  same manifest, config and layers. Returns the full target name. */
export async function tagImage(store: Store, source: string, target: string): Promise<string> {
  const sourceName = formatReference(parseReference(source));
  const targetName = formatReference(parseReference(target));
  const record = store.getImage(sourceName);
  if (!record) throw new UserError(`no image ${sourceName} in the store`);
  await store.saveImage(targetName, record);
  return targetName;
}

/** No base image (`import`): an empty manifest and a config with only a default PATH and Cmd. */
const SCRATCH = {
  baseManifest: { layers: [] as Descriptor[] },
  baseConfig: {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [] as string[] },
  } as CommittableConfig,
};

function readBase(store: Store, baseRef: string) {
  const baseName = formatReference(parseReference(baseRef));
  const base = store.getImage(baseName);
  if (!base) throw new UserError(`no image ${baseName} in the store`);
  return { baseManifest: store.readJSON<ImageManifest>(base.manifestDigest), baseConfig: store.readJSON<CommittableConfig>(base.configDigest) };
}

/** Gzip `tarFile` into `gzFile`, streaming, and return the digest and size of the gzip. */
async function gzipFile(tarFile: string, gzFile: string): Promise<{ digest: string; size: number }> {
  const digest = new Digester();
  let size = 0;
  await pipeline(
    createReadStream(tarFile),
    createGzip(),
    async function* hashing(chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        digest.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(gzFile, { flags: 'wx' }),
  );
  return { digest: digest.digest(), size };
}

/** The base history. Tools pair the entries that are not `empty_layer` with the layers, in
 *  order: a base without history gets one entry per layer, so that ours pairs with our layer. */
function historyOf(config: CommittableConfig): HistoryEntry[] {
  if (config.history) return config.history;
  return config.rootfs.diff_ids.map(() => ({ ...(config.created !== undefined && { created: config.created }) }));
}

/** A layer descriptor of a Docker manifest, renamed for an OCI one (the bytes are the same). */
function asOciLayer(layer: Descriptor): Descriptor {
  return { ...layer, mediaType: OCI_NAME_OF[layer.mediaType] ?? layer.mediaType };
}
