/** Chapter 11 · the image endpoints (images-api.ts), driven by the real docker CLI against a
 *  real registry: pull and its progress stream, images, image inspect, history, tag, push
 *  (read back with skopeo), rmi and its conflicts, commit, credentials from the CLI's
 *  config.json, and a failure in the middle of a stream. The API server runs the image routes
 *  alone (tests/fixtures/images-api-server.ts), in a process of its own: it serves until SIGTERM. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from './helpers/chapter.ts';
import { buildTestImage, pushImage, TEST_IMAGE } from './helpers/images.ts';
import { chapterModuleUrl, chaptersFrom } from './helpers/ladder.ts';
import { freePort, startRegistry } from './helpers/registry.ts';

const SERVER = join(import.meta.dirname, 'fixtures', 'images-api-server.ts');
const layout = buildTestImage(join(tempDir(), 'layout'), 'v1');

interface Daemon {
  socket: string;
  root: string;
  process: ChildProcess;
}

/** Start the server on a socket in `dir`, with its store there too. */
async function startDaemon(chapter: string, dir: string): Promise<Daemon> {
  const socket = join(dir, 'docker.sock');
  const root = join(dir, 'root');
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, chapterModuleUrl(chapter, 'daemon.ts'), chapterModuleUrl(chapter, 'images-api.ts'), socket], {
    env: { ...process.env, NUTSHELL_ROOT: root },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((listening, failed) => {
    const timer = setTimeout(() => failed(new Error(`the server did not start: ${stderr}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      process.stderr.write(chunk);
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        listening();
      }
    });
    child.once('exit', (code) => failed(new Error(`the server exited (${code}): ${stderr}`)));
  });
  return { socket, root, process: child };
}

async function stopDaemon(daemon: Daemon): Promise<number | null> {
  if (daemon.process.exitCode !== null) return daemon.process.exitCode;
  const exited = new Promise<number | null>((done) => daemon.process.once('exit', (code) => done(code)));
  daemon.process.kill('SIGTERM');
  return exited;
}

for (const ch of chaptersFrom('11')) {
  const registry = await startRegistry();
  const secured = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret' } });
  pushImage(layout, 'v1', registry.host, 'test/busybox');
  pushImage(layout, 'v1', secured.host, 'private/busybox', { creds: 'alice:s3cret' });
  const image = `${registry.host}/test/busybox:v1`;
  // The CLI's own configuration: none of this machine's logins, and no credentials unless a
  // test gives some.
  const dockerConfig = tempDir();
  const withLogin = tempDir();
  // Made here, not in a hook: tempDir's after() would then be the hook's, and run at its end.
  const daemonDir = tempDir();
  let daemon: Daemon;

  /** Run the docker CLI against our server. */
  function docker(args: string[], config = dockerConfig) {
    const result = spawnSync('docker', ['-H', `unix://${daemon.socket}`, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config }, timeout: 120_000 });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }
  function dockerOk(args: string[], config?: string): string {
    const result = docker(args, config);
    assert.equal(result.code, 0, `docker ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }
  function inspect(name: string) {
    return JSON.parse(dockerOk(['image', 'inspect', name]))[0];
  }
  function skopeoDigest(ref: string, creds?: string): string {
    const args = ['inspect', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`];
    return JSON.parse(execFileSync('skopeo', args, { encoding: 'utf8' })).Digest;
  }

  describe(`chapter ${ch}`, () => {
    before(async () => {
      daemon = await startDaemon(ch, daemonDir);
    });
    after(async () => {
      assert.equal(await stopDaemon(daemon), 0, 'the server ends cleanly on SIGTERM');
    });

    test('pull streams dockerd\'s progress lines; a second pull is up to date and shows no layer', () => {
      const digest = skopeoDigest(image);
      const first = dockerOk(['pull', image]).split('\n');
      assert.equal(first[0], 'v1: Pulling from test/busybox');
      assert.equal(first.filter((line) => /^[0-9a-f]{12}: Pulling fs layer$/.test(line)).length, 3);
      assert.equal(first.filter((line) => /^[0-9a-f]{12}: Pull complete$/.test(line)).length, 3);
      assert.ok(first.includes(`Digest: ${digest}`));
      assert.ok(first.includes(`Status: Downloaded newer image for ${image}`));
      assert.equal(first.at(-2), image, 'the CLI prints the name last');

      const again = dockerOk(['pull', image]).split('\n');
      assert.deepEqual(again, ['v1: Pulling from test/busybox', `Digest: ${digest}`, `Status: Image is up to date for ${image}`, image, '']);
    });

    test('images and image inspect answer as dockerd: the ID is the config digest, the settings the image\'s', () => {
      const manifest = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${image}`], { encoding: 'utf8' }));
      const id: string = manifest.config.digest;
      const rows = dockerOk(['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}}']).trim().split('\n');
      assert.ok(rows.includes(`${registry.host}/test/busybox v1 ${id.slice(7, 19)}`), rows.join('\n'));

      const info = inspect(image);
      assert.equal(info.Id, id);
      assert.deepEqual(info.RepoTags, [image]);
      assert.deepEqual(info.RepoDigests, [`${registry.host}/test/busybox@${skopeoDigest(image)}`]);
      assert.deepEqual(info.Config.Env, TEST_IMAGE.env);
      assert.deepEqual(info.Config.Cmd, TEST_IMAGE.cmd);
      assert.equal(info.Config.WorkingDir, TEST_IMAGE.workingDir);
      assert.equal(info.Os, 'linux');
      assert.equal(info.Architecture, 'amd64');
      assert.equal(info.Created, '2024-01-04T00:00:00Z');
      assert.equal(info.RootFS.Layers.length, 3);
      assert.ok(info.Size > 1_000_000, 'the size of the unpacked layers (busybox)');
      // The same image by its short ID, and by its name with the digest.
      assert.equal(inspect(id.slice(7, 19)).Id, id);
      assert.equal(inspect(info.RepoDigests[0]).Id, id);

      const history = dockerOk(['history', '--format', '{{.ID}} {{.CreatedBy}}', image]).trim().split('\n');
      assert.equal(history.length, 4);
      assert.equal(history[0], `${id.slice(7, 19)} umoci config`);

      const missing = docker(['image', 'inspect', 'no/such-image']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /No such image: no\/such-image:latest/);
    });

    test('tag gives a second name (short, for docker.io); push sends it, skopeo reads it back; rmi of one name untags', () => {
      const pushed = `${registry.host}/pushed/busybox:v2`;
      dockerOk(['tag', image, pushed]);
      dockerOk(['tag', image, 'busybox']);
      const tags = inspect(image).RepoTags;
      assert.deepEqual([...tags].sort(), [pushed, image, 'busybox:latest'].sort());
      assert.ok(dockerOk(['images', 'busybox', '--format', '{{.Repository}}:{{.Tag}}']).trim() === 'busybox:latest', 'docker images NAME lists that name only');

      const out = dockerOk(['push', pushed]).split('\n');
      assert.equal(out[0], `The push refers to repository [${registry.host}/pushed/busybox]`);
      const digest = skopeoDigest(pushed);
      assert.equal(digest, skopeoDigest(image), 'the manifest went up as its exact bytes');
      assert.match(out.join('\n'), new RegExp(`^v2: digest: ${digest} size: \\d+$`, 'm'));
      const second = dockerOk(['push', pushed]);
      assert.equal(second.match(/: Layer already exists$/gm)?.length, 3, second);

      assert.equal(dockerOk(['rmi', 'busybox']), 'Untagged: busybox:latest\n');
      assert.equal(dockerOk(['rmi', pushed]), `Untagged: ${pushed}\n`);
      assert.deepEqual(inspect(image).RepoTags, [image]);
    });

    test('rmi by ID of an image with names in two repositories must be forced; the last name deletes the image', () => {
      const id = inspect(image).Id as string;
      dockerOk(['tag', image, 'other/name:x']);
      const refused = docker(['rmi', id.slice(7, 19)]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /conflict: unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced in multiple repositories/);
      assert.equal(dockerOk(['rmi', 'other/name:x']), 'Untagged: other/name:x\n');

      const out = dockerOk(['rmi', image]).trim().split('\n');
      assert.equal(out[0], `Untagged: ${image}`);
      assert.ok(out.includes(`Deleted: ${id}`), out.join('\n'));
      assert.equal(out.filter((line) => line.startsWith('Deleted: ')).length, 4, 'the image and its three layers');
      assert.equal(docker(['image', 'inspect', image]).code, 1);
      assert.equal(dockerOk(['images', '-q']), '');
    });

    test('commit makes a container\'s changes a new image; rmi of the image a container uses is refused unless forced', () => {
      dockerOk(['pull', '-q', image]);
      const base = inspect(image);
      // A stopped container, as the run verb leaves it: its spec, and an upper dir with a change.
      const id = `c0ffee${'0'.repeat(58)}`;
      const dir = join(daemon.root, 'containers', id);
      for (const sub of ['upper', 'work', 'merged']) mkdirSync(join(dir, sub), { recursive: true });
      writeFileSync(join(dir, 'upper', 'new-file'), 'made in the container\n');
      const lowerDirs = base.RootFS.Layers.map((diffId: string) => join(daemon.root, 'layers', 'sha256', diffId.slice(7)));
      const spec = { id, name: 'box', image: `${image}`, lowerDirs, hostname: 'box', created: new Date().toISOString(), argv: ['sh'], env: [], workdir: '/' };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));

      const committed = `${registry.host}/committed/box:v3`;
      const newId = dockerOk(['commit', '-m', 'a comment', '--change', 'CMD ["cat", "/new-file"]', 'box', committed]).trim();
      assert.match(newId, /^sha256:[0-9a-f]{64}$/);
      const info = inspect(committed);
      assert.equal(info.Id, newId);
      assert.deepEqual(info.Config.Cmd, ['cat', '/new-file']);
      assert.deepEqual(info.Config.Env, TEST_IMAGE.env, 'the rest of the base image\'s settings');
      assert.equal(info.RootFS.Layers.length, 4);
      assert.equal(info.Comment, 'a comment');
      const missing = docker(['commit', 'no-such-container', `${registry.host}/committed/none`]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /No such container: no-such-container/);

      const refused = docker(['rmi', image]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, new RegExp(`conflict: unable to remove repository reference "${image}" \\(must force\\) - container c0ffee000000 is using its referenced image ${base.Id.slice(7, 19)}`));
      assert.match(dockerOk(['rmi', '-f', image]), new RegExp(`Deleted: ${base.Id}`));
      // The committed image keeps the layers it shares with its base.
      assert.equal(inspect(committed).RootFS.Layers.length, 4);
      rmSync(dir, { recursive: true }); // the container goes, as `docker rm` would
      dockerOk(['rmi', committed]);
    });

    test('credentials come from the CLI\'s config.json, in X-Registry-Auth', () => {
      const privateImage = `${secured.host}/private/busybox:v1`;
      const anonymous = docker(['pull', privateImage]);
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /^Error response from daemon: .*credentials/m);

      const auth = Buffer.from('alice:s3cret').toString('base64');
      writeFileSync(join(withLogin, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth } } }));
      assert.match(dockerOk(['pull', privateImage], withLogin), /Status: Downloaded newer image for/);
      const again = `${secured.host}/private/again:v1`;
      dockerOk(['tag', privateImage, again]);
      assert.match(dockerOk(['push', again], withLogin), /^v1: digest: sha256:/m);
      assert.equal(skopeoDigest(again, 'alice:s3cret'), skopeoDigest(privateImage, 'alice:s3cret'));
      dockerOk(['rmi', privateImage, again]);
    });

    test('errors: before the stream, an HTTP error; in the middle of one, its last line — both exit 1', async () => {
      const unknown = docker(['pull', `${registry.host}/test/nope:v1`]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, new RegExp(`^Error response from daemon: manifest for ${registry.host.replace(/\./g, '\\.')}/test/nope:v1 not found`));

      // The push starts its stream before it reaches the registry, which is not there.
      dockerOk(['pull', '-q', image]);
      const nowhere = `127.0.0.1:${await freePort()}/gone/busybox:v1`;
      dockerOk(['tag', image, nowhere]);
      const failed = docker(['push', nowhere]);
      assert.equal(failed.code, 1);
      assert.match(failed.stdout, /^The push refers to repository/);
      assert.notEqual(failed.stderr.trim(), '', 'the error of the stream\'s last line');
    });
  });
}
