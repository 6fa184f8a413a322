/** Chapter 05 · images, through the command line, against a real registry (Debian's
 *  docker-registry) and images made by the reference tools (umoci, skopeo): pull, run with the
 *  image's settings, platforms, auth, tampered blobs, hostile layers, a killed pull, bad input.
 *  From chapter 05 on, each chapter with a registry of its own (a test alters a blob on its disk). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertOneLineError, engineFor, ROOTFS, run, start, tempDir } from './helpers/chapter.ts';
import { buildTestImage, pushImage, pushMultiArchIndex, TEST_IMAGE, writeOciLayout } from './helpers/images.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { blobPath, freePort, startRegistry, type TestRegistry } from './helpers/registry.ts';
import { secretFilesOthersCanRead, watchCommandLines } from './helpers/secrets.ts';
import { tarOf } from './helpers/tar.ts';

const layout = buildTestImage(join(tempDir(), 'layout'), 'v1');

/** Every file under `dir`, relative: to see what a failed pull left in a store. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => join(e.parentPath ?? e.path, e.name));
}

const PWNED = `/tmp/nutshell-pwned-${process.pid}`;
const HOSTILE = [
  { hazard: 'path traversal', entries: [{ path: `../../../../../../..${PWNED}`, body: 'x' }] },
  { hazard: 'absolute symlink, then a write through it', entries: [{ path: 'evil', type: 'SymbolicLink' as const, linkpath: '/tmp' }, { path: `evil/${PWNED.slice(5)}`, body: 'x' }] },
  { hazard: 'hardlink to a host file', entries: [{ path: 'passwd', type: 'Link' as const, linkpath: '/etc/passwd' }] },
  { hazard: 'relative hardlink out of the layer', entries: [{ path: 'passwd', type: 'Link' as const, linkpath: '../../../../../../../etc/passwd' }] },
];

for (const ch of chaptersFrom('05')) {
  // Started at the top level: the helper stops it in an after() hook of this file.
  const registry: TestRegistry = await startRegistry();
  pushImage(layout, 'v1', registry.host, 'test/busybox');
  pushImage(layout, 'v1', registry.host, 'test/busybox-v2s2', { format: 'v2s2' });

  describe(`chapter ${ch}`, () => {
    test('run pulls the image and honours its Cmd, Env and WorkingDir; a deleted file is gone', async () => {
      const { env } = engineFor(ch);
      const ref = `${registry.host}/test/busybox:v1`;
      const r = await run(ch, ['run', ref], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, TEST_IMAGE.hello, 'the default Cmd ran in WorkingDir');
      const look = await run(ch, ['run', ref, 'sh', '-c', 'echo "$GREETING"; pwd; cat /etc/greeting; ls /etc/doomed 2>&1'], { env });
      const [greeting, pwd, fromLayer2, doomed] = look.stdout.trim().split('\n');
      assert.equal(greeting, 'hello');
      assert.equal(pwd, TEST_IMAGE.workingDir);
      assert.equal(`${fromLayer2}\n`, TEST_IMAGE.greeting);
      assert.match(doomed!, /No such file/, 'the whiteout of layer 3 hides layer 2\'s file');
    });

    test('-e, -w, -u and --entrypoint override the image config; images lists the image; rmi removes it', async () => {
      const { env, root } = engineFor(ch);
      const ref = `${registry.host}/test/busybox:v1`;
      assert.equal((await run(ch, ['pull', '-q', ref], { env })).stdout.trim(), ref);
      const r = await run(ch, ['run', '-e', 'GREETING=bonjour', '-e', 'EXTRA=1', '-w', '/tmp', '-u', 'nobody', ref, 'sh', '-c', 'echo "$GREETING $EXTRA"; pwd; id -u'], { env });
      assert.deepEqual(r.stdout.trim().split('\n'), ['bonjour 1', '/tmp', '65534'], r.stderr);
      // --entrypoint drops the image's Cmd with its Entrypoint: echo gets no arguments, not "cat hello.txt".
      const entered = await run(ch, ['run', '--rm', '--entrypoint', '/bin/echo', ref], { env });
      assert.deepEqual({ code: entered.code, stdout: entered.stdout }, { code: 0, stdout: '\n' }, entered.stderr);
      assert.equal((await run(ch, ['run', '--rm', '--entrypoint', '/bin/echo', ref, 'hi'], { env })).stdout, 'hi\n');
      const images = await run(ch, ['images'], { env });
      assert.match(images.stdout, new RegExp(`${registry.host}/test/busybox\\tv1\\t[0-9a-f]{12}\\t`));
      assert.equal((await run(ch, ['rmi', ref], { env })).code, 0);
      assert.doesNotMatch((await run(ch, ['images'], { env })).stdout, /test\/busybox/);
      assert.deepEqual(readdirSync(join(root, 'layers', 'sha256')), [], 'its layers are gone');
    });

    test('a secret given with -e never shows on a host command line, and what records it is root\'s only', async () => {
      // Every user of the host reads every command line (ps). The child stages once had the whole
      // configuration, env included, as a JSON argument: visible until they exec the command.
      const { env, root, stateDir } = engineFor(ch);
      const secret = `hunter2-${randomBytes(6).toString('hex')}`;
      const ref = `${registry.host}/test/busybox:v1`;
      const pulled = await run(ch, ['pull', '-q', ref], { env });
      assert.equal(pulled.code, 0, pulled.stderr);
      const watcher = watchCommandLines(secret);
      // -e NAME takes the value from the engine's environment: then not even the engine's own
      // command line holds it. The container waits for a line on its stdin.
      const box = `secret-${randomBytes(3).toString('hex')}`;
      const engine = start(ch, ['run', '--name', box, '-e', 'SECRET', ref, 'sh', '-c', 'read line; echo "done $line"'], { env: { ...env, SECRET: secret } });
      let out = '';
      engine.stdout!.on('data', (d: Buffer) => (out += d));
      const ended = new Promise<number | null>((resolve) => engine.once('close', resolve));
      let readable: string[] = [];
      let shown: string[] = [];
      try {
        let inside = await run(ch, ['exec', box, 'sh', '-c', 'echo "$SECRET"'], { env });
        for (let i = 0; i < 100 && inside.code !== 0; i++) inside = await run(ch, ['exec', box, 'sh', '-c', 'echo "$SECRET"'], { env });
        assert.equal(inside.stdout.trim(), secret, `exec runs with the container's env: ${inside.stderr}`);
        readable = [...secretFilesOthersCanRead(root, secret), ...secretFilesOthersCanRead(stateDir, secret)];
      } finally {
        engine.stdin!.end('bye\n');
        await ended;
        shown = watcher.stop();
      }
      assert.equal(out, 'done bye\n');
      assert.deepEqual({ shown, readable }, { shown: [], readable: [] }, 'no host process showed the secret on its command line, no file others can read holds it');
    });

    test('a Docker schema 2 image pulls and runs too', async () => {
      const { env } = engineFor(ch);
      const r = await run(ch, ['run', `${registry.host}/test/busybox-v2s2:v1`], { env });
      assert.equal(r.stdout, TEST_IMAGE.hello, r.stderr);
    });

    test('a multi-arch index gives linux/amd64 by default and linux/arm64 with --platform', async () => {
      pushMultiArchIndex(registry.host, 'test/multi', 'latest');
      const ref = `${registry.host}/test/multi`;
      const amd = await run(ch, ['run', ref, 'cat', '/etc/arch'], { env: engineFor(ch).env });
      assert.equal(amd.stdout, 'amd64\n', amd.stderr);
      const arm = await run(ch, ['run', '--platform', 'linux/arm64', ref, 'cat', '/etc/arch'], { env: engineFor(ch).env });
      assert.equal(arm.stdout, 'arm64\n', arm.stderr);
      assertOneLineError(await run(ch, ['pull', '--platform', 'linux/s390x', ref], { env: engineFor(ch).env }), /linux\/s390x.*available: linux\/amd64, linux\/arm64/);
    });

    test('a registry with Basic auth: works with credentials, one clear line without', async () => {
      const secured = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret' } });
      pushImage(layout, 'v1', secured.host, 'private/busybox', { creds: 'alice:s3cret' });
      const ref = `${secured.host}/private/busybox:v1`;
      const ok = await run(ch, ['run', '--username', 'alice', '--password', 's3cret', ref], { env: engineFor(ch).env });
      assert.equal(ok.stdout, TEST_IMAGE.hello, ok.stderr);
      const credentials = join(tempDir(), 'config.json');
      writeFileSync(credentials, JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
      assert.equal((await run(ch, ['pull', '--credentials', credentials, ref], { env: engineFor(ch).env })).code, 0);
      assertOneLineError(await run(ch, ['pull', ref], { env: engineFor(ch).env }), /credentials/);
    });

    test('a blob altered on the registry\'s disk is rejected, and the store keeps nothing of it', async () => {
      const victim = buildTestImage(join(tempDir(), 'victim'), 'v1');
      pushImage(victim, 'v1', registry.host, 'test/tampered');
      // The top layer of the image: change one byte of it where the registry keeps it.
      const index = JSON.parse(readFileSync(join(victim, 'index.json'), 'utf8'));
      const manifestBlob = JSON.parse(readFileSync(join(victim, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
      const top = manifestBlob.layers.at(-1).digest as string;
      const onDisk = blobPath(registry, top);
      const bytes = readFileSync(onDisk);
      bytes[bytes.length - 30]! ^= 0xff;
      writeFileSync(onDisk, bytes);
      const { env, root } = engineFor(ch);
      const r = await run(ch, ['pull', `${registry.host}/test/tampered:v1`], { env });
      assertOneLineError(r, new RegExp(`${top.slice(0, 20)}.*(does not match|tampered)`));
      assert.ok(!filesUnder(root).some((f) => f.includes(top.slice(7))), 'no file of the bad blob is kept');
      assert.deepEqual(filesUnder(join(root, 'tmp')), []);
      assert.doesNotMatch((await run(ch, ['images'], { env })).stdout, /tampered/);
    });

    for (const { hazard, entries } of HOSTILE) {
      test(`a hostile layer (${hazard}) is rejected and nothing is written outside the store`, async () => {
        const repo = `hostile/${hazard.replace(/[^a-z]+/g, '-')}`;
        pushImage(writeOciLayout(join(tempDir(), 'hostile'), 'v1', [tarOf(entries)]), 'v1', registry.host, repo);
        const passwd = readFileSync('/etc/passwd', 'utf8');
        const { env, root } = engineFor(ch);
        const r = await run(ch, ['pull', `${registry.host}/${repo}:v1`], { env });
        assertOneLineError(r, /layer .*(escape|outside|link|symlink|traversal)/i);
        assert.ok(!existsSync(PWNED), `${PWNED} was not written`);
        assert.equal(readFileSync('/etc/passwd', 'utf8'), passwd);
        assert.deepEqual(readdirSync(join(root, 'layers', 'sha256')), [], 'no layer directory was kept');
        assert.deepEqual(filesUnder(join(root, 'tmp')), [], 'nor the half-downloaded blob');
      });
    }

    test('a pull killed with SIGKILL part-way leaves a store that the next pull completes', async () => {
      // A small layer and a 120 MB one: the kill comes when the small one is done, while the big
      // one is still streaming in.
      const busybox = execFileSync('tar', ['-C', ROOTFS, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
      const layers = [busybox, tarOf([{ path: 'blob.bin', body: randomBytes(120 << 20) }])];
      pushImage(writeOciLayout(join(tempDir(), 'big'), 'v1', layers, { Cmd: ['true'] }), 'v1', registry.host, 'test/big');
      const { env, root } = engineFor(ch);
      const ref = `${registry.host}/test/big:v1`;
      const puller = start(ch, ['pull', ref], { env });
      const closed = new Promise((resolve) => puller.once('close', resolve));
      let printed = '';
      puller.stdout!.on('data', (d: Buffer) => {
        printed += d;
        puller.kill('SIGKILL');
      });
      await closed;
      assert.doesNotMatch(printed, /Pulled/, 'the first pull was killed before it finished');
      const again = await run(ch, ['pull', ref], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal((await run(ch, ['run', ref], { env })).code, 0, 'the image runs');
      assert.deepEqual(filesUnder(join(root, 'tmp')), [], 'nothing partial is left');
    });

    test('bad input: bad references, unknown tag or repository, unreachable registry → one line', async () => {
      const { env } = engineFor(ch);
      for (const bad of ['UPPER/case', 'a:b:c', '']) {
        assertOneLineError(await run(ch, ['pull', bad], { env }), /invalid image reference|pull needs an image/);
      }
      assertOneLineError(await run(ch, ['pull', `${registry.host}/test/busybox:nope`], { env }), /tag nope .*not found/);
      assertOneLineError(await run(ch, ['run', `${registry.host}/no/such-repo:v1`], { env }), /not found/);
      assertOneLineError(await run(ch, ['pull', `127.0.0.1:${await freePort()}/x/y:z`], { env }), /cannot reach registry/);
      assertOneLineError(await run(ch, ['rmi', 'never/pulled'], { env }), /no image .* in the store/);
    });

    test('run of an image the store lacks, whose pull fails, says first that the image is not in the store', async () => {
      const { env } = engineFor(ch);
      const closed = `127.0.0.1:${await freePort()}`;
      const unreachable = await run(ch, ['run', `${closed}/nosuch/image`], { env });
      assertOneLineError(unreachable, new RegExp(`^nutshell: image ${closed.replace(/\./g, '\\.')}/nosuch/image:latest is not in the local store, and pulling it failed: cannot reach registry ${closed.replace(/\./g, '\\.')}: .*ECONNREFUSED`));
      const unknown = await run(ch, ['run', `${registry.host}/no/such-repo:v1`], { env });
      assertOneLineError(unknown, /^nutshell: image \S+\/no\/such-repo:v1 is not in the local store, and pulling it failed: repository no\/such-repo not found on /);
    });
  });
}
