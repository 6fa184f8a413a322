/** Chapter 11 · the daemon, driven by the real docker CLI (28.2) over its socket: run (attached,
 *  detached, -it on a terminal), ps, logs, exec, inspect, stop, rm, pull, tag, rmi, commit, push,
 *  a published port, a daemon killed and started again, refusals, several clients at once and a
 *  client that dies mid-attach. If the docker CLI is satisfied, the daemon speaks the Engine API,
 *  not only our own client's reading of it. Each daemon has a temporary root and socket, and
 *  must leave nothing behind when stopped (tests/helpers/dockerd.ts, startOurDaemon). */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, ROOTFS, run, tempDir, type Result } from './helpers/chapter.ts';
import { startOurDaemon, type OurDaemon } from './helpers/dockerd.ts';
import { buildTestImage, pushImage, TEST_IMAGE } from './helpers/images.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { inNetns, makeNetns } from './helpers/netns.ts';
import { startRegistry } from './helpers/registry.ts';

/** The busybox rootfs, imported into each daemon under this name. */
const IMAGE = 'nutshell-test/busybox';

/** Its stderr, less the CLI's usage hint after a failed `run`: the lines of the error. */
function errorLines(result: Result): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() && !/^(Run|See) 'docker .* --help'/.test(line));
}

/** A non-zero exit and one line, the daemon's refusal as the CLI prints it. */
function assertRefused(result: Result, pattern: RegExp): void {
  assert.notEqual(result.code, 0, `exit 0; stdout: ${result.stdout}`);
  const lines = errorLines(result);
  assert.equal(lines.length, 1, `one line of error, not:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
}

/** A program on a pseudo-terminal of its own (python3's pty module: the pty is its controlling
 *  terminal, so a window-size change reaches it as SIGWINCH). The test types with write(),
 *  resizes with resize(), reads the screen with waitFor(). */
const PTY_DRIVER = `
import fcntl, json, os, pty, select, struct, sys, termios
def size(fd, rows, cols): fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    size(0, 24, 80)
    os.execvp(sys.argv[1], sys.argv[1:])
pending = b''
inputs = [fd, 0]
while True:
    ready = select.select(inputs, [], [])[0]
    if 0 in ready:
        data = os.read(0, 4096)
        if not data: inputs.remove(0)
        pending += data
        while b'\\n' in pending:
            line, pending = pending.split(b'\\n', 1)
            order = json.loads(line)
            if 'write' in order: os.write(fd, order['write'].encode())
            else: size(fd, *order['resize'])
    if fd in ready:
        try: data = os.read(fd, 4096)
        except OSError: data = b''
        if not data: break
        os.write(1, data)
status = os.waitpid(pid, 0)[1]
sys.stderr.write('exit %d\\n' % os.waitstatus_to_exitcode(status))
`;

function onTerminal(argv: string[]) {
  const child = spawn('python3', ['-c', PTY_DRIVER, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (screen += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.once('close', () => resolve(Number(/exit (-?\d+)/.exec(stderr)?.[1] ?? -1000))));
  return {
    write: (text: string) => child.stdin.write(`${JSON.stringify({ write: text })}\n`),
    resize: (rows: number, cols: number) => child.stdin.write(`${JSON.stringify({ resize: [rows, cols] })}\n`),
    async waitFor(pattern: RegExp, from = 0) {
      for (let i = 0; i < 200 && !pattern.test(screen.slice(from)); i++) await sleep(50);
      assert.match(screen.slice(from), pattern, `the screen so far:\n${screen}`);
    },
    screen: () => screen,
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

// At the top level: the registry's after() hook then belongs to the file.
const registry = await startRegistry();
const layout = buildTestImage(join(tempDir(), 'layout'), 'v1');
pushImage(layout, 'v1', registry.host, 'test/busybox');
const REF = `${registry.host}/test/busybox:v1`;

for (const chapter of chaptersFrom('11')) describe(`${chapter}: our daemon, driven by the docker CLI`, () => {
  let daemon: OurDaemon;
  before(async () => {
    daemon = await startOurDaemon(chapter);
    daemon.importImage(ROOTFS, IMAGE);
  });
  after(async () => {
    await daemon?.stop();
  });

  const dk = (args: string[], opts?: { input?: string; timeout?: number }) => daemon.docker(args, opts);
  const mustDk = async (args: string[]): Promise<string> => {
    const result = await dk(args);
    assert.equal(result.code, 0, `docker ${args.join(' ')}: exit ${result.code}, stderr: ${result.stderr}; the daemon's log:\n${daemon.log()}`);
    return result.stdout;
  };
  const status = async (name: string) => (await mustDk(['inspect', '--format', '{{.State.Status}}', name])).trim();

  test('run --rm prints what the container prints, keeps stdout and stderr apart, ends with its exit code', async () => {
    const hi = await dk(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'hi']);
    assert.equal(hi.code, 0, `${hi.stderr}; the daemon's log:\n${daemon.log()}`);
    assert.equal(hi.stdout, 'hi\n');
    const three = await dk(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(three.code, 3, three.stderr);
    assert.equal(three.stdout, 'out\n');
    assert.equal(three.stderr, 'err\n');
    // --entrypoint as the CLI sends it: ["/bin/echo"], and --entrypoint "" as [""] (none at all).
    assert.equal(await mustDk(['run', '--rm', '--network', 'none', '--entrypoint', '/bin/echo', IMAGE, 'from', 'echo']), 'from echo\n');
    assert.equal(await mustDk(['run', '--rm', '--network', 'none', '--entrypoint', '', IMAGE, 'echo', 'no entrypoint']), 'no entrypoint\n');
    assert.equal(await mustDk(['ps', '-aq']), '', 'after --rm, no container is left');
  });

  test('pull from a registry shows progress; images, tag and rmi', async () => {
    const pulled = await dk(['pull', REF]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /Pull(ing fs layer| complete)/, pulled.stdout);
    assert.match(pulled.stdout, /Digest: sha256:[0-9a-f]{64}/);
    const images = await mustDk(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(images, new RegExp(`^${REF.replaceAll('.', '\\.')}$`, 'm'), images);
    await mustDk(['tag', REF, 'nutshell-test/retagged:v2']);
    assert.match(await mustDk(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^nutshell-test\/retagged:v2$/m);
    const ran = await dk(['run', '--rm', '--network', 'none', 'nutshell-test/retagged:v2']);
    assert.equal(ran.stdout, TEST_IMAGE.hello, ran.stderr);
    const removed = await mustDk(['rmi', 'nutshell-test/retagged:v2']);
    assert.match(removed, /Untagged: .*retagged:v2/);
    assert.doesNotMatch(await mustDk(['images', '--format', '{{.Repository}}:{{.Tag}}']), /retagged/);
    await mustDk(['rmi', REF]);
    assert.doesNotMatch(await mustDk(['images', '--format', '{{.Repository}}']), new RegExp(`^${registry.host.replaceAll('.', '\\.')}/test/busybox$`, 'm'));
  });

  test('run --cap-add and --privileged reach the container\'s capabilities; --memory its cgroup', async () => {
    const capEff = async (args: string[]) => {
      const line = await mustDk(['run', '--rm', '--network', 'none', ...args, IMAGE, 'grep', 'CapEff', '/proc/self/status']);
      return BigInt(`0x${line.trim().split(/\s+/)[1]}`);
    };
    const CAP_NET_ADMIN = 1n << 12n;
    const plain = await capEff([]);
    assert.equal(plain & CAP_NET_ADMIN, 0n, 'docker\'s default set has no CAP_NET_ADMIN');
    assert.equal(await capEff(['--cap-add', 'NET_ADMIN']), plain | CAP_NET_ADMIN);
    const privileged = await capEff(['--privileged']);
    assert.equal(privileged & plain, plain);
    assert.ok(privileged & CAP_NET_ADMIN && privileged > plain, 'all of them');
    const id = (await mustDk(['run', '-d', '--network', 'none', '--memory', '64m', IMAGE, 'sleep', '30'])).trim();
    try {
      assert.equal((await mustDk(['inspect', '--format', '{{.HostConfig.Memory}}', id])).trim(), String(64 * 1024 * 1024));
      // The limit itself, in the cgroup the host sees the container's process in (v1 or v2).
      const pid = (await mustDk(['inspect', '--format', '{{.State.Pid}}', id])).trim();
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const v1 = /^\d+:([^:]*\bmemory\b[^:]*):(.*)$/m.exec(cgroups);
      const limitFile = v1 ? join('/sys/fs/cgroup', v1[1]!, v1[2]!, 'memory.limit_in_bytes') : join('/sys/fs/cgroup', /^0::(.*)$/m.exec(cgroups)![1]!, 'memory.max');
      assert.equal(readFileSync(limitFile, 'utf8').trim(), String(64 * 1024 * 1024));
    } finally {
      await mustDk(['rm', '-f', id]);
    }
  });

  test('run -d, ps, logs, exec, inspect, stop, rm', async () => {
    const id = (await mustDk(['run', '-d', '--name', 'web', '--network', 'none', IMAGE, 'sh', '-c', 'echo started; echo oops >&2; while sleep 1; do :; done'])).trim();
    assert.match(id, /^[0-9a-f]{12,64}$/);
    assert.match(await mustDk(['ps']), /\bweb\n/);
    assert.equal(await status('web'), 'running');
    let logs: Result | undefined;
    for (let i = 0; i < 50; i++) {
      logs = await dk(['logs', 'web']);
      if (logs.stdout.includes('started') && logs.stderr.includes('oops')) break;
      await sleep(100);
    }
    assert.equal(logs!.stdout, 'started\n');
    assert.equal(logs!.stderr, 'oops\n');
    const exec = await dk(['exec', 'web', 'sh', '-c', 'echo in; echo exec-err >&2; exit 4']);
    assert.equal(exec.code, 4, exec.stderr);
    assert.equal(exec.stdout, 'in\n');
    assert.equal(exec.stderr, 'exec-err\n');
    const piped = await dk(['exec', '-i', 'web', 'cat'], { input: 'through stdin\n' });
    assert.equal(piped.stdout, 'through stdin\n', piped.stderr);
    assert.equal(await mustDk(['stop', '-t', '1', 'web']), 'web\n');
    assert.equal(await status('web'), 'exited');
    assert.equal((await mustDk(['inspect', '--format', '{{.State.ExitCode}}', 'web'])).trim(), '137');
    assert.doesNotMatch(await mustDk(['ps']), /\bweb\n/);
    assert.equal(await mustDk(['rm', 'web']), 'web\n');
    assert.equal(await mustDk(['ps', '-aq']), '');
  });

  test('run -it on a terminal: typing, a window resize, and the shell\'s exit code', async () => {
    const term = onTerminal(['docker', '-H', daemon.host, 'run', '-it', '--rm', '--network', 'none', IMAGE, 'sh']);
    try {
      await term.waitFor(/\/ # /);
      term.write('echo "answer $((6 * 7))"\r');
      await term.waitFor(/answer 42/);
      term.write('stty size\r');
      await term.waitFor(/^24 80\r?$/m);
      term.resize(40, 100);
      await sleep(500); // the CLI's SIGWINCH, then its POST /resize
      const from = term.screen().length;
      term.write('stty size\r');
      await term.waitFor(/^40 100\r?$/m, from);
      term.write('exit 5\r');
      assert.equal(await term.exited, 5);
    } finally {
      term.kill();
    }
  });

  test('commit a changed container, push it to a registry, skopeo reads it back', async () => {
    await mustDk(['run', '--name', 'changed', '--network', 'none', IMAGE, 'sh', '-c', 'echo committed > /note']);
    const ref = `${registry.host}/test/committed:v1`;
    assert.match(await mustDk(['commit', 'changed', ref]), /^sha256:[0-9a-f]{64}\n$/);
    await mustDk(['rm', 'changed']);
    const pushed = await dk(['push', ref]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /v1: digest: sha256:[0-9a-f]{64}/, pushed.stdout);
    const inspected = spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' });
    assert.equal(inspected.status, 0, inspected.stderr);
    const { Layers } = JSON.parse(inspected.stdout) as { Layers: string[] };
    assert.equal(Layers.length, 2, 'the imported layer and the committed one');
    const again = await dk(['run', '--rm', '--network', 'none', ref, 'cat', '/note']);
    assert.equal(again.stdout, 'committed\n', again.stderr);
  });

  test('the daemon SIGKILLed and started again: a detached container still runs, and can be stopped and removed', async () => {
    await mustDk(['run', '-d', '--name', 'survivor', '--network', 'none', IMAGE, 'sleep', '1000']);
    await daemon.kill();
    await daemon.restart();
    assert.match(await mustDk(['ps']), /\bsurvivor\n/);
    assert.equal(await status('survivor'), 'running');
    assert.equal((await mustDk(['exec', 'survivor', 'echo', 'alive'])), 'alive\n');
    assert.equal(await mustDk(['stop', '-t', '1', 'survivor']), 'survivor\n');
    assert.equal(await status('survivor'), 'exited');
    assert.equal(await mustDk(['rm', 'survivor']), 'survivor\n');
  });

  test('bad input: non-zero, and one line from the daemon', async () => {
    assertRefused(await dk(['pull', `${registry.host}/no/such:v1`]), /^Error response from daemon: .*no\/such/);
    assertRefused(await dk(['logs', 'nobody']), /^Error response from daemon: No such container: nobody$/);
    assertRefused(await dk(['stop', 'nobody']), /^Error response from daemon: No such container: nobody$/);
    assertRefused(await dk(['rm', 'nobody']), /^Error response from daemon: No such container: nobody$/);
    await mustDk(['run', '-d', '--name', 'taken', '--network', 'none', IMAGE, 'sleep', '1000']);
    assertRefused(await dk(['run', '-d', '--name', 'taken', '--network', 'none', IMAGE, 'true']), /^docker: Error response from daemon: .*taken/);
    assertRefused(await dk(['rm', 'taken']), /^Error response from daemon: .*(running|stop)/i);
    await mustDk(['rm', '-f', 'taken']);
    assertRefused(await dk(['run', '--rm', '-p', '99999:80', IMAGE, 'true']), /99999/);
    const missing = await dk(['run', '--rm', '--network', 'none', `${registry.host}/no/such:v1`, 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(errorLines(missing).at(-1)!, /^docker: Error response from daemon: .*no\/such/);
    assert.equal(await mustDk(['ps', '-a']), (await mustDk(['ps'])).split('\n')[0] + '\n', 'no container is left');
  });

  test('the socket: mode 0660, a second daemon on it refused; API versions it does not speak refused in dockerd\'s words', async () => {
    const socketPath = daemon.host.replace(/^unix:\/\//, '');
    assert.equal(statSync(socketPath).mode & 0o777, 0o660, 'whoever may open the socket is root: owner and group only');
    const second = await run(chapter, ['--root', tempDir(), 'daemon', '--host', daemon.host]);
    assertOneLineError(second, /^nutshell: a daemon already listens on /);
    const ask = (path: string) => new Promise<{ status: number; body: string }>((done, fail) => {
      const outgoing = request({ socketPath, path, agent: false }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk));
        response.on('end', () => done({ status: response.statusCode ?? 0, body }));
      });
      outgoing.once('error', fail);
      outgoing.end();
    });
    const tooNew = await ask('/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(JSON.parse(tooNew.body).message, /^client version 1\.99 is too new\. Maximum supported API version is 1\.50$/);
    const tooOld = await ask('/v1.12/version');
    assert.equal(tooOld.status, 400);
    assert.match(JSON.parse(tooOld.body).message, /^client version 1\.12 is too old\./);
    const unknown = await ask('/v1.50/no/such/endpoint');
    assert.equal(unknown.status, 404);
    assert.match(JSON.parse(unknown.body).message, /page not found/);
    assert.equal((await ask('/v1.44/version')).status, 200, 'an older version that we speak');
  });

  test('several clients at once; a client killed mid-attach leaves its container running', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map((n) => dk(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', `sleep 0.5; echo client ${n}`])));
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `client ${i + 1}\n`);
    });
    const attached = spawn('docker', ['-H', daemon.host, 'run', '--name', 'orphan', '--network', 'none', IMAGE, 'sh', '-c', 'echo begun; sleep 1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const begun = new Promise<void>((resolve) => attached.stdout.on('data', (d: Buffer) => d.toString().includes('begun') && resolve()));
    await begun;
    attached.kill('SIGKILL');
    await new Promise((resolve) => attached.once('close', resolve));
    await sleep(1000);
    assert.equal(await status('orphan'), 'running');
    assert.match(await mustDk(['logs', 'orphan']), /^begun\n$/);
    await mustDk(['rm', '-f', 'orphan']);
    assert.equal(await mustDk(['ps', '-aq']), '');
  });

  test('a published port answers from the host side (a daemon in a network namespace of its own)', async (t) => {
    let inner: OurDaemon | undefined;
    const ns = await makeNetns(t, async () => inner?.stop());
    inner = await startOurDaemon(chapter, { netns: ns });
    inner.importImage(ROOTFS, IMAGE);
    const run = await inner.docker(['run', '-d', '--name', 'web', '-p', '18080:80', IMAGE, 'sh', '-c', 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www']);
    assert.equal(run.code, 0, run.stderr);
    let answer: Result | undefined;
    for (let i = 0; i < 50; i++) {
      answer = await inNetns(ns, 'curl', ['-sS', '--max-time', '2', 'http://127.0.0.1:18080/']);
      if (answer.code === 0) break;
      await sleep(100);
    }
    assert.equal(answer!.code, 0, answer!.stderr);
    assert.equal(answer!.stdout, 'hello\n');
    assert.match((await inner.docker(['port', 'web'])).stdout, /80\/tcp -> 0\.0\.0\.0:18080/);
    assert.equal((await inner.docker(['rm', '-f', 'web'])).code, 0);
  });

  test('spare monitors: booted ahead, one per container, replaced; none with --spares 0; they go with the daemon, SIGKILLed too', async () => {
    /** The daemon's spares once there are `count` of them (they take a Node start or two). */
    const sparesOf = async (d: OurDaemon, count: number): Promise<number[]> => {
      for (let i = 0; i < 200 && d.spares().length !== count; i++) await sleep(50);
      assert.equal(d.spares().length, count, `spares of the daemon: ${d.spares().join(', ')}; its log:\n${d.log()}`);
      return d.spares();
    };
    const parentOf = (pid: number) => Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const ready = await sparesOf(daemon, 2);
    const id = (await mustDk(['run', '-d', '--network', 'none', IMAGE, 'sleep', '1000'])).trim();
    const pid = Number((await mustDk(['inspect', '--format', '{{.State.Pid}}', id])).trim());
    // The child stage became the command (execve), so the command's parent is the monitor.
    assert.ok(ready.includes(parentOf(pid)), `the container's monitor (${parentOf(pid)}) is one of the spares (${ready.join(', ')})`);
    const refilled = await sparesOf(daemon, 2);
    assert.ok(!refilled.includes(parentOf(pid)), 'the spare that took the container is no spare any more; another one booted');
    assert.equal(await mustDk(['exec', id, 'echo', 'works']), 'works\n');
    await mustDk(['rm', '-f', id]);

    // One killed while it waits (with its child stage: a process group of its own) leaves the
    // pool: the next start takes another, and the pool fills up again.
    const [victim] = await sparesOf(daemon, 2);
    process.kill(-victim!, 'SIGKILL');
    const fine = await dk(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'fine']);
    assert.equal(fine.stdout, 'fine\n', `${fine.stderr}; the daemon's log:\n${daemon.log()}`);
    assert.ok(!(await sparesOf(daemon, 2)).includes(victim!));

    const cold = await startOurDaemon(chapter, { args: ['--spares', '0'] });
    try {
      cold.importImage(ROOTFS, IMAGE);
      const hi = await cold.docker(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'cold']);
      assert.equal(hi.stdout, 'cold\n', hi.stderr);
      assert.deepEqual(cold.spares(), [], '--spares 0: no spare at any time');
    } finally {
      await cold.stop();
    }
    assertOneLineError(await run(chapter, ['--root', tempDir(), 'daemon', '--host', `unix://${join(tempDir(), 'd.sock')}`, '--spares', '9']), /^nutshell: --spares must be a whole number from 0 to 8, not 9$/);

    const before = await sparesOf(daemon, 2);
    await daemon.kill(); // SIGKILL: their sockets to it close, which is how they know
    // A zombie has ended: it waits only for whoever adopted it to reap it.
    const alive = (spare: number) => existsSync(`/proc/${spare}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${spare}/status`, 'utf8'));
    for (let i = 0; i < 100 && before.some(alive); i++) await sleep(50);
    assert.deepEqual(before.filter(alive), [], 'no spare outlives its daemon');
    await daemon.restart();
    await sparesOf(daemon, 2);
  });

  test('stopping the daemon leaves no process, mount, cgroup or socket behind', async () => {
    await mustDk(['run', '-d', '--name', 'left-running', '--network', 'none', IMAGE, 'sleep', '1000']);
    await daemon.stop(); // removes its containers, SIGTERM, and checks
  });
});

