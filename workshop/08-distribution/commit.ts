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
  // 1 and 2. The layer, made in the store's tmp/ (same filesystem: the blob is renamed, not
  // copied, into blobs/), then unpacked by the store, which checks it against our diff id.
  // Frozen, the container cannot change what we read; its processes go on where they
  // stopped once the tar is written — or the read failed: never leave a container frozen.
  // 3. The config: everything the base said (Env, Entrypoint, WorkingDir…), one layer more.
  // 4. The manifest. Its layers are the base's descriptors as they are: same blobs, same
  // digests, so a registry that has the base image already has all of them but ours.
  // 5. The name, last: only now does the image exist.
  throw new Error('TODO (chapter 08): write commitContainer(), as the comment above it says');
}

/** Give the image `source` a second name, `target` (docker tag): the same record, so the
 *  same manifest, config and layers. Returns the full target name. */
export async function tagImage(store: Store, source: string, target: string): Promise<string> {
  throw new Error('TODO (chapter 08): write tagImage(), as the comment above it says');
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
  throw new Error('TODO (chapter 08): write readBase()');
}

/** Gzip `tarFile` into `gzFile`, streaming, and return the digest and size of the gzip. */
async function gzipFile(tarFile: string, gzFile: string): Promise<{ digest: string; size: number }> {
  throw new Error('TODO (chapter 08): write gzipFile(), as the comment above it says');
}

/** The base history. Tools pair the entries that are not `empty_layer` with the layers, in
 *  order: a base without history gets one entry per layer, so that ours pairs with our layer. */
function historyOf(config: CommittableConfig): HistoryEntry[] {
  throw new Error('TODO (chapter 08): write historyOf(), as the comment above it says');
}

/** A layer descriptor of a Docker manifest, renamed for an OCI one (the bytes are the same). */
function asOciLayer(layer: Descriptor): Descriptor {
  throw new Error('TODO (chapter 08): write asOciLayer(), as the comment above it says');
}
