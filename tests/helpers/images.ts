/** Test helper: small OCI images made from the busybox rootfs with umoci, and pushed to a
 *  test registry with skopeo (the reference tools, so our client is checked against images
 *  it did not make). umoci's `insert` writes broken tars in 0.4.7, so every layer is made the
 *  long way: unpack a bundle, change its rootfs, repack. Built once per test process. */
import { execFileSync } from 'node:child_process';
import { cpSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildRootfs } from '../../scripts/build-rootfs.ts';

/** Fixed times, so that layers and configs hash the same from one build to the next. */
const LAYER_TIMES = ['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z'];
const CONFIG_TIME = '2024-01-04T00:00:00Z';

export const TEST_IMAGE = {
  env: ['GREETING=hello', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
  workingDir: '/srv/data',
  cmd: ['cat', 'hello.txt'],
  greeting: 'hello from layer 2\n',
  hello: 'hello from layer 3\n',
};

interface LayoutDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

const REF_NAME = 'org.opencontainers.image.ref.name';
let cacheDir: string | undefined;
const built = new Map<string, string>();

/** A directory for this process's images, removed when the process exits. */
function cache(): string {
  if (!cacheDir) {
    const dir = mkdtempSync(join(tmpdir(), 'nutshell-images-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    cacheDir = dir;
  }
  return cacheDir;
}

function tool(program: string, args: string[]): string {
  try {
    return execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Write a file into a bundle's rootfs with a fixed mtime on it and on its new parents. */
function addFile(rootfs: string, path: string, content: string, time: string): void {
  const file = join(rootfs, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  touchUp(rootfs, path, time);
}

/** Set a fixed mtime on `path` and each directory above it, up to the rootfs. */
function touchUp(rootfs: string, path: string, time: string): void {
  const when = new Date(time);
  for (let p = path; p !== '/' && p !== '.'; p = dirname(p)) {
    try {
      lutimesSync(join(rootfs, p), when, when);
    } catch {
      // a deleted file: only its directories remain to be touched
    }
  }
}

/** Set a fixed mtime on `dir` and everything below it (symlinks themselves, not their targets). */
function touchTree(dir: string, when: Date): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) touchTree(path, when);
    else lutimesSync(path, when, when);
  }
  lutimesSync(dir, when, when);
}

function repack(layout: string, tag: string, bundle: string, time: string): void {
  // The rootfs's own mtime changes whenever a top-level entry is added or removed; the layer
  // records it (as "."), so it must be fixed too.
  lutimesSync(join(bundle, 'rootfs'), new Date(time), new Date(time));
  tool('umoci', ['repack', '--refresh-bundle', '--history.created', time, '--image', `${layout}:${tag}`, bundle]);
}

/** The busybox rootfs as the first layer of `layout:tag`, in a bundle ready for more layers. */
function startImage(layout: string, tag: string, bundle: string): string {
  tool('umoci', ['init', '--layout', layout]);
  tool('umoci', ['new', '--image', `${layout}:${tag}`]);
  tool('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  cpSync(buildRootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
  // A copy gets the time of copying: fix every mtime, so that the busybox layer hashes the same
  // from one build to the next, and the test image and the multi-platform one share it.
  touchTree(rootfs, new Date(LAYER_TIMES[0]!));
  repack(layout, tag, bundle, LAYER_TIMES[0]!);
  return rootfs;
}

function configure(layout: string, tag: string, args: string[]): void {
  tool('umoci', ['config', '--created', CONFIG_TIME, '--history.created', CONFIG_TIME, '--image', `${layout}:${tag}`, ...args]);
}

/** The test image: (1) busybox, (2) adds /etc/greeting and /etc/doomed, (3) deletes
 *  /etc/doomed — a whiteout — and adds /srv/data/hello.txt; a config with Env, WorkingDir, Cmd. */
function buildMaster(layout: string, tag: string): void {
  const bundle = join(cache(), `bundle-${tag}`);
  const rootfs = startImage(layout, tag, bundle);

  addFile(rootfs, 'etc/greeting', TEST_IMAGE.greeting, LAYER_TIMES[1]!);
  addFile(rootfs, 'etc/doomed', 'this file is deleted by the next layer\n', LAYER_TIMES[1]!);
  repack(layout, tag, bundle, LAYER_TIMES[1]!);

  rmSync(join(rootfs, 'etc/doomed'));
  touchUp(rootfs, 'etc/doomed', LAYER_TIMES[2]!);
  addFile(rootfs, 'srv/data/hello.txt', TEST_IMAGE.hello, LAYER_TIMES[2]!);
  repack(layout, tag, bundle, LAYER_TIMES[2]!);

  configure(layout, tag, [
    ...TEST_IMAGE.env.flatMap((e) => ['--config.env', e]),
    '--config.workingdir', TEST_IMAGE.workingDir,
    ...TEST_IMAGE.cmd.flatMap((c) => ['--config.cmd', c]),
    '--os', 'linux', '--architecture', 'amd64',
  ]);
  rmSync(bundle, { recursive: true, force: true });
}

/** Put the three-layer test image in the OCI layout `layoutDir` under `tag`. It is built once
 *  per process; later calls copy the layout. */
export function buildTestImage(layoutDir: string, tag: string): string {
  let master = built.get('test');
  if (!master) {
    master = join(cache(), 'test-layout');
    buildMaster(master, 'test');
    built.set('test', master);
  }
  cpSync(master, layoutDir, { recursive: true });
  const index = readIndex(layoutDir);
  for (const m of index.manifests) if (m.annotations?.[REF_NAME] === 'test') m.annotations[REF_NAME] = tag;
  writeFileSync(join(layoutDir, 'index.json'), JSON.stringify(index));
  return layoutDir;
}

export interface PushOptions {
  format?: 'v2s2';
  destTag?: string;
  /** Push every image of an index, not just this machine's. */
  all?: boolean;
  /** `user:password` for a registry that asks for them. */
  creds?: string;
}

/** Copy `layout:tag` to `host/repo:tag` (or `destTag`), as OCI or, with v2s2, as Docker schema 2. */
export function pushImage(layout: string, tag: string, host: string, repo: string, opts: PushOptions = {}): void {
  tool('skopeo', [
    'copy', '--quiet', '--dest-tls-verify=false',
    ...(opts.creds ? ['--dest-creds', opts.creds] : []),
    ...(opts.format ? ['--format', opts.format] : []),
    ...(opts.all ? ['--all'] : []),
    `oci:${layout}:${tag}`, `docker://${host}/${repo}:${opts.destTag ?? tag}`,
  ]);
}

export interface MultiArchImage {
  indexDigest: string;
  manifests: Record<'amd64' | 'arm64', string>;
}

/** An index of two images, linux/amd64 and linux/arm64, built on the same busybox layer.
 *  Each has /etc/arch naming its architecture and a config that says it (the binaries stay
 *  amd64: nothing runs them). Pushed with skopeo --all as `host/repo:tag`. */
export function pushMultiArchIndex(host: string, repo: string, tag: string, opts: Pick<PushOptions, 'creds'> = {}): MultiArchImage {
  let layout = built.get('multi');
  if (!layout) {
    layout = join(cache(), 'multi-layout');
    startImage(layout, 'base', join(cache(), 'bundle-base'));
    rmSync(join(cache(), 'bundle-base'), { recursive: true, force: true });
    for (const arch of ['amd64', 'arm64']) {
      const bundle = join(cache(), `bundle-${arch}`);
      tool('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
      addFile(join(bundle, 'rootfs'), 'etc/arch', `${arch}\n`, LAYER_TIMES[1]!);
      repack(`${layout}`, arch, bundle, LAYER_TIMES[1]!); // a new tag atop the base image
      configure(layout, arch, ['--os', 'linux', '--architecture', arch]);
      rmSync(bundle, { recursive: true, force: true });
    }
    writeIndex(layout, 'multi');
    built.set('multi', layout);
  }
  pushImage(layout, 'multi', host, repo, { ...opts, all: true, destTag: tag });
  const index = readIndex(layout);
  const byTag = (name: string) => index.manifests.find((m) => m.annotations?.[REF_NAME] === name)!.digest;
  return { indexDigest: byTag('multi'), manifests: { amd64: byTag('amd64'), arm64: byTag('arm64') } };
}

function readIndex(layout: string): { schemaVersion: number; manifests: LayoutDescriptor[] } {
  return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
}

/** umoci makes manifests, not indexes: write the image index by hand, as a blob of the layout
 *  (named by its sha256) that the layout's index.json points to under `tag`. */
function writeIndex(layout: string, tag: string): void {
  const top = readIndex(layout);
  const entry = (arch: string): LayoutDescriptor => {
    const m = top.manifests.find((d) => d.annotations?.[REF_NAME] === arch)!;
    return { mediaType: m.mediaType, digest: m.digest, size: m.size, platform: { os: 'linux', architecture: arch } };
  };
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry('amd64'), entry('arm64')] }),
  );
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
  top.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: `sha256:${hex}`,
    size: bytes.length,
    annotations: { [REF_NAME]: tag },
  });
  writeFileSync(join(layout, 'index.json'), JSON.stringify(top));
}

/** An OCI image layout written by hand from raw layer tars — for images the reference tools
 *  would refuse to make, such as hostile layers — ready for `pushImage(layout, tag, …)`. */
export function writeOciLayout(layout: string, tag: string, layers: Buffer[], config: Record<string, unknown> = {}): string {
  const blob = (bytes: Buffer) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const layerDescriptors = layers.map((tar) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...blob(tar) }));
  const configBytes = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: CONFIG_TIME,
    config: { Cmd: ['/bin/sh'], ...config },
    rootfs: { type: 'layers', diff_ids: layerDescriptors.map((l) => l.digest) },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(configBytes) },
    layers: layerDescriptors,
  }));
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...blob(manifest), annotations: { [REF_NAME]: tag } }] };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  return layout;
}
