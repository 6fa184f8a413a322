/** Chapter 05 · images made by real tools, with what a byte-exact unpack must carry besides
 *  contents and modes (issue 14, classes 2 and 3):
 *    2. file names that are not UTF-8 (Latin-1 "caf\xe9", as old systems and zip files make
 *       them): a name is bytes in the tar header and bytes on disk, never a decoded string;
 *    3. extended attributes from PAX `SCHILY.xattr.*` records: `user.*`, and
 *       `security.capability`, what `setcap cap_net_raw+ep` gives a ping binary so that users
 *       may ping without being root. `trusted.*` is overlayfs's own namespace (a forged
 *       `trusted.overlay.opaque` hides the layers below): it is skipped, and --trace says so.
 *  Each image is built once for the file with buildah (the layer with trusted.* attributes is
 *  made by hand and added with umoci: no tool writes one), pushed to a real registry, pulled
 *  by each chapter into a store of its own, and compared path by path with what `umoci
 *  unpack` makes of it. From chapter 08 on, a container changes such files, and what `commit`
 *  and `push` make of its upper dir is compared the same way: overlay copies a file up with
 *  its attributes, and so must commit. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { engineFor, run } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { assertSameTree, buildImage, buildImageWithLayer, pulledLayerDirs, pulledTreeOf, treeOf, umociUnpack } from './helpers/real-images.ts';
import { setXattr, xattrsOf } from './helpers/xattrs.ts';
import { startRegistry } from './helpers/registry.ts';
import { tarOf } from './helpers/tar.ts';

const chapters = chaptersFrom('05');
const registry = chapters.length > 0 ? await startRegistry() : undefined;
const host = registry?.host ?? '';

/** A busybox base, as the first layer of every image. */
const BASE = 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n';

/** The bytes of a name written with one character per byte: latin1('caf\xe9') is 63 61 66 e9,
 *  which is not UTF-8 (e9 would begin a three-byte sequence). */
function latin1(name: string): Buffer {
  return Buffer.from(name, 'latin1');
}

/** An attribute value with a zero byte in it, and bytes that are not text at all. */
const BINARY_VALUE = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xff, 0x00]);

/** Class 2: the context's names/ directory, every kind of entry with a Latin-1 name, and the
 *  UTF-8 spelling of the same word beside it. buildah (Go's archive/tar) writes every name
 *  that is not ASCII twice: in the ustar header, and in a PAX `path` (or `linkpath`) record,
 *  both as the raw bytes, although PAX says its records are UTF-8. */
function writeByteNames(context: string): void {
  const at = (name: string) => latin1(join(context, 'names', name));
  mkdirSync(at('dir-caf\xe9'), { recursive: true });
  writeFileSync(at('caf\xe9'), 'latin-1\n');
  writeFileSync(Buffer.from(join(context, 'names', 'café'), 'utf8'), 'utf-8\n');
  writeFileSync(at('dir-caf\xe9/inside-\xff'), 'inside\n');
  symlinkSync(latin1('caf\xe9'), at('link-caf\xe9'));
  writeFileSync(at('hard-caf\xe9-1'), 'hard\n');
  linkSync(at('hard-caf\xe9-1'), at('hard-caf\xe9-2'));
  // Both classes at once: an attribute on a name that is not UTF-8.
  setXattr(at('caf\xe9'), 'user.charset', 'latin-1');
}

/** Class 3: the context's xattrs/ directory. buildah's COPY carries `user.*` and
 *  `security.capability` into the layer (it drops `trusted.*`). */
function writeXattrs(context: string): void {
  const at = (name: string) => join(context, 'xattrs', name);
  mkdirSync(at('tagged-dir'), { recursive: true });
  writeFileSync(at('note'), 'a note\n');
  setXattr(at('note'), 'user.comment', 'written by setfattr, as it were');
  setXattr(at('note'), 'user.binary', BINARY_VALUE);
  setXattr(at('tagged-dir'), 'user.dir', 'yes');
  writeFileSync(at('tagged-dir/plain'), 'no attributes\n');
  // busybox called as `ping`, with the file capability a distribution gives its ping.
  copyFileSync(join(context, 'rootfs/bin/busybox'), at('ping'));
  chmodSync(at('ping'), 0o755);
  execFileSync('setcap', ['cap_net_raw+ep', at('ping')]);
}

interface Case {
  ref: string;
  /** The rootfs `umoci unpack` made of it… */
  rootfs: string;
  /** … and its listing. */
  tree: string[];
}

/** What the reference tools make of `ref`. */
function reference(ref: string): Case {
  const rootfs = join(umociUnpack(ref), 'rootfs');
  return { ref, rootfs, tree: treeOf(rootfs) };
}

const images = chapters.length === 0 ? undefined : (() => {
  const names = buildImage(host, 'real/byte-names', `${BASE}COPY names/ /names/\n`, {}, 'v1', writeByteNames);
  const xattrs = buildImage(host, 'real/xattrs', `${BASE}COPY xattrs/ /xattrs/\n`, {}, 'v1', writeXattrs);
  // On top of the xattrs image, a layer no tool writes (buildah drops trusted.*, umoci
  // repacks without trusted.overlay.*), so made by hand: /xattrs, whose files are in the layer
  // below, marked the way overlay marks an opaque directory, and a new file with a trusted.*
  // and a user.* attribute.
  const trusted = buildImageWithLayer(host, 'real/trusted', xattrs, tarOf([
    { path: 'xattrs/', type: 'Directory', xattrs: { 'trusted.overlay.opaque': 'y' } },
    { path: 'xattrs/trusted-note', body: 'trusted\n', xattrs: { 'trusted.nutshell': 'forged', 'user.kept': 'yes' } },
  ]), 'v1');
  return { names: reference(names), xattrs: reference(xattrs), trusted: reference(trusted) };
})();

/** Each regex matches a line of `tree`: what the reference holds, so that comparing with it
 *  means something. */
function assertListed(tree: string[], lines: RegExp[], what: string): void {
  const text = tree.join('\n');
  for (const line of lines) assert.match(text, line, what);
}

/** The line of `path` in `tree`, without the path. */
function lineOf(tree: string[], path: string): string {
  const line = tree.find((l) => l.startsWith(`${path} `));
  assert.ok(line, `${path} is listed`);
  return line.slice(path.length + 1);
}

/** The argv for a container in which a user who is not root runs `command` (busybox su:
 *  root needs no password, and -s overrides nobody's /bin/false). */
function asNobody(command: string): string[] {
  return ['sh', '-c', `su -s /bin/sh nobody -c '${command}'`];
}

for (const ch of chapters) {
  const all = images!;

  /** Pull `c` into a fresh store of this chapter, and compare its merged layers with umoci's rootfs. */
  async function assertUnpackedAsUmoci(c: Case, args: string[] = []): Promise<{ root: string; stderr: string }> {
    const { env, root } = engineFor(ch);
    const pulled = await run(ch, [...args, 'pull', c.ref], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assertSameTree(await pulledTreeOf(ch, root, c.ref), c.tree, `${c.ref} unpacked`);
    return { root, stderr: pulled.stderr };
  }

  describe(`chapter ${ch}`, () => {
    test('2: names that are not UTF-8 (a file, a directory, a symlink and its target, hard links) unpack byte for byte', async () => {
      // umoci kept every name as bytes, and the Latin-1 and UTF-8 spellings are two files.
      assertListed(all.names.tree, [
        /^\/names\/caf\\xe9 file 0644 0:0 size=8 .* user\.charset=6c6174696e2d31$/m,
        /^\/names\/caf\\xc3\\xa9 file 0644 0:0 size=6 /m,
        /^\/names\/dir-caf\\xe9 dir 0755 0:0$/m,
        /^\/names\/dir-caf\\xe9\/inside-\\xff file 0644 0:0 size=7 /m,
        /^\/names\/link-caf\\xe9 symlink 0777 0:0 -> caf\\xe9$/m,
        /^\/names\/hard-caf\\xe9-2 file 0644 0:0 .* link=\/names\/hard-caf\\xe9-1$/m,
      ], 'umoci\'s rootfs has the names as bytes');
      await assertUnpackedAsUmoci(all.names);
    });

    test('3: user.* attributes (a binary value with zero bytes) and a file capability unpack as umoci unpacks them', async () => {
      const ping = /^\/xattrs\/ping file 0755 0:0 .* security\.capability=0100000200200000000000000000000000000000$/m;
      assertListed(all.xattrs.tree, [
        new RegExp(`^/xattrs/note file 0644 0:0 .* user\\.binary=${BINARY_VALUE.toString('hex')} user\\.comment=[0-9a-f]+$`, 'm'),
        /^\/xattrs\/tagged-dir dir 0755 0:0 user\.dir=796573$/m,
        ping, // cap_net_raw (bit 13) permitted and effective: the v2 format setcap writes
      ], 'umoci\'s rootfs has the attributes buildah put in the layer');
      await assertUnpackedAsUmoci(all.xattrs);
    });

    test('3: a user who is not root pings with the file capability of the image\'s ping, as on a distribution', async () => {
      // Not compared with runc: the config umoci writes bounds the capabilities to three and
      // sets no_new_privs, so no file capability takes effect there. Ours keeps root's bounding
      // set, and the file's cap_net_raw is what lets a user open a raw socket.
      const { env } = engineFor(ch);
      const withCap = await run(ch, ['run', all.xattrs.ref, ...asNobody('/xattrs/ping -c 1 -W 5 127.0.0.1')], { env });
      assert.equal(withCap.code, 0, `ping with cap_net_raw+ep, as nobody: ${withCap.stdout}${withCap.stderr}`);
      assert.match(withCap.stdout, /1 packets received/);
      // The same binary without the attribute: the capability was all the difference.
      const without = await run(ch, ['run', all.xattrs.ref, ...asNobody('/bin/ping -c 1 -W 5 127.0.0.1')], { env });
      assert.notEqual(without.code, 0, 'busybox ping without the capability, as nobody');
      assert.match(without.stderr, /permission denied/);
    });

    test('3: trusted.* attributes (a forged overlay opaque mark among them) are skipped, and --trace names each one', async () => {
      // umoci, as root, applied trusted.nutshell; it refuses trusted.overlay.* ("ignoring
      // forbidden xattr"), so the lower files of /xattrs show in its rootfs, as in ours.
      assert.equal(xattrsOf(join(all.trusted.rootfs, 'xattrs/trusted-note')).get('trusted.nutshell')?.toString(), 'forged');
      assertListed(all.trusted.tree, [/^\/xattrs\/trusted-note file 0644 0:0 size=8 .* user\.kept=796573$/m, /^\/xattrs\/note file /m], 'umoci\'s rootfs');
      // Ours: the same tree (the lower files of /xattrs still show, trusted-note has user.kept) …
      const { root, stderr } = await assertUnpackedAsUmoci(all.trusted, ['--trace']);
      // … no trusted.* on the unpacked files of the top layer, and one trace line for each.
      const top = pulledLayerDirs(root, all.trusted.ref).at(-1)!;
      for (const path of ['xattrs/trusted-note', 'xattrs']) {
        const names = [...xattrsOf(join(top, path)).keys()];
        assert.deepEqual(names.filter((name) => name.startsWith('trusted.')), [], `no trusted.* on ${path} in the store`);
      }
      for (const name of ['trusted.nutshell', 'trusted.overlay.opaque']) {
        const said = stderr.split('\n').filter((line) => line.includes(name) && /skip/i.test(line));
        assert.ok(said.length > 0, `a --trace line names ${name} and says it is skipped`);
      }
    });
  });
}

// ---------------------------------------------------------------- commit (chapter 08 on)

for (const ch of chaptersFrom('08')) {
  const all = images!;

  /** Run `script` in a container of `base`, commit it as `repo`, push it, and return what
   *  umoci unpacks of the pushed image, after checking that the chapter pulls the same tree
   *  back into an empty store. */
  async function committedAndPushed(base: Case, script: string, repo: string): Promise<Case> {
    const { env } = engineFor(ch);
    const box = `changer-${repo.replace(/\W/g, '-')}`;
    const changed = await run(ch, ['run', '--name', box, base.ref, 'sh', '-c', `set -e; ${script}`], { env });
    assert.equal(changed.code, 0, `the container's changes: ${changed.stderr}`);
    const ref = `${host}/${repo}:${ch}`;
    const committed = await run(ch, ['commit', box, ref], { env });
    assert.equal(committed.code, 0, committed.stderr);
    const pushed = await run(ch, ['push', ref], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal((await run(ch, ['rm', box], { env })).code, 0);
    const back = reference(ref);
    const fresh = engineFor(ch);
    const pulled = await run(ch, ['pull', ref], { env: fresh.env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assertSameTree(await pulledTreeOf(ch, fresh.root, ref), back.tree, `${ref} (committed, pushed, pulled back)`);
    return back;
  }

  describe(`chapter ${ch}`, () => {
    test('2: commit keeps names that are not UTF-8: a copied-up file, new files, a directory, links and a whiteout', async () => {
      // busybox printf makes the bytes: \351 is 0xe9, \377 is 0xff.
      const script = [
        'cd /names',
        'touch "$(printf \'caf\\351\')"', // copied up: overlay writes the name into the upper dir
        'printf \'new\\n\' > "$(printf \'new-caf\\351\')"',
        'mkdir "$(printf \'new-dir-\\377\')"',
        'echo in > "$(printf \'new-dir-\\377/inside-\\351\')"',
        'ln -s "$(printf \'new-caf\\351\')" "$(printf \'new-link-\\351\')"',
        'ln "$(printf \'new-caf\\351\')" "$(printf \'new-hard-\\351\')"',
        'rm "$(printf \'hard-caf\\351-2\')"', // a whiteout whose name is not UTF-8
      ].join('; ');
      const back = await committedAndPushed(all.names, script, 'real/byte-names-committed');
      assert.equal(lineOf(back.tree, '/names/caf\\xe9'), lineOf(all.names.tree, '/names/caf\\xe9'), 'the copied-up file, its attribute too');
      assertListed(back.tree, [
        /^\/names\/new-caf\\xe9 file \d{4} 0:0 size=4 .* link=\/names\/new-caf\\xe9$/m,
        /^\/names\/new-hard-\\xe9 file \d{4} 0:0 size=4 .* link=\/names\/new-caf\\xe9$/m,
        /^\/names\/new-dir-\\xff dir \d{4} 0:0$/m,
        /^\/names\/new-dir-\\xff\/inside-\\xe9 file \d{4} 0:0 size=3 /m,
        /^\/names\/new-link-\\xe9 symlink 0777 0:0 -> new-caf\\xe9$/m,
        /^\/names\/caf\\xc3\\xa9 file /m,
      ], 'umoci\'s rootfs of the committed image');
      assert.doesNotMatch(back.tree.join('\n'), /^\/names\/hard-caf\\xe9-2 /m, 'whited out by the committed layer');
    });

    test('3: commit keeps the attributes of files the container copied up, and none of overlay\'s trusted.* marks', async () => {
      const script = [
        'touch /xattrs/ping', // copied up with its capability (a write would drop it: the kernel clears caps on write)
        'echo more >> /xattrs/note', // copied up and changed: its user.* attributes stay
        'echo new > /xattrs/tagged-dir/new', // the directory is copied up with its attribute
      ].join('; ');
      const back = await committedAndPushed(all.xattrs, script, 'real/xattrs-committed');
      for (const path of ['/xattrs/ping', '/xattrs/tagged-dir']) {
        assert.equal(lineOf(back.tree, path), lineOf(all.xattrs.tree, path), `${path} with the attributes of the base image`);
      }
      assertListed(back.tree, [
        new RegExp(`^/xattrs/note file 0644 0:0 size=12 .* user\\.binary=${BINARY_VALUE.toString('hex')} user\\.comment=[0-9a-f]+$`, 'm'),
        /^\/xattrs\/tagged-dir\/new file /m,
      ], 'umoci\'s rootfs of the committed image');
      // overlay marked each copied-up file in the upper dir (trusted.overlay.origin): the
      // committed layer must not carry that, and umoci would have applied it.
      for (const path of ['xattrs/ping', 'xattrs/note', 'xattrs/tagged-dir']) {
        const names = [...xattrsOf(join(back.rootfs, path)).keys()];
        assert.deepEqual(names.filter((name) => name.startsWith('trusted.')), [], `no trusted.* on ${path} in the committed image`);
      }
    });
  });
}
