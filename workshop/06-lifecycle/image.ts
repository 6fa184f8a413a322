/** Chapter 05 · images: from a reference to a runnable root filesystem.
 *  pullImage() follows the pull of the OCI distribution spec (registry.ts): resolve the
 *  reference to a manifest, fetch the config, then each layer blob — checked against its
 *  digest as it streams into the content-addressed store — and unpack each layer once, by
 *  its diff id, into a directory that overlayfs can use as a lower dir (store.ts, layer.ts).
 *  runSpec() turns the image config (Entrypoint, Cmd, Env, WorkingDir, User) and the
 *  command line into what the container runs, the way docker combines them. */
import { existsSync } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import type { MultiBar, SingleBar } from 'cli-progress';
import { UserError } from '../../lib/errors.ts';
import { DEFAULT_PATH, type ProcessSpec } from './container.ts';
import { formatReference, parseReference } from './reference.ts';
import { defaultPlatform, type Platform } from './platform.ts';
import { RegistryClient, type Descriptor, type ImageConfig, type RegistryOptions } from './registry.ts';
import type { Download, ImageRecord, Store, UnpackedLayer } from './store.ts';

export interface PullOptions extends RegistryOptions {
  platform?: Platform;
  /** No progress bars (on a terminal) or per-layer lines (otherwise, on stdout). */
  quiet?: boolean;
}

/** How many layers download at once: enough to fill a link, few enough to be polite. */
const PARALLEL_LAYERS = 3;

/** Pull `text` into the store: the full reference it is stored under, and its digest. */
export async function pullImage(store: Store, text: string, opts: PullOptions = {}): Promise<{ name: string; digest: string }> {
  const ref = parseReference(text);
  const name = formatReference(ref);
  const client = new RegistryClient(ref.registry, opts);
  // 1. The manifest (through an index when the reference names one) says what to fetch.
  const image = await client.resolveImage(ref, opts.platform ?? defaultPlatform());
  // 2. The config: the image's settings and, in rootfs.diff_ids, the digest of each layer
  //    once uncompressed — what the unpacked layer directories are named after. A few KB,
  //    checked and held in memory; it is stored with the manifest at the end, for writing it
  //    now (and its fsync) would hold up every layer.
  const configBytes = store.hasBlob(image.config.digest)
    ? store.readBlob(image.config.digest)
    : await client.fetchBlobBytes(ref.repository, image.config);
  const config = parseConfig(configBytes, name);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== image.layers.length) {
    throw new UserError(`image ${name} is inconsistent: ${image.layers.length} layers in its manifest, ${diffIds.length} diff ids in its config`);
  }
  // 3. The layers, a few at a time, each unpacked once per diff id. A blob that is not in
  //    the store yet is unpacked as it downloads, in one pass: the bytes go to the blob
  //    file and through gunzip and tar at once, and both are checked at the end. Each layer
  //    goes into its own directory in tmp/, so they can finish in any order; once all have,
  //    one syncfs puts them on disk and they are renamed into the store together.
  const progress = await TransferProgress.start(opts.quiet === true, 'downloading');
  const unpacked: UnpackedLayer[] = [];
  let failure: { reason: unknown } | undefined;
  try {
    await inBatches(image.layers, PARALLEL_LAYERS, async (layer, i) => {
      const bar = progress.add(layer);
      if (existsSync(store.layerPath(diffIds[i]!))) return bar.finish('already exists');
      let download: Download | undefined;
      if (!store.hasBlob(layer.digest)) {
        const { body } = await client.fetchBlob(ref.repository, layer.digest);
        // Counted only for a bar to draw: each stage a chunk goes through costs some time.
        download = { body: progress.drawsBars ? counted(body, (n) => bar.advance(n)) : body, size: layer.size };
      }
      const layerInTmp = await store.unpackToTmp(layer.digest, layer.mediaType, diffIds[i]!, download);
      if (layerInTmp) unpacked.push(layerInTmp);
      bar.finish('pull complete');
    });
  } catch (reason) {
    failure = { reason };
  } finally {
    progress.stop();
  }
  try {
    // Also when another layer failed: those that were unpacked and checked are whole, and
    // the next pull will find them.
    store.placeLayers(unpacked);
  } catch (reason) {
    failure ??= { reason };
  } finally {
    store.discardLayers(unpacked); // what was not placed goes from tmp/
  }
  if (failure) throw failure.reason;
  // 4. Last, the manifest and the name: an image appears in `images` only once it is whole.
  store.putBytes(configBytes);
  store.putBytes(image.manifestBytes);
  const record: ImageRecord = {
    manifestDigest: image.manifestDigest,
    configDigest: image.config.digest,
    layers: diffIds,
    created: config.created ?? new Date(0).toISOString(),
    size: image.layers.reduce((sum, l) => sum + l.size, 0),
  };
  await store.saveImage(name, record);
  return { name, digest: image.manifestDigest };
}

/** `run` of an image the store lacks pulls it first: its full name once pulled. When the pull
 *  fails, the error says first that the image is not here. "cannot reach registry docker.io"
 *  alone reads as if `run` always needed the registry, or hides a mistyped name. */
export async function pullMissingImage(store: Store, text: string, opts: PullOptions): Promise<string> {
  try {
    return (await pullImage(store, text, opts)).name;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    throw new UserError(`image ${formatReference(parseReference(text))} is not in the local store, and pulling it failed: ${err.message}`);
  }
}

function parseConfig(bytes: Buffer, name: string): ImageConfig & { created?: string } {
  try {
    return JSON.parse(bytes.toString('utf8')) as ImageConfig & { created?: string };
  } catch {
    throw new UserError(`the config of ${name} is not valid JSON`);
  }
}

/** The same bytes, counted on their way through (for the progress bars). A 'data' listener
 *  on `source` itself would start it flowing before the store reads it, and lose chunks. */
export function counted(source: Readable, onBytes: (n: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
  source.on('error', (err) => counter.destroy(err));
  return source.pipe(counter);
}

/** Run `work` on every item, at most `limit` at a time. After a failure no new item starts,
 *  and the first failure is thrown once the running ones have settled: the caller can then
 *  clean up after all of them, none still writing. */
async function inBatches<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { reason: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++;
      await work(items[index]!, index).catch((reason: unknown) => {
        failure ??= { reason };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.reason;
}

/** One progress bar per blob on a terminal (cli-progress, on stderr), one line per change
 *  otherwise (on stdout, like docker pull or push into a pipe). Used by pull and push. */
export class TransferProgress {
  readonly #bars: MultiBar | undefined;
  readonly #quiet: boolean;
  readonly #initially: string;
  private constructor(bars: MultiBar | undefined, quiet: boolean, initially: string) {
    this.#bars = bars;
    this.#quiet = quiet;
    this.#initially = initially;
  }

  /** cli-progress is loaded only when there is a terminal to draw on: it costs some 5 MB
   *  of memory, which a pull into a pipe or a script would carry for nothing. */
  static async start(quiet: boolean, initially: string): Promise<TransferProgress> {
    if (quiet || !process.stderr.isTTY) return new TransferProgress(undefined, quiet, initially);
    const { MultiBar, Presets } = await import('cli-progress');
    const bars = new MultiBar({ stream: process.stderr, format: '{id}: {bar} {size} {status}', hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
    return new TransferProgress(bars, quiet, initially);
  }

  /** Whether there are bars, which need the bytes counted as they go. */
  get drawsBars(): boolean {
    return this.#bars !== undefined;
  }

  add(layer: Descriptor) {
    const id = layer.digest.slice(7, 19);
    const size = `${(layer.size / 1e6).toFixed(1)} MB`;
    const bar: SingleBar | undefined = this.#bars?.create(layer.size, 0, { id, size, status: this.#initially });
    const say = (status: string) => {
      if (bar) bar.update({ status });
      else if (!this.#quiet) process.stdout.write(`${id}: ${status}\n`);
    };
    return {
      advance: (n: number) => bar?.increment(n),
      status: say,
      finish: (status: string) => {
        bar?.update(layer.size, { status });
        say(status);
      },
    };
  }

  stop(): void {
    this.#bars?.stop();
  }
}

// ---------------------------------------------------------------- from image config to process

/** docker's rules: the command line replaces Cmd (not Entrypoint); --entrypoint replaces
 *  Entrypoint and drops the image's Cmd with it (`--entrypoint ""`: no entrypoint at all); -e
 *  adds to or replaces the image's Env by name (`-e NAME` alone takes the engine's own value);
 *  -w replaces WorkingDir. */
export function runSpec(config: ImageConfig, command: string[], overrides: { entrypoint?: string[]; env?: string[]; workdir?: string; user?: string }): ProcessSpec {
  const settings = config.config ?? {};
  const { entrypoint } = overrides;
  const first = entrypoint === undefined ? (settings.Entrypoint ?? []) : entrypoint.filter((word, i) => i > 0 || word !== '');
  const defaultCommand = entrypoint === undefined ? (settings.Cmd ?? []) : [];
  const argv = [...first, ...(command.length > 0 ? command : defaultCommand)];
  const none = entrypoint === undefined ? 'the image has no Entrypoint or Cmd' : `--entrypoint "${entrypoint.join(' ')}" leaves none`;
  if (argv.length === 0) throw new UserError(`no command: ${none}, so give one after the image name`);
  const env = new Map<string, string>();
  // No HOME here: it comes from the user's /etc/passwd line, readable only inside the container.
  for (const entry of [`PATH=${DEFAULT_PATH}`, ...(settings.Env ?? [])]) env.set(entry.split('=')[0]!, entry);
  for (const entry of overrides.env ?? []) {
    const [key] = entry.split('=');
    if (!key || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`invalid environment variable "${entry}": use -e NAME=value`);
    env.set(key, entry.includes('=') ? entry : `${key}=${process.env[key] ?? ''}`);
  }
  return { argv, env: [...env.values()], workdir: overrides.workdir ?? (settings.WorkingDir || '/'), user: overrides.user ?? (settings.User || undefined) };
}
