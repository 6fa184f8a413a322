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
  // No look at /proc/filesystems first: it lists only the filesystems the kernel has now, and
  // on most distributions overlay is a module that is not loaded yet. mount(2) itself loads it
  // (the kernel runs /proc/sys/kernel/modprobe for "fs-overlay"), and says ENODEV only when
  // that failed too; the catch below turns that into what to do.
  // Upper, work and target are ours to make: a fresh upper per container.
  // Name each layer by a descriptor instead of its path: the kernel follows the magic link
  // /proc/self/fd/N to the directory itself while it mounts, and ~18 bytes a layer keep even
  // 128 layers inside mount(2)'s one page. (Docker's overlay2 makes short symlinks instead.)
  // /proc is still the host's here: the child stage mounts before pivot_root(2). Upper and
  // work keep their paths: two of them fit, and /proc/PID/mountinfo then says whose overlay it is.
  // ENODEV: "no such filesystem type", after the kernel tried to load overlay's module.
  // EINVAL is all mount(2) says for every option overlay dislikes; the reason goes to the kernel log.
  throw new Error('TODO (chapter 04): write mountOverlay(), as the comment above it says');
}

/** Detach the merged view. The upper dir keeps the changes; the lower dirs were never written. */
export function unmountOverlay(target: string): void {
  throw new Error('TODO (chapter 04): write unmountOverlay(), as the comment above it says');
}

/** The option string of an overlay mount. The kernel reads `lowerdir` from left to right as
 *  top to bottom — the first dir that has a name wins — so our bottom-first list is reversed. */
export function overlayOptions(lowerDirs: string[], upperDir: string, workDir: string): string {
  // Keep every change whole inside upper, since the layer is made from upper alone: a renamed
  // directory is copied rather than redirected to its old lower path, and a chmod copies the
  // data up too rather than only the metadata.
  throw new Error('TODO (chapter 04): write overlayOptions(), as the comment above it says');
}

/** Commas separate options and colons separate lower dirs: a backslash keeps one in a path. */
function escapeOption(path: string): string {
  throw new Error('TODO (chapter 04): write escapeOption(), as the comment above it says');
}

function checkLowerDir(dir: string): string {
  throw new Error('TODO (chapter 04): write checkLowerDir()');
}

/** The upper dir must live on a filesystem that can hold whiteouts and overlay's xattrs — not
 *  on an overlay itself, which is what "/" is inside a docker container — and on the same mount
 *  as the work dir, because overlay rename(2)s finished files from work into upper. */
function checkUpperDir(upperDir: string, workDir: string): void {
  throw new Error('TODO (chapter 04): write checkUpperDir(), as the comment above it says');
}

interface MountInfo {
  id: number;
  mountPoint: string;
  fstype: string;
}

/** The mount a path lives on: the longest mount point that contains it. Of mounts stacked on
 *  the same point the last line wins, as it was mounted last and hides the others. */
function mountHolding(path: string): MountInfo {
  // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw" (man 5 proc_pid_mountinfo)
  // Spaces and other odd characters in mount points are written as octal escapes: \040.
  throw new Error('TODO (chapter 04): write mountHolding(), as the comment above it says');
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
  throw new Error('TODO (chapter 04): write walkUpper(), as the comment above it says');
}

function* walkDir(dirFd: number, dir: Buffer): Generator<UpperEntry> {
  // The trailing "/" makes the kernel follow the magic link to the directory we hold.
  throw new Error('TODO (chapter 04): write walkDir()');
}

function isWhiteout(stat: Stats): boolean {
  throw new Error('TODO (chapter 04): write isWhiteout()');
}

function isOpaque(dir: string | Buffer): boolean {
  throw new Error('TODO (chapter 04): write isOpaque()');
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
  throw new Error('TODO (chapter 04): write readChanges(), as the comment above it says');
}

/** A path for `docker diff`'s listing: as it is when it is valid UTF-8, quoted with \xNN otherwise. */
function shownPath(path: Buffer): string {
  throw new Error('TODO (chapter 04): write shownPath(), as the comment above it says');
}

/** Whether the lowers alone show `path`, looked up the way overlay does: from the top layer
 *  down, until a layer has the name (a whiteout there means deleted) or hides what is below. */
function visibleInLowers(lowerDirs: string[], path: Buffer): boolean {
  throw new Error('TODO (chapter 04): write visibleInLowers(), as the comment above it says');
}

/** A layer hides `path` of the layers below it when one of the path's parent directories is, in
 *  this layer, a whiteout, a file, or an opaque directory. */
function hidesLayersBelow(layer: string, path: Buffer): boolean {
  throw new Error('TODO (chapter 04): write hidesLayersBelow(), as the comment above it says');
}

/** The names the lowers show inside directory `dir`, sorted. */
function namesInLowers(lowerDirs: string[], dir: Buffer): Buffer[] {
  throw new Error('TODO (chapter 04): write namesInLowers(), as the comment above it says');
}

function lstatOrNull(path: string | Buffer): Stats | null {
  throw new Error('TODO (chapter 04): write lstatOrNull()');
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
  throw new Error('TODO (chapter 04): write writeLayerTar(), as the comment above it says');
}

/** A tar is a row of 512-byte headers, each followed by the file's bytes padded to whole
 *  blocks, and two zero blocks at the end (tar.ts). Everything written is also hashed. */
function writeTarEntries(upperDir: string, fd: number, hash: Hash): void {
  // A file with several names in upper is stored once; its other names are hard links to the
  // first name written (tar refers back, so the target must come earlier in the archive).
  // Reopened for reading through its O_PATH descriptor: the very file that was fstat'ed.
  throw new Error('TODO (chapter 04): write writeTarEntries(), as the comment above it says');
}

/** What every entry keeps from the upper dir: permission bits, owner, and mtime in whole
 *  seconds (ustar has no room for less, and nanoseconds would only make layers differ). */
function ownerAndTime(path: Buffer, stat: Stats): TarHeader {
  throw new Error('TODO (chapter 04): write ownerAndTime(), as the comment above it says');
}

/** An OCI whiteout or opaque marker: an empty file, owned like the thing it stands for. */
function markerHeader(path: Buffer, stat: Stats): Buffer {
  throw new Error('TODO (chapter 04): write markerHeader(), as the comment above it says');
}

/** `dir/name` → `dir/<prefix>name`: the whiteout for a deleted name. */
function withNamePrefix(path: Buffer, prefix: string): Buffer {
  throw new Error('TODO (chapter 04): write withNamePrefix(), as the comment above it says');
}

/** The extended attributes of the file or directory held as `fd`, for the tar's PAX records:
 *  user.* (anything a program stored), security.capability (what makes `ping` work without
 *  setuid), system.posix_acl_*. Not trusted.*: overlay keeps its own marks there (opaque,
 *  origin, redirect), which mean nothing in another overlay, and only root may set them.
 *  Read through /proc/self/fd/N, which the following *xattr calls resolve to the held file. */
function xattrsOf(fd: number, path: Buffer): Map<string, Buffer> {
  throw new Error('TODO (chapter 04): write xattrsOf(), as the comment above it says');
}

/** Copy a file's bytes into the tar, then pad to a whole number of 512-byte blocks. */
function copyFileBody(file: string, size: number, write: (bytes: Buffer) => void, shown = file): void {
  throw new Error('TODO (chapter 04): write copyFileBody(), as the comment above it says');
}

/** Split st_rdev into major and minor: the kernel packs them into 32 bits as the low byte of
 *  the minor, then 12 bits of major, then the rest of the minor. */
function deviceNumbers(rdev: number): { devMajor: number; devMinor: number } {
  throw new Error('TODO (chapter 04): write deviceNumbers(), as the comment above it says');
}
