/** Test helper: images made by a real build tool (buildah, from a Containerfile), and what the
 *  reference tools make of them: `skopeo copy` + `umoci unpack` for the files, `runc run` for
 *  the process. A test pulls the same image with a chapter and compares, path by path and line
 *  by line (issue 14: "unpack exactly as umoci does, run exactly as runc does").
 *
 *  buildah runs offline, with private configuration files, its storage in a temp dir, and
 *  inside `unshare -m --propagation private` so that its overlay mounts never show on the host
 *  (see /work/shared/tools-notes.md). Its storage driver is overlay, as on a real build host:
 *  that is what makes the whiteouts of one layer hard links to one inode. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildRootfs } from '../../scripts/build-rootfs.ts';
import { chapterModule } from './ladder.ts';
import { xattrsOf } from './xattrs.ts';

let workDir: string | undefined;
let buildahEnv: NodeJS.ProcessEnv | undefined;
let counter = 0;

/** A directory for this process's builds, bundles and buildah's storage, removed at exit. */
function work(): string {
  if (!workDir) {
    const dir = mkdtempSync(join(tmpdir(), 'nutshell-real-images-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    workDir = dir;
  }
  return workDir;
}

function tool(program: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  try {
    return execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${e.stderr?.trim() || e.stdout?.trim() || e.message}`);
  }
}

/** buildah's private configuration: storage in our temp dir, no network, cgroupfs, runc, and
 *  rlimits this sandbox allows (it lacks CAP_SYS_RESOURCE). Made once per process. */
function buildah(args: string[], cwd?: string): string {
  if (!buildahEnv) {
    const dir = join(work(), 'buildah');
    mkdirSync(join(dir, 'storage'), { recursive: true });
    mkdirSync(join(dir, 'run'), { recursive: true });
    const nofile = Math.min(Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()) || 1024, 1024);
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/storage"\nrunroot = "${dir}/run"\n`);
    writeFileSync(
      join(dir, 'containers.conf'),
      `[containers]\nnetns = "none"\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=32768:32768"]\n` +
        `[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\nevents_logger = "file"\n`,
    );
    writeFileSync(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
    buildahEnv = {
      ...process.env,
      CONTAINERS_CONF: join(dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
      BUILDAH_ISOLATION: 'chroot',
    };
  }
  return tool('unshare', ['-m', '--propagation', 'private', 'buildah', ...args], { env: buildahEnv, cwd });
}

/** A file of the build context: its text, and a mode if not 0644. */
export type ContextFile = string | { content: string | Buffer; mode: number };

/** Build `containerfile` with buildah (the busybox rootfs is in the context as `rootfs/`, for
 *  `FROM scratch` + `COPY rootfs/ /`), push it to `host` as `repo:tag`, and return the
 *  reference. Steps are cached (--layers) across the builds of one process, so images that
 *  start alike share their base layers, as they do in real registries. `addToContext` gets
 *  the context directory after `files` are in it, for what a table of text files cannot say:
 *  names that are not UTF-8 (Buffer paths), links, extended attributes, capabilities. */
export function buildImage(
  host: string,
  repo: string,
  containerfile: string,
  files: Record<string, ContextFile> = {},
  tag = 'latest',
  addToContext?: (context: string) => void,
): string {
  const context = join(work(), `context-${++counter}`);
  mkdirSync(context, { recursive: true });
  cpSync(buildRootfs(), join(context, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(context, 'Containerfile'), containerfile);
  for (const [path, file] of Object.entries(files)) {
    const full = join(context, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, typeof file === 'string' ? file : file.content);
    chmodSync(full, typeof file === 'string' ? 0o644 : file.mode);
  }
  addToContext?.(context);
  const local = `localhost/${repo}:${tag}`;
  buildah(['bud', '--isolation', 'chroot', '--layers', '--pull=never', '--quiet', '-f', 'Containerfile', '-t', local, '.'], context);
  const ref = `${host}/${repo}:${tag}`;
  buildah(['push', '--quiet', '--tls-verify=false', local, `docker://${ref}`]);
  rmSync(context, { recursive: true, force: true });
  return ref;
}

/** An image of `count` layers, made with umoci and pushed with skopeo: the busybox rootfs, then
 *  one layer per file /layers/1 … /layers/<count - 1> ("layer N\n"), as a Containerfile of
 *  `COPY layer-N /layers/N` steps would make it, with buildah's config (PATH, CMD ["sh"]).
 *  Not built with buildah: its builds cost about a second a step here (each COPY re-executes
 *  buildah half a dozen times), 100 to 160 s for 128 layers, where a `umoci repack` per layer
 *  takes some 20 s in all. Returns the reference. */
export function layeredImage(host: string, repo: string, count: number, tag = 'latest'): string {
  const dir = join(work(), `layered-${++counter}`);
  const image = `${join(dir, 'layout')}:${tag}`;
  const bundle = join(dir, 'bundle');
  const repack = () => tool('umoci', ['repack', '--refresh-bundle', '--image', image, bundle]);
  tool('umoci', ['init', '--layout', join(dir, 'layout')]);
  tool('umoci', ['new', '--image', image]);
  tool('umoci', ['config', '--image', image, '--config.env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--config.cmd', 'sh']);
  tool('umoci', ['unpack', '--image', image, bundle]);
  cpSync(buildRootfs(), join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  repack();
  mkdirSync(join(bundle, 'rootfs', 'layers'));
  for (let i = 1; i < count; i++) {
    writeFileSync(join(bundle, 'rootfs', 'layers', String(i)), `layer ${i}\n`);
    repack();
  }
  const ref = `${host}/${repo}:${tag}`;
  tool('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image}`, `docker://${ref}`]);
  rmSync(dir, { recursive: true, force: true });
  return ref;
}

/** What the reference tools make of `ref`: `skopeo copy` to an OCI layout, then `umoci unpack`
 *  to a runtime bundle (rootfs/ and a config.json made from the image config). */
export function umociUnpack(ref: string): string {
  const dir = join(work(), `umoci-${++counter}`);
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  mkdirSync(dir, { recursive: true });
  tool('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:image`]);
  tool('umoci', ['unpack', '--image', `${layout}:image`, bundle]);
  return bundle;
}

/** An image one layer above `baseRef`, whose layer is `layerTar` (uncompressed, made by hand
 *  with tests/helpers/tar.ts): `skopeo copy` the base to an OCI layout, `umoci raw add-layer`
 *  (which writes the blob, the diff id, the config and the manifest as for any layer), and
 *  `skopeo copy` the result to `host` as `repo:tag`. For what no build tool puts in a layer:
 *  buildah's COPY drops `trusted.*` attributes, and umoci's repack drops `trusted.overlay.*`. */
export function buildImageWithLayer(host: string, repo: string, baseRef: string, layerTar: Buffer, tag = 'latest'): string {
  const dir = join(work(), `layer-${++counter}`);
  const layout = join(dir, 'layout');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'layer.tar'), layerTar);
  tool('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${baseRef}`, `oci:${layout}:base`]);
  tool('umoci', ['raw', 'add-layer', '--image', `${layout}:base`, '--tag', tag, join(dir, 'layer.tar')]);
  const ref = `${host}/${repo}:${tag}`;
  tool('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${ref}`]);
  return ref;
}

export interface RuncResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `runc run` of umoci's bundle, with `argv` instead of the image's command and no terminal:
 *  everything else (user, groups, env, cwd) as umoci wrote it from the image config. */
export function runWithRunc(bundle: string, argv: string[]): RuncResult {
  const configPath = join(bundle, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  config.process.terminal = false;
  config.process.args = argv;
  // umoci adds TERM=xterm to every config it writes, for a terminal: the image did not ask for
  // it, and a process without a terminal gets no TERM from runc, docker or us.
  config.process.env = (config.process.env as string[]).filter((e) => e !== 'TERM=xterm');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const state = join(work(), `runc-${++counter}`);
  const id = `nutshell-real-${process.pid}-${counter}`;
  try {
    const stdout = execFileSync('runc', ['--root', state, 'run', '--bundle', bundle, id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 128, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  } finally {
    try {
      execFileSync('runc', ['--root', state, 'delete', '--force', id], { stdio: 'ignore' });
    } catch {
      // gone with its process already
    }
  }
}

/** A shell script (for busybox sh) that prints what a process was started with: ids, groups,
 *  HOME, cwd, argv and the sorted environment. `bin` prefixes each tool ("/busybox " for an
 *  image with nothing but the binary). Run it as `[sh, -c, script, arg0, args...]`. */
export function identityScript(bin = ''): string {
  return [
    `echo "uid=$(${bin}id -u)"`,
    `echo "gid=$(${bin}id -g)"`,
    `echo "groups=$(${bin}id -G)"`,
    'echo "home=$HOME"',
    `echo "pwd=$(${bin}pwd)"`,
    'echo "argv=$0|$*"',
    `${bin}env | ${bin}sort`,
  ].join('; ');
}

/** The environment variables the shell itself sets or changes in what `env` prints
 *  (busybox sh exports PWD and SHLVL), and nothing else is dropped. */
export function identityLines(out: string): string[] {
  return out.split('\n').filter((line) => line !== '' && !/^(PWD|SHLVL|OLDPWD)=/.test(line));
}

// ---------------------------------------------------------------- trees

/** A file name, symlink target or attribute name as the listing shows it: the bytes a tar
 *  header and the kernel hold, not a string decoded from them. Printable ASCII stands for
 *  itself; every other byte, and space and backslash too (so that a line splits on spaces and
 *  `\x` always begins an escape), is `\xNN`. The Latin-1 "caf\xe9" and the UTF-8 "caf\xc3\xa9"
 *  list differently, as they are different names on disk. */
export function shownBytes(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) out += byte > 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

/** The listing of a directory tree, one line per path (sorted by bytes, the root is "/"):
 *    /etc/passwd file 0644 0:0 size=123 sha256=…
 *    /bin/sh symlink 0777 0:0 -> busybox
 *    /srv/links/b file 0644 0:0 size=2 sha256=… link=/srv/links/a
 *    /srv/caf\xe9 file 0755 0:0 size=4 sha256=… security.capability=0100000200200000… user.note=6869
 *  Type, mode with setuid/setgid/sticky, owner, size and content hash of regular files,
 *  symlink targets, device numbers, extended attributes (sorted, `name=hex of the value`),
 *  and hard links: each member of a group of paths that share an inode names the group's
 *  first path. Names and link targets are read as bytes and shown with shownBytes. Directory
 *  sizes and times are left out (they depend on the filesystem and the moment). Paths under
 *  `skip` are left out, but the skipped directories themselves are listed.
 *
 *  `trusted.*` attributes are left out too: the engine never applies them from a layer (they
 *  are overlayfs's own namespace, where a forged `trusted.overlay.opaque` would hide the layers
 *  below), while `umoci unpack`, as root, does. In a merged overlay view the kernel hides
 *  `trusted.overlay.*` anyway. A test that is about them reads them with xattrsOf. */
export function treeOf(root: string, skip: string[] = []): string[] {
  interface Entry { path: Buffer; line: string; inode?: string }
  const entries: Entry[] = [];
  const rootBytes = Buffer.from(root);
  const slash = Buffer.from('/');
  const walk = (rel: Buffer) => {
    const full = Buffer.concat([rootBytes, rel]);
    const st = lstatSync(full, { bigint: true });
    const mode = (Number(st.mode) & 0o7777).toString(8).padStart(4, '0');
    const owner = `${st.uid}:${st.gid}`;
    let line: string;
    let inode: string | undefined;
    if (st.isDirectory()) line = `dir ${mode} ${owner}`;
    else if (st.isSymbolicLink()) line = `symlink ${mode} ${owner} -> ${shownBytes(readlinkSync(full, { encoding: 'buffer' }))}`;
    else if (st.isFile()) {
      const hash = createHash('sha256').update(readFileSync(full)).digest('hex');
      line = `file ${mode} ${owner} size=${st.size} sha256=${hash}`;
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const kind = st.isCharacterDevice() ? 'char' : 'block';
      line = `${kind} ${mode} ${owner} ${Number(st.rdev) >> 8}:${Number(st.rdev) & 0xff}`;
    } else if (st.isFIFO()) line = `fifo ${mode} ${owner}`;
    else line = `socket ${mode} ${owner}`;
    for (const [name, value] of [...xattrsOf(full)].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!name.startsWith('trusted.')) line += ` ${name}=${value.toString('hex')}`;
    }
    if (!st.isDirectory() && st.nlink > 1n) inode = `${st.dev}:${st.ino}`;
    entries.push({ path: rel, line, inode });
    if (st.isDirectory() && !skip.includes(shownBytes(rel))) {
      const dir = rel.equals(slash) ? rel : Buffer.concat([rel, slash]);
      for (const name of readdirSync(full, { encoding: 'buffer' })) walk(Buffer.concat([dir, name]));
    }
  };
  walk(slash);
  entries.sort((a, b) => Buffer.compare(a.path, b.path));
  // A hard link group is named by its first path; a lone file whose other links are outside
  // the tree (nlink > 1 all the same) is not a group here.
  const firstOf = new Map<string, Buffer>();
  const members = new Map<string, number>();
  for (const e of entries) {
    if (!e.inode) continue;
    if (!firstOf.has(e.inode)) firstOf.set(e.inode, e.path);
    members.set(e.inode, (members.get(e.inode) ?? 0) + 1);
  }
  return entries.map((e) => {
    const grouped = e.inode && members.get(e.inode)! > 1 ? ` link=${shownBytes(firstOf.get(e.inode)!)}` : '';
    return `${shownBytes(e.path)} ${e.line}${grouped}`;
  });
}

/** Assert two listings are the same, reporting only the lines that differ (a rootfs has
 *  hundreds: a whole deepEqual diff would bury the one that matters). */
export function assertSameTree(actual: string[], expected: string[], message: string): void {
  const want = new Set(expected);
  const got = new Set(actual);
  const extra = actual.filter((line) => !want.has(line));
  const missing = expected.filter((line) => !got.has(line));
  assert.deepEqual({ extra, missing }, { extra: [], missing: [] }, `${message}: lines only in ours (extra) or only in umoci's (missing)`);
}

/** The layer directories of an image a chapter pulled into the store at `root`, bottom first. */
export function pulledLayerDirs(root: string, ref: string): string[] {
  const images = JSON.parse(readFileSync(join(root, 'images.json'), 'utf8')) as Record<string, { layers: string[] }>;
  const record = images[ref] ?? Object.entries(images).find(([key]) => key.startsWith(ref))?.[1];
  assert.ok(record, `${ref} is in the store (it has ${Object.keys(images).join(', ')})`);
  return record.layers.map((diffId) => join(root, 'layers', 'sha256', diffId.slice('sha256:'.length)));
}

/** The merged view of an image a chapter pulled into the store at `root`: its layer
 *  directories stacked with the chapter's own overlay (an empty upper, in a temp dir),
 *  listed with treeOf, and unmounted again. */
export async function pulledTreeOf(chapter: string, root: string, ref: string, skip: string[] = []): Promise<string[]> {
  const lowerDirs = pulledLayerDirs(root, ref);
  const { mountOverlay, unmountOverlay } = await chapterModule<typeof import('../../chapters/05-images/overlay.ts')>(chapter, 'overlay.ts');
  const dir = mkdtempSync(join(work(), 'merged-'));
  const target = join(dir, 'merged');
  mountOverlay({ lowerDirs, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target });
  try {
    return treeOf(target, skip);
  } finally {
    unmountOverlay(target);
    rmSync(dir, { recursive: true, force: true });
  }
}
