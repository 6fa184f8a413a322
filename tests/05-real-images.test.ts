/** Chapter 05 · images made by a real build tool (issue 14): each image is built from a
 *  Containerfile with buildah (the one of 128 layers with umoci, which is faster), pushed to a
 *  real registry, pulled by the chapter, and compared with the reference tools — its files,
 *  path by path, with what `umoci unpack` makes of it, and its process with what `runc run`
 *  starts from umoci's bundle. Each image is built once for the file; each chapter pulls it
 *  into a store of its own. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineFor, run } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { assertSameTree, buildImage, identityLines, identityScript, layeredImage, pulledTreeOf, runWithRunc, treeOf, umociUnpack } from './helpers/real-images.ts';
import { startRegistry } from './helpers/registry.ts';

const chapters = chaptersFrom('05');
const registry = chapters.length > 0 ? await startRegistry() : undefined;
const host = registry?.host ?? '';

/** A busybox base, as the first layer of every image but the static one. */
const BASE = 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n';

/** How many layers the many-layers image has: the busybox base and 127 layers of one file each,
 *  as many as chapter 04's tests mount (Docker's limit is 125). umoci makes it (about 20 s):
 *  buildah would take 100 to 160 s for 127 COPY steps here. Its push takes a few seconds, now
 *  that the registry logs to a file; it used to hang past some 90 layers (buildah's and skopeo's
 *  alike): see scripts/local-registry.ts. */
const MANY = 128;

interface Case {
  ref: string;
  bundle: string;
  /** umoci's rootfs as unpacked, listed before runc runs on it (runc makes /proc, /dev, /sys). */
  tree: ReturnType<typeof treeOf>;
}

/** Build, push and unpack with umoci, once for the file. */
function prepare(repo: string, containerfile: string, files: Parameters<typeof buildImage>[3] = {}): Case {
  return unpacked(buildImage(host, repo, containerfile, files, 'v1'));
}

/** Unpack a pushed image with umoci, and list its tree. */
function unpacked(ref: string): Case {
  const bundle = umociUnpack(ref);
  return { ref, bundle, tree: treeOf(`${bundle}/rootfs`) };
}

const images = chapters.length === 0 ? undefined : {
  // Class 1: one RUN that deletes three files of a lower layer. On this kernel the build's
  // overlay makes the three whiteouts hard links of one inode, and buildah writes the 2nd and
  // 3rd as regular-file headers that still carry a link name.
  deletions: prepare('real/deletions', `${BASE}RUN mkdir /data && echo a > /data/a && echo b > /data/b && echo c > /data/c && echo d > /data/d\nRUN rm /data/a /data/b /data/c\n`),
  // Class 4: nothing but a static binary; no /proc, /dev or /sys in the image.
  static: prepare('real/static', 'FROM scratch\nCOPY rootfs/bin/busybox /busybox\nCMD ["/busybox", "true"]\n'),
  // Class 5: a named USER with a home in /etc/passwd and supplementary groups in /etc/group…
  named: prepare(
    'real/named-user',
    `${BASE}RUN echo 'alice:x:1001:1001:Alice:/home/alice:/bin/sh' >> /etc/passwd && ` +
      "echo 'alice:x:1001:' >> /etc/group && echo 'audio2:x:2001:alice' >> /etc/group && " +
      "echo 'video2:x:2002:bob,alice,carol' >> /etc/group && echo 'other:x:2003:bob' >> /etc/group && " +
      'mkdir -p /home/alice && chown 1001:1001 /home/alice\nUSER alice\n',
  ),
  // …and a numeric USER that /etc/passwd does not know.
  numeric: prepare('real/numeric-user', `${BASE}USER 4242\n`),
  // Class 6: many layers, each adding one small file, made with umoci (see MANY).
  many: unpacked(layeredImage(host, 'real/many-layers', MANY, 'v1')),
  // A realistic image: special modes, owners, symlinks, a hard link group, an empty dir, a FIFO,
  // then a layer that deletes a whole directory of a lower layer, replaces another (an opaque
  // directory), changes a file and links it, and a COPY --chown.
  realistic: prepare(
    'real/realistic',
    BASE +
      'RUN set -e; mkdir -p /opt/app/old/sub /opt/app/replaced /srv/empty /srv/tmp /srv/shared /srv/owned /srv/links; ' +
      'echo old > /opt/app/old/sub/file; echo orig > /opt/app/replaced/orig; ' +
      'cp /bin/busybox /srv/suid; chmod 4755 /srv/suid; echo g > /srv/sgid; chown 0:50 /srv/sgid; chmod 2711 /srv/sgid; ' +
      'chmod 1777 /srv/tmp; chown 1000:50 /srv/shared; chmod 2775 /srv/shared; ' +
      'echo mine > /srv/owned/file; chown -R 1000:1000 /srv/owned; chmod 0600 /srv/owned/file; ' +
      'echo linked > /srv/links/a; ln /srv/links/a /srv/links/b; ln /srv/links/a /srv/links/c; ' +
      'ln -s ../links/a /srv/owned/rel; ln -s /etc/passwd /srv/owned/abs; ln -s /nowhere /srv/owned/dangling; ' +
      'mkfifo /srv/fifo; echo v1 > /srv/changed\n' +
      'RUN set -e; rm -rf /opt/app/old; rm -rf /opt/app/replaced; mkdir /opt/app/replaced; echo new > /opt/app/replaced/new; ' +
      'echo v2 > /srv/changed; chmod 0640 /srv/changed; ln /srv/changed /srv/changed-link\n' +
      'COPY --chown=1234:5678 app.txt /opt/app/app.txt\n',
    { 'app.txt': { content: 'app\n', mode: 0o755 } },
  ),
};

/** What runc prints for the identity script on umoci's bundle; one run per image. */
const runcSays = new Map<string, string[]>();
function runcIdentity(c: Case, argv: string[]): string[] {
  const key = `${c.bundle}\0${argv.join('\0')}`;
  if (!runcSays.has(key)) {
    const r = runWithRunc(c.bundle, argv);
    assert.equal(r.code, 0, `runc run: ${r.stderr}`);
    runcSays.set(key, identityLines(r.stdout));
  }
  return runcSays.get(key)!;
}

const ARGV = ['sh', '-c', identityScript(), 'arg0', 'one', 'two words'];

for (const ch of chapters) {
  const all = images!;

  /** Pull `c` into a fresh store of this chapter, and compare its merged layers with umoci's rootfs. */
  async function assertUnpackedAsUmoci(c: Case): Promise<void> {
    const { env, root } = engineFor(ch);
    const pulled = await run(ch, ['pull', c.ref], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assertSameTree(await pulledTreeOf(ch, root, c.ref), c.tree, `${c.ref} unpacked`);
  }

  /** Run `argv` in `c` with this chapter and with runc on umoci's bundle: the same lines. */
  async function assertRunsAsRunc(c: Case, argv: string[]): Promise<void> {
    const { env } = engineFor(ch);
    const ours = await run(ch, ['run', c.ref, ...argv], { env });
    assert.equal(ours.code, 0, ours.stderr);
    assert.deepEqual(identityLines(ours.stdout), runcIdentity(c, argv), `${c.ref}: what the process got, ours against runc's`);
  }

  describe(`chapter ${ch}`, () => {
    test('1: a layer that deletes several lower files in one step (hard-linked whiteouts) unpacks as umoci does', async () => {
      await assertUnpackedAsUmoci(all.deletions);
    });

    test('4: an image of one static binary, no /proc, /dev or /sys, runs as runc runs it', async () => {
      await assertUnpackedAsUmoci(all.static);
      await assertRunsAsRunc(all.static, ['/busybox', 'sh', '-c', identityScript('/busybox '), 'arg0', 'one']);
    });

    test('5: a named USER gets the HOME and supplementary groups runc gives it', async () => {
      await assertRunsAsRunc(all.named, ARGV);
    });

    test('5: a numeric USER with no passwd entry gets what runc gives it', async () => {
      await assertRunsAsRunc(all.numeric, ARGV);
    });

    test(`6: an image of ${MANY} layers pulls, unpacks as umoci does, and runs as runc runs it`, async () => {
      await assertRunsAsRunc(all.many, ['sh', '-c', `ls /layers | wc -l; cat /layers/1 /layers/${MANY - 1}`]);
      await assertUnpackedAsUmoci(all.many);
    });

    test('a realistic image (special modes, owners, links, FIFO, deleted and opaque dirs) unpacks as umoci does, file by file', async () => {
      // What umoci made of it has every feature the image is for: the comparison means something.
      const reference = treeOf(`${all.realistic.bundle}/rootfs`).join('\n');
      for (const line of [
        /^\/srv\/suid file 4755 0:0 /m, /^\/srv\/sgid file 2711 0:50 /m, /^\/srv\/tmp dir 1777 0:0$/m, /^\/srv\/shared dir 2775 1000:50$/m,
        /^\/srv\/links\/c file 0644 0:0 .* link=\/srv\/links\/a$/m, /^\/srv\/changed-link file 0640 .* link=\/srv\/changed$/m,
        /^\/srv\/owned\/dangling symlink 0777 0:0 -> \/nowhere$/m, /^\/srv\/empty dir /m, /^\/srv\/fifo fifo 0644 /m,
        /^\/opt\/app\/replaced\/new file /m, /^\/opt\/app\/app.txt file 0755 1234:5678 /m,
      ]) assert.match(reference, line);
      assert.doesNotMatch(reference, /^\/opt\/app\/(old|replaced\/orig)/m, 'the deleted dir and the replaced dir\'s old file are gone');
      await assertUnpackedAsUmoci(all.realistic);
      await assertRunsAsRunc(all.realistic, ARGV);
    });
  });
}
