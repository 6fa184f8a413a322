/** Chapter 04 · overlayfs: a rootfs made of read-only layers with one writable directory on
 *  top. mountOverlay() stacks the layers; every change the container makes lands in the upper
 *  dir and nowhere else. readChanges() lists those changes the way `docker diff` does, and
 *  writeLayerTar() turns them into a new OCI layer: the heart of `docker commit`.
 *  Lesson: docs/04-unionfs.md */
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { SyscallError, UserError } from '../../lib/errors.ts';
import { quoteBytes, traceStep } from '../../lib/trace.ts';
import { getxattr, listxattr, mount, O_CLOEXEC, O_PATH, openat2, readlinkFd, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, umount2 } from './syscalls.ts';
import { encodeHeader, END_OF_ARCHIVE, padding, pathBytes, pathComponents, TYPE, type TarHeader } from './tar.ts';

/** The directories of one overlay mount. */
export interface OverlayDirs {
  /** Read-only layers, bottom first: the order of `--layer` options and of an image manifest. */
  lowerDirs: string[];
  /** Where every write goes: new files, copied-up files, and the marks of deletions. */
  upperDir: string;
  /** Overlay's scratch space: a file is prepared here, then renamed into upper in one step. */
  workDir: string;
  /** Where the merged view appears: the container's rootfs. */
  target: string;
  /** The upper dir is thrown away when the container ends (`run --rm`): mount with `volatile`. */
  volatile?: boolean;
}

/** One line of `docker diff`: Added, Changed or Deleted, with a path as the container sees it. */
export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

// mount(2) copies its data argument into one page of kernel memory, terminating NUL included,
// and cuts a longer string there: overlay then fails on a truncated path with a puzzling ENOENT.
// 4096 is the page size on x86_64 and the smallest one anywhere, so it is the safe limit.
// Spelled out, a store's layer paths take ~90 bytes each and fill the page at about 41 layers;
// as /proc/self/fd/N names (see mountOverlay) they take ~18, and 128 layers fit in 2.4 KB.
const MOUNT_DATA_MAX = 4096;
// Overlay's own marks in the upper dir (user.overlay.* instead when mounted without root).
const OPAQUE_XATTR = 'trusted.overlay.opaque';
// How an OCI layer spells the same two marks (image spec, layer.md, "Whiteouts"): a file
// `.wh.<name>` deletes <name>, and a file `.wh..wh..opq` says its directory hides everything
// the layers below had in it.
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

// ---------------------------------------------------------------- mounting

/** Stack `lowerDirs` under `upperDir` and show the result at `target`. */
export function mountOverlay(dirs: OverlayDirs): void {
  if (dirs.lowerDirs.length === 0) throw new UserError('overlay needs at least one lower dir (a layer)');
  const lowerDirs = dirs.lowerDirs.map(checkLowerDir);
  // No look at /proc/filesystems first: it lists only the filesystems the kernel has now, and
  // on most distributions overlay is a module that is not loaded yet. mount(2) itself loads it
  // (the kernel runs /proc/sys/kernel/modprobe for "fs-overlay"), and says ENODEV only when
  // that failed too; the catch below turns that into what to do.
  // Upper, work and target are ours to make: a fresh upper per container.
  const [upperDir, workDir, target] = [dirs.upperDir, dirs.workDir, dirs.target].map((dir) => {
    mkdirSync(dir, { recursive: true });
    return realpathSync(dir);
  }) as [string, string, string];
  checkUpperDir(upperDir, workDir);
  // Name each layer by a descriptor instead of its path: the kernel follows the magic link
  // /proc/self/fd/N to the directory itself while it mounts, and ~18 bytes a layer keep even
  // 128 layers inside mount(2)'s one page. (Docker's overlay2 makes short symlinks instead.)
  // /proc is still the host's here: the child stage mounts before pivot_root(2). Upper and
  // work keep their paths: two of them fit, and /proc/PID/mountinfo then says whose overlay it is.
  const fds: number[] = [];
  const byFd = (dir: string) => {
    const fd = openSync(dir, O_PATH | O_CLOEXEC | constants.O_DIRECTORY);
    fds.push(fd);
    traceStep(`open(${JSON.stringify(dir)}, O_PATH|O_CLOEXEC|O_DIRECTORY) = ${fd}`, 'a short name for the overlay options: /proc/self/fd/N');
    return `/proc/self/fd/${fd}`;
  };
  try {
    const layers = lowerDirs.map(byFd);
    if (dirs.volatile && mountVolatile(layers, upperDir, workDir, target)) return;
    const options = overlayOptions(layers, upperDir, workDir);
    mount('overlay', target, 'overlay', 0, options, 'stack the layers: reads fall through to the lowers, writes land in upper');
  } catch (err) {
    // ENODEV: "no such filesystem type", after the kernel tried to load overlay's module.
    if (err instanceof SyscallError && err.code === 'ENODEV') {
      throw new UserError(
        `mount overlay on ${target}: ENODEV — this kernel has no overlay filesystem and could not load its module; ` +
          'try: modprobe overlay, or a kernel built with CONFIG_OVERLAY_FS',
      );
    }
    // EINVAL is all mount(2) says for every option overlay dislikes; the reason goes to the kernel log.
    if (err instanceof SyscallError && err.code === 'EINVAL') {
      throw new UserError(
        `mount overlay on ${target}: EINVAL — the kernel refused the options; \`dmesg | tail\` shows overlayfs's reason ` +
          '(work dir inside upper, a dir used twice, a filesystem without xattrs or d_type?)',
      );
    }
    throw err;
  } finally {
    for (const fd of fds) closeSync(fd); // the mount holds the dirs now, not the descriptors
  }
}

/** The mount of a container whose upper dir is thrown away when it ends: overlay's `volatile`
 *  option (Linux 5.10) leaves out every sync of the upper dir — fsync(2) and syncfs(2) inside,
 *  and, above all, the sync of the whole filesystem under upper that the kernel runs when the
 *  overlay is unmounted. That unmount happens as the container's mount namespace dies, before
 *  the engine even learns that the container ended, and it waits for every dirty page on that
 *  filesystem, whoever wrote them: tens to hundreds of ms after another program's big write.
 *  The price: after a crash the upper dir may have lost writes, and the kernel leaves a mark
 *  (work/work/incompat/volatile) that makes it refuse any later mount of this upper and work.
 *  Neither matters for a container that is never mounted again. Volumes (-v) are bind mounts
 *  of host directories, not overlay: a sync there still reaches the disk.
 *  False when the kernel says EINVAL: one older than 5.10 knows no `volatile`, and we mount as
 *  before (if it was another option it disliked, that mount fails and says so). */
function mountVolatile(layers: string[], upperDir: string, workDir: string, target: string): boolean {
  try {
    mount('overlay', target, 'overlay', 0, overlayOptions(layers, upperDir, workDir, true),
      'stack the layers; volatile: this upper dir is thrown away, so nothing in it needs syncing, not even at unmount');
    return true;
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'EINVAL')) throw err;
    traceStep('mount overlay again, without volatile', 'EINVAL: a kernel older than 5.10 has no "volatile" option');
    return false;
  }
}

/** Detach the merged view. The upper dir keeps the changes; the lower dirs were never written. */
export function unmountOverlay(target: string): void {
  umount2(target, 0, 'detach the merged view; the changes stay in the upper dir');
}

/** The option string of an overlay mount. The kernel reads `lowerdir` from left to right as
 *  top to bottom — the first dir that has a name wins — so our bottom-first list is reversed. */
export function overlayOptions(lowerDirs: string[], upperDir: string, workDir: string, volatile = false): string {
  const topFirst = [...lowerDirs].reverse().map(escapeOption);
  const options = [
    `lowerdir=${topFirst.join(':')}`,
    `upperdir=${escapeOption(upperDir)}`,
    `workdir=${escapeOption(workDir)}`,
    // Keep every change whole inside upper, since the layer is made from upper alone: a renamed
    // directory is copied rather than redirected to its old lower path, and a chmod copies the
    // data up too rather than only the metadata.
    'redirect_dir=off',
    'metacopy=off',
    ...(volatile ? ['volatile'] : []), // see mountVolatile()
  ].join(',');
  const size = Buffer.byteLength(options) + 1;
  if (size > MOUNT_DATA_MAX) {
    throw new UserError(
      `too many layers for one mount (${lowerDirs.length}): the overlay options take ${size} bytes, but mount(2) copies at most ` +
        `one page (${MOUNT_DATA_MAX} bytes) — use fewer layers (docker's limit is 125)`,
    );
  }
  return options;
}

/** Commas separate options and colons separate lower dirs: a backslash keeps one in a path. */
function escapeOption(path: string): string {
  return path.replace(/[\\,:]/g, '\\$&');
}

function checkLowerDir(dir: string): string {
  if (!existsSync(dir)) throw new UserError(`lower dir not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UserError(`lower dir is not a directory: ${dir}`);
  return realpathSync(dir);
}

/** The upper dir must live on a filesystem that can hold whiteouts and overlay's xattrs — not
 *  on an overlay itself, which is what "/" is inside a docker container — and on the same mount
 *  as the work dir, because overlay rename(2)s finished files from work into upper. */
function checkUpperDir(upperDir: string, workDir: string): void {
  traceStep('read /proc/self/mountinfo', 'which mounts hold the upper and work dirs?');
  const upper = mountHolding(upperDir);
  if (upper.fstype === 'overlay') {
    throw new UserError(
      `upper dir ${upperDir} is on an overlay (mounted at ${upper.mountPoint}), which cannot be an upper dir — ` +
        'put it on a real filesystem or a tmpfs (inside docker: a volume)',
    );
  }
  if (mountHolding(workDir).id !== upper.id) {
    throw new UserError(`work dir ${workDir} and upper dir ${upperDir} must be on the same mount (rename(2) cannot cross mounts)`);
  }
}

interface MountInfo {
  id: number;
  mountPoint: string;
  fstype: string;
}

/** The mount a path lives on: the longest mount point that contains it. Of mounts stacked on
 *  the same point the last line wins, as it was mounted last and hides the others. */
function mountHolding(path: string): MountInfo {
  let found: MountInfo = { id: -1, mountPoint: '/', fstype: '' };
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw" (man 5 proc_pid_mountinfo)
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0) continue;
    // Spaces and other odd characters in mount points are written as octal escapes: \040.
    const mountPoint = fields[4]!.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const inside = path === mountPoint || path.startsWith(mountPoint === '/' ? '/' : `${mountPoint}/`);
    if (inside && mountPoint.length >= found.mountPoint.length) {
      found = { id: Number(fields[0]), mountPoint, fstype: fields[separator + 1]! };
    }
  }
  return found;
}

// ---------------------------------------------------------------- reading the upper dir

/** One thing in the upper dir, with overlay's two marks decoded. */
interface UpperEntry {
  /** Relative to the upper dir, without a leading slash: `etc/passwd`. Bytes, as the kernel
   *  keeps names: a name need not be valid UTF-8, and a string would change it. */
  path: Buffer;
  stat: Stats;
  /** A 0/0 character device: overlay's mark that the lower file of that name is deleted. */
  whiteout: boolean;
  /** A directory that replaced the lower one: nothing of the lowers shows through it. */
  opaque: boolean;
  /** An O_PATH descriptor of the entry itself, open until the walk moves on: the very file
   *  that was fstat'ed, whatever its name is made to point to meanwhile. */
  fd: number;
}

/** The upper dir depth first, each directory's names sorted: parents before their contents,
 *  and the same order every time, so the same upper gives the same layer.
 *  A running container can rename anything in its upper dir while we read it. Looked up by
 *  path again at each step, a directory listed as a directory, then swapped for a symlink to a
 *  host path, would be read on the HOST, into the image. So every name is opened once, in the
 *  directory we hold open, by openat2(2) refusing any symlink, and only that descriptor is
 *  stat'ed, listed and read. A symlink is held as itself, and becomes a symlink in the tar. */
function* walkUpper(upperDir: string): Generator<UpperEntry> {
  const upperFd = openSync(upperDir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    yield* walkDir(upperFd, Buffer.alloc(0));
  } finally {
    closeSync(upperFd);
  }
}

function* walkDir(dirFd: number, dir: Buffer): Generator<UpperEntry> {
  for (const name of readdirSync(`/proc/self/fd/${dirFd}`, { encoding: 'buffer' }).sort(Buffer.compare)) {
    const path = dir.length > 0 ? pathBytes(dir, name) : name;
    const fd = openat2(dirFd, name, O_PATH | constants.O_NOFOLLOW | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, 'hold the entry itself, never what a symlink points to', {
      target: `${dirFd} (${dir.length > 0 ? quoteBytes(dir) : '"."'}), ${quoteBytes(name)}, {O_PATH|O_NOFOLLOW|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS}`,
    });
    try {
      const stat = fstatSync(fd);
      // The trailing "/" makes the kernel follow the magic link to the directory we hold.
      const opaque = stat.isDirectory() && isOpaque(`/proc/self/fd/${fd}/`);
      yield { path, stat, whiteout: isWhiteout(stat), opaque, fd };
      if (stat.isDirectory()) yield* walkDir(fd, path);
    } finally {
      closeSync(fd);
    }
  }
}

function isWhiteout(stat: Stats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0;
}

function isOpaque(dir: string | Buffer): boolean {
  return getxattr(dir, OPAQUE_XATTR, 'is this directory opaque? overlay marks one that replaced a lower directory with "y"')?.toString() === 'y';
}

/** What the container changed, as `docker diff` shows it, sorted by path:
 *  - D: a whiteout in upper, the lower file or directory is gone;
 *  - C: the path is in upper and also in a lower — a copied-up file, or a directory that is in
 *    upper only because something inside it changed (docker lists those parents as C too);
 *  - A: the path is in upper only.
 *  An opaque directory (`rm -rf dir; mkdir dir`) is where we part from docker: docker reports
 *  it as D although it still exists. We report what a look inside shows: the directory C, each
 *  name the lowers had in it and that is gone D, and its new contents A or C as anywhere else.
 *  Paths are looked up as bytes; a name that is not valid UTF-8 is shown quoted, with \xNN. */
export function readChanges(upperDir: string, lowerDirs: string[]): Change[] {
  const changes: { kind: Change['kind']; path: Buffer }[] = [];
  for (const entry of walkUpper(upperDir)) {
    if (entry.whiteout) {
      changes.push({ kind: 'D', path: entry.path });
      continue;
    }
    const inLowers = visibleInLowers(lowerDirs, entry.path);
    if (isNetworkFileMountPoint(entry.path, entry.stat, entry.opaque, upperDir)) continue;
    changes.push({ kind: inLowers ? 'C' : 'A', path: entry.path });
    if (!entry.opaque || !inLowers) continue;
    for (const name of namesInLowers(lowerDirs, entry.path)) {
      const path = pathBytes(entry.path, name);
      if (!lstatOrNull(pathBytes(upperDir, path))) changes.push({ kind: 'D', path });
    }
  }
  return changes
    .sort((a, b) => Buffer.compare(a.path, b.path))
    .map(({ kind, path }) => ({ kind, path: shownPath(pathBytes('', path)) }));
}

const NETWORK_FILES = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf'];

/** The empty file the engine made to bind /etc/hosts, /etc/hostname or /etc/resolv.conf on, in
 *  an image that had none, and the /etc that overlay copied up to hold it: the engine's change,
 *  not the container's. What the container writes there lands in the bound file, outside the
 *  upper dir, and a mount point cannot be removed (EBUSY): an empty file of those names in the
 *  upper dir is always ours. docker leaves them out of diff and commit too. */
function isNetworkFileMountPoint(pathInUpper: Buffer, stat: Stats, opaque: boolean, upperDir: string): boolean {
  const path = pathInUpper.toString('latin1');
  if (NETWORK_FILES.includes(path)) return stat.isFile() && stat.size === 0;
  if (path !== 'etc' || opaque) return false;
  return readdirSync(`${upperDir}/etc`).every((name) => NETWORK_FILES.includes(`etc/${name}`) && lstatSync(`${upperDir}/etc/${name}`).size === 0);
}

/** A path for `docker diff`'s listing: as it is when it is valid UTF-8, quoted with \xNN otherwise. */
function shownPath(path: Buffer): string {
  return isUtf8(path) ? path.toString('utf8') : quoteBytes(path);
}

/** Whether the lowers alone show `path`, looked up the way overlay does: from the top layer
 *  down, until a layer has the name (a whiteout there means deleted) or hides what is below. */
function visibleInLowers(lowerDirs: string[], path: Buffer): boolean {
  for (const layer of [...lowerDirs].reverse()) {
    const stat = lstatOrNull(pathBytes(layer, path));
    if (stat) return !isWhiteout(stat);
    if (hidesLayersBelow(layer, path)) return false;
  }
  return false;
}

/** A layer hides `path` of the layers below it when one of the path's parent directories is, in
 *  this layer, a whiteout, a file, or an opaque directory. */
function hidesLayersBelow(layer: string, path: Buffer): boolean {
  const parts = pathComponents(path);
  for (let depth = 1; depth < parts.length; depth++) {
    const parent = pathBytes(layer, ...parts.slice(0, depth));
    const stat = lstatOrNull(parent);
    if (!stat) return false; // not in this layer: the lookup goes on in the next one down
    if (!stat.isDirectory() || isOpaque(parent)) return true;
  }
  return false;
}

/** The names the lowers show inside directory `dir`, sorted. */
function namesInLowers(lowerDirs: string[], dir: Buffer): Buffer[] {
  const names = new Map<string, Buffer>(); // keyed by the bytes read as latin1: one char a byte
  for (const layer of lowerDirs) {
    const stat = lstatOrNull(pathBytes(layer, dir));
    if (!stat?.isDirectory()) continue;
    for (const name of readdirSync(pathBytes(layer, dir), { encoding: 'buffer' })) names.set(name.toString('latin1'), name);
  }
  return [...names.values()].filter((name) => visibleInLowers(lowerDirs, pathBytes(dir, name))).sort(Buffer.compare);
}

function lstatOrNull(path: string | Buffer): Stats | null {
  return lstatSync(path, { throwIfNoEntry: false }) ?? null;
}

// ---------------------------------------------------------------- the layer tar

/** Write the upper dir as an uncompressed OCI layer tar and return its digest, which is the
 *  layer's diff id (`sha256:…`). Overlay's marks become the OCI ones: a whiteout device becomes
 *  an empty file `.wh.<name>`, an opaque directory gets an empty `<dir>/.wh..wh..opq`. Names
 *  and link targets go in as the bytes they are, and the xattrs of files and directories as
 *  PAX records (file capabilities live there), except trusted.*: overlay's own bookkeeping.
 *  The tar is written next to `outFile` and renamed into place once complete: a failure never
 *  leaves half a layer under the real name. */
export function writeLayerTar(upperDir: string, outFile: string): string {
  const partial = `${outFile}.tmp`;
  const hash = createHash('sha256');
  traceStep(`write ${partial}`, 'the upper dir as a tar, in sorted order so the same upper gives the same bytes');
  try {
    const fd = openSync(partial, 'w', 0o644);
    try {
      writeTarEntries(upperDir, fd, hash);
    } finally {
      closeSync(fd);
    }
    renameSync(partial, outFile);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  traceStep(`rename ${partial} ${outFile}`, 'the layer is complete: give it its real name');
  return `sha256:${hash.digest('hex')}`;
}

/** A tar is a row of 512-byte headers, each followed by the file's bytes padded to whole
 *  blocks, and two zero blocks at the end (tar.ts). Everything written is also hashed. */
function writeTarEntries(upperDir: string, fd: number, hash: Hash): void {
  const write = (bytes: Buffer) => {
    writeSync(fd, bytes);
    hash.update(bytes);
  };
  // A file with several names in upper is stored once; its other names are hard links to the
  // first name written (tar refers back, so the target must come earlier in the archive).
  const firstNameOf = new Map<string, Buffer>();
  for (const { path, stat, whiteout, opaque, fd: held } of walkUpper(upperDir)) {
    if (isNetworkFileMountPoint(path, stat, opaque, upperDir)) continue; // not the container's change (see there)
    if (whiteout) {
      write(markerHeader(withNamePrefix(path, WHITEOUT_PREFIX), stat));
      continue;
    }
    const inode = `${stat.dev}:${stat.ino}`;
    const firstName = stat.nlink > 1 && !stat.isDirectory() ? firstNameOf.get(inode) : undefined;
    if (firstName !== undefined) {
      write(encodeHeader({ ...ownerAndTime(path, stat), type: TYPE.hardlink, linkPath: firstName }));
      continue;
    }
    firstNameOf.set(inode, path);
    if (stat.isDirectory()) {
      write(encodeHeader({ ...ownerAndTime(Buffer.concat([path, Buffer.from('/')]), stat), type: TYPE.directory, xattrs: xattrsOf(held, path) }));
      if (opaque) write(markerHeader(pathBytes(path, OPAQUE_MARKER), stat));
    } else if (stat.isSymbolicLink()) {
      write(encodeHeader({ ...ownerAndTime(path, stat), type: TYPE.symlink, linkPath: readlinkFd(held, 'the target of the symlink we hold') }));
    } else if (stat.isFile()) {
      write(encodeHeader({ ...ownerAndTime(path, stat), type: TYPE.file, size: stat.size, xattrs: xattrsOf(held, path) }));
      // Reopened for reading through its O_PATH descriptor: the very file that was fstat'ed.
      copyFileBody(`/proc/self/fd/${held}`, stat.size, write, quoteBytes(path));
    } else if (stat.isFIFO() || stat.isCharacterDevice() || stat.isBlockDevice()) {
      const type = stat.isFIFO() ? TYPE.fifo : stat.isCharacterDevice() ? TYPE.charDevice : TYPE.blockDevice;
      write(encodeHeader({ ...ownerAndTime(path, stat), type, ...deviceNumbers(stat.rdev) }));
    } else {
      traceStep(`skip ${quoteBytes(path)}`, 'a socket belongs to a running process and means nothing in an image');
    }
  }
  write(END_OF_ARCHIVE);
}

/** What every entry keeps from the upper dir: permission bits, owner, and mtime in whole
 *  seconds (ustar has no room for less, and nanoseconds would only make layers differ). */
function ownerAndTime(path: Buffer, stat: Stats): TarHeader {
  return {
    path,
    type: TYPE.file,
    mode: stat.mode & 0o7777,
    uid: stat.uid,
    gid: stat.gid,
    size: 0,
    mtime: Math.floor(stat.mtimeMs / 1000),
    linkPath: Buffer.alloc(0),
    devMajor: 0,
    devMinor: 0,
    xattrs: new Map(),
  };
}

/** An OCI whiteout or opaque marker: an empty file, owned like the thing it stands for. */
function markerHeader(path: Buffer, stat: Stats): Buffer {
  return encodeHeader({ ...ownerAndTime(path, stat), mode: 0o644 });
}

/** `dir/name` → `dir/<prefix>name`: the whiteout for a deleted name. */
function withNamePrefix(path: Buffer, prefix: string): Buffer {
  const cut = path.lastIndexOf('/') + 1;
  return Buffer.concat([path.subarray(0, cut), Buffer.from(prefix), path.subarray(cut)]);
}

/** The extended attributes of the file or directory held as `fd`, for the tar's PAX records:
 *  user.* (anything a program stored), security.capability (what makes `ping` work without
 *  setuid), system.posix_acl_*. Not trusted.*: overlay keeps its own marks there (opaque,
 *  origin, redirect), which mean nothing in another overlay, and only root may set them.
 *  Read through /proc/self/fd/N, which the following *xattr calls resolve to the held file. */
function xattrsOf(fd: number, path: Buffer): Map<string, Buffer> {
  const held = `/proc/self/fd/${fd}`;
  const xattrs = new Map<string, Buffer>();
  for (const name of listxattr(held, `which extended attributes does ${quoteBytes(path)} have?`)) {
    if (name.startsWith('trusted.')) {
      traceStep(`skip the xattr ${name} of ${quoteBytes(path)}`, 'trusted.* is overlayfs\'s own bookkeeping, not part of the image');
      continue;
    }
    const value = getxattr(held, name, `the value of ${name}, for the layer`);
    if (value !== null) xattrs.set(name, value);
  }
  return xattrs;
}

/** Copy a file's bytes into the tar, then pad to a whole number of 512-byte blocks. */
function copyFileBody(file: string, size: number, write: (bytes: Buffer) => void, shown = file): void {
  const fd = openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    for (let done = 0; done < size; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - done), null);
      if (n === 0) throw new UserError(`${shown} shrank while it was archived — stop the container before committing`);
      write(chunk.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  write(padding(size));
}

/** Split st_rdev into major and minor: the kernel packs them into 32 bits as the low byte of
 *  the minor, then 12 bits of major, then the rest of the minor. */
function deviceNumbers(rdev: number): { devMajor: number; devMinor: number } {
  return { devMajor: (rdev >>> 8) & 0xfff, devMinor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}
