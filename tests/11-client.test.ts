/** Chapter 11 · the client: with --host (or NUTSHELL_HOST), `run`, `ps`, `logs`, `exec`, `stop`,
 *  `kill`, `rm`, `images`, `pull` and `inspect` are Docker Engine API requests to a daemon, and
 *  print what the local verbs print. The daemon here is a real dockerd (Debian's 20.10, API
 *  1.41) on a private socket, data root and exec root, started and removed by the test: if our
 *  client works against it, it speaks the API, not just our daemon's reading of it. The same
 *  tests then run against our daemon (startOurDaemon, tests/helpers/dockerd.ts). */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, ROOTFS, run, start, tempDir, type Result } from './helpers/chapter.ts';
import { buildTestImage, pushImage, TEST_IMAGE } from './helpers/images.ts';
import { leftovers, startDockerd, startOurDaemon, type TestDaemon } from './helpers/dockerd.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { startRegistry } from './helpers/registry.ts';

/** The busybox rootfs, imported into the daemon under this name. */
const IMAGE = 'nutshell-test/busybox';

/** The daemons the client is checked against: the reference, and ours. */
// No skipping when dockerd is missing: starting it fails, and so does the run (CI installs docker.io).
const daemons: { name: string; start: (chapter: string) => Promise<TestDaemon> }[] = [
  { name: 'a real dockerd', start: () => startDockerd() },
  { name: 'our daemon', start: (chapter) => startOurDaemon(chapter) },
];

for (const chapter of chaptersFrom('11')) for (const kind of daemons) describe(`${chapter}: the CLI as a client of a daemon (${kind.name})`, () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await kind.start(chapter);
    daemon.importImage(ROOTFS, IMAGE);
  });
  after(async () => {
    await daemon?.stop();
  });

  /** Our chapter 11 CLI, sent to the daemon with --host. */
  const client = (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Result> => run(chapter, ['--host', daemon.host, ...args], { timeout: 60_000, ...opts });
  /** The same, and it must succeed. */
  const mustClient = async (args: string[]): Promise<string> => {
    const result = await client(args);
    assert.equal(result.code, 0, `${args.join(' ')}: exit ${result.code}, stderr: ${result.stderr}`);
    return result.stdout;
  };

  test('run prints what the container prints, and the container is gone with --rm', async () => {
    const result = await client(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'hi']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hi\n');
    assert.equal(result.stderr, '');
    // --rm: removed before run returns, so no row in ps -a names its command.
    assert.doesNotMatch(await mustClient(['ps', '-a']), /"echo hi"/);
  });

  test('run keeps stdout and stderr apart, and ends with the container\'s exit code', async () => {
    const result = await client(['run', '--name', 'three', '--network', 'none', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
    // ps -a: the local table's columns, the container among the ended ones.
    const table = await mustClient(['ps', '-a']);
    const [header, ...rows] = table.trimEnd().split('\n');
    assert.equal(header, 'CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES');
    const row = rows.map((r) => r.split('\t')).find((columns) => columns[6] === 'three');
    assert.ok(row, `no row named "three" in:\n${table}`);
    assert.match(row[0]!, /^[0-9a-f]{12}$/);
    assert.equal(row[1], IMAGE);
    // The daemon's words for the command (dockerd quotes an argument with spaces), cut at 30.
    assert.match(row[2]!, /^"sh -c .{1,24}"$/);
    assert.match(row[3]!, /ago$/);
    assert.match(row[4]!, /^Exited \(3\)/);
    // Not among the running ones.
    assert.doesNotMatch(await mustClient(['ps']), /three/);
    assert.equal(await mustClient(['rm', 'three']), 'three\n');
  });

  test('run -d prints the id; logs, exec, inspect, stop, kill and rm work on it', async () => {
    const id = (await mustClient(['run', '-d', '--name', 'web', '--network', 'none', IMAGE, 'sh', '-c', 'echo started; echo oops >&2; while sleep 1; do :; done'])).trim();
    assert.match(id, /^[0-9a-f]{12,64}$/);
    assert.match(await mustClient(['ps']), /\tweb\n/);
    // logs: stdout to stdout, stderr to stderr, as the container wrote them.
    let logs: Result | undefined;
    for (let i = 0; i < 50; i++) {
      logs = await client(['logs', 'web']);
      if (logs.stdout.includes('started') && logs.stderr.includes('oops')) break;
      await sleep(100);
    }
    assert.equal(logs!.code, 0, logs!.stderr);
    assert.equal(logs!.stdout, 'started\n');
    assert.equal(logs!.stderr, 'oops\n');
    // exec: its output, its exit code, in the container (its hostname is the container's).
    const exec = await client(['exec', 'web', 'sh', '-c', 'echo in; echo exec-err >&2; hostname; exit 4']);
    assert.equal(exec.code, 4, exec.stderr);
    assert.equal(exec.stdout, `in\n${id.slice(0, 12)}\n`);
    assert.equal(exec.stderr, 'exec-err\n');
    // inspect: the daemon's JSON for it.
    assert.equal((JSON.parse(await mustClient(['inspect', 'web'])) as { Id: string }).Id, id);
    // stop: sh as PID 1 ignores SIGTERM, so -t 1 ends in SIGKILL after a second.
    assert.equal(await mustClient(['stop', '-t', '1', 'web']), 'web\n');
    assert.match(await mustClient(['ps', '-a']), /Exited \(137\)[^\n]*\tweb\n/);
    assertOneLineError(await client(['stop', 'web']), /^nutshell: container "web" is not running$/);
    // logs -f of an ended container: what it printed, then the end.
    const followed = await client(['logs', '-f', 'web']);
    assert.equal(followed.stdout, 'started\n');
    assert.equal(await mustClient(['rm', 'web']), 'web\n');
    assertOneLineError(await client(['rm', 'web']), /^nutshell: No such container: web$/);

    // kill, and rm -f of a running one.
    await mustClient(['run', '-d', '--name', 'victim', '--network', 'none', IMAGE, 'sleep', '1000']);
    assert.equal(await mustClient(['kill', '-s', 'TERM', 'victim']), 'victim\n'); // PID 1: TERM is ignored
    assert.match(await mustClient(['ps']), /\tvictim\n/);
    assert.equal(await mustClient(['kill', 'victim']), 'victim\n');
    // A kill returns once the signal is sent; the end is recorded right after.
    let table = '';
    for (let i = 0; i < 50 && !/Exited \(137\)[^\n]*\tvictim\n/.test(table); i++) table = await mustClient(['ps', '-a']);
    assert.match(table, /Exited \(137\)[^\n]*\tvictim\n/);
    await mustClient(['rm', 'victim']);
    await mustClient(['run', '-d', '--name', 'forced', '--network', 'none', IMAGE, 'sleep', '1000']);
    assertOneLineError(await client(['rm', 'forced']), /^nutshell: .*(running|stop)/i);
    assert.equal(await mustClient(['rm', '-f', 'forced']), 'forced\n');
    assert.doesNotMatch(await mustClient(['ps', '-a']), /forced/);
  });

  test('logs -f follows a running container to its end', async () => {
    await mustClient(['run', '-d', '--name', 'ticker', '--network', 'none', IMAGE, 'sh', '-c', 'echo a; sleep 1; echo b >&2; sleep 1; echo c']);
    const followed = await client(['logs', '-f', 'ticker']);
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, 'a\nc\n');
    assert.equal(followed.stderr, 'b\n');
    await mustClient(['rm', 'ticker']);
  });

  test('Ctrl-C on an attached run is passed on to the container', async () => {
    const child = start(chapter, ['--host', daemon.host, 'run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'trap "echo caught; exit 7" INT; echo ready; while true; do sleep 0.1; done']);
    let stdout = '';
    const ready = new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      if (stdout.includes('ready')) resolve();
    }));
    const ended = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await ready;
    child.kill('SIGINT');
    assert.equal(await ended, 7);
    assert.equal(stdout, 'ready\ncaught\n');
  });

  test('run passes the environment, working directory, user, hostname and entrypoint on', async () => {
    // -e NAME alone: the client's $NAME (the daemon's environment is not the user's).
    const env = { ...process.env, FROM_CLIENT: 'client value' };
    const result = await client(['run', '--rm', '--network', 'none', '-e', 'GREETING=hi there', '-e', 'FROM_CLIENT', '-w', '/tmp', '-u', '1000:1000', '--hostname', 'box', IMAGE, 'sh', '-c', 'echo "$GREETING|$FROM_CLIENT|$(pwd)|$(id -u):$(id -g)|$(hostname)"'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hi there|client value|/tmp|1000:1000|box\n');
    const entered = await client(['run', '--rm', '--network', 'none', '--entrypoint', '/bin/echo', IMAGE, 'from', 'the entrypoint']);
    assert.deepEqual({ code: entered.code, stdout: entered.stdout }, { code: 0, stdout: 'from the entrypoint\n' }, entered.stderr);
  });

  test('run sends limits, capabilities, volumes and the stop timeout in the daemon\'s terms', async () => {
    const volume = tempDir();
    writeFileSync(join(volume, 'note.txt'), 'from the host\n');
    const result = await client(['run', '--rm', '--network', 'none', '-v', `${volume}:/data:ro`, '--cap-drop', 'CHOWN', IMAGE, 'sh', '-c', 'cat /data/note.txt; touch /data/x 2>/dev/null || echo read-only; chown 1 /tmp 2>/dev/null || echo no-chown']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'from the host\nread-only\nno-chown\n');
    await mustClient(['run', '-d', '--name', 'limited', '--network', 'none', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '50', '--cap-add', 'NET_ADMIN', '--stop-timeout', '3', IMAGE, 'sleep', '1000']);
    const inspected = JSON.parse(await mustClient(['inspect', 'limited'])) as { Config: { StopTimeout?: number }; HostConfig: { Memory: number; NanoCpus: number; PidsLimit: number; CapAdd: string[] } };
    assert.equal(inspected.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(inspected.HostConfig.NanoCpus, 500_000_000);
    assert.equal(inspected.HostConfig.PidsLimit, 50);
    assert.deepEqual(inspected.HostConfig.CapAdd, ['NET_ADMIN']);
    assert.equal(inspected.Config.StopTimeout, 3);
    await mustClient(['rm', '-f', 'limited']);
    // Checked before any request, by the local verb's parsers.
    assertOneLineError(await client(['run', '--memory', 'lots', IMAGE, 'true']), /^nutshell: invalid memory limit "lots"/);
  });

  test('images lists the daemon\'s images in the local table\'s columns', async () => {
    const table = await mustClient(['images']);
    const [header, ...rows] = table.trimEnd().split('\n');
    assert.equal(header, 'REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE');
    const row = rows.map((r) => r.split('\t')).find((columns) => columns[0] === `docker.io/${IMAGE}`);
    assert.ok(row, `no row for ${IMAGE} in:\n${table}`);
    assert.equal(row[1], 'latest');
    assert.match(row[2]!, /^[0-9a-f]{12}$/);
    assert.match(row[4]!, /iB$|^\d+ B$/);
    // inspect of an image: the daemon's JSON for it.
    assert.equal((JSON.parse(await mustClient(['inspect', IMAGE])) as { Id: string }).Id.slice(7, 19), row[2]);
  });

  test('pull fetches through the daemon; run pulls an image the daemon lacks', async () => {
    const registry = await startRegistry();
    pushImage(buildTestImage(join(tempDir(), 'layout'), 'v1'), 'v1', registry.host, 'test/busybox');
    const ref = `${registry.host}/test/busybox:v1`;
    // run first: the daemon has no such image, so the client pulls it and creates again.
    const result = await client(['run', '--rm', '--network', 'none', ref]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, TEST_IMAGE.hello); // the image's own command, in its working directory
    const pulled = await mustClient(['pull', ref]);
    assert.match(pulled, new RegExp(`^Digest: sha256:[0-9a-f]{64}\\nPulled ${ref.replaceAll('.', '\\.')}\\n$`));
    assert.equal(await mustClient(['pull', '-q', ref]), `${ref}\n`);
  });

  test('the daemon\'s refusals are one line: no such image, no such command, no such container', async () => {
    assertOneLineError(await client(['pull', '127.0.0.1:1/nothing']), /^nutshell: .*127\.0\.0\.1:1/);
    const missing = await client(['run', '--rm', '--network', 'none', IMAGE, 'no-such-command']);
    assertOneLineError(missing, /^nutshell: .*no-such-command/);
    assert.equal(missing.code, 127);
    assertOneLineError(await client(['logs', 'nobody']), /^nutshell: No such container: nobody$/);
    assertOneLineError(await client(['exec', 'nobody', 'true']), /^nutshell: No such container: nobody$/);
    assertOneLineError(await client(['inspect', 'nobody']), /^nutshell: no container or image named "nobody"$/);
  });

  test('stopping the daemon leaves no process and no mount behind', async () => {
    await daemon.stop();
    assert.deepEqual(leftovers(daemon.dir), []);
    assert.equal(existsSync(daemon.dir), false);
  });
});

for (const chapter of chaptersFrom('11')) describe(`${chapter}: the client without a daemon`, () => {
  const nowhere = `unix://${join(tempDir(), 'nothing.sock')}`;
  const message = new RegExp(`^nutshell: cannot connect to the nutshell daemon at ${nowhere}: is it running\\?$`);

  test('--host where nothing listens: one line, exit 125', async () => {
    const result = await run(chapter, ['--host', nowhere, 'ps']);
    assertOneLineError(result, message);
    assert.equal(result.code, 125);
  });

  test('--host that is not a Unix socket: one line', async () => {
    assertOneLineError(await run(chapter, ['--host', 'tcp://127.0.0.1:2375', 'ps']), /^nutshell: invalid --host "tcp:\/\/127\.0\.0\.1:2375": give unix:\/\/\//);
  });

  test('NUTSHELL_HOST where nothing listens: the same line, for any client verb', async () => {
    for (const args of [['run', 'busybox', 'true'], ['images'], ['logs', 'x']]) {
      const result = await run(chapter, args, { env: { ...process.env, NUTSHELL_HOST: nowhere } });
      assertOneLineError(result, message);
      assert.equal(result.code, 125);
    }
  });
});
