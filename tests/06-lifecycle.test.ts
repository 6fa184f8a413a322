/** Chapter 06 · the container lifecycle through the command line: run -d, ps, logs, exec,
 *  stop, kill, rm — also after the engine that ran the container was SIGKILLed — -v volumes,
 *  and nothing (mount, cgroup, process, state) left behind. From chapter 06 on, each chapter
 *  with an engine root and a registry of its own. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { engineCgroups } from './helpers/cgroups.ts';
import { assertOneLineError, engineFor, ROOTFS, run, start, tempDir } from './helpers/chapter.ts';
import { buildTestImage, pushImage } from './helpers/images.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { startRegistry } from './helpers/registry.ts';
import { secretFilesOthersCanRead, watchCommandLines } from './helpers/secrets.ts';

const layout = buildTestImage(join(tempDir(), 'layout'), 'v1');
const LOOP = ['sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'];

/** What a program printed, counted rather than kept (a log can be gigabytes): its first bytes,
 *  its last ones, how many, its stderr and exit code. Killed after `timeout` ms. */
function countOutput(child: ChildProcess, timeout = 60_000) {
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  let count = 0;
  let head = '';
  let tail = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    if (head.length < 64) head += d.subarray(0, 64 - head.length).toString('latin1');
    tail = (tail + d.subarray(-4096).toString('latin1')).slice(-4096);
    count += d.length;
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return {
    count: () => count,
    done: new Promise<{ code: number | null; count: number; head: string; tail: string; stderr: string }>((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, count, head, tail, stderr });
      })),
  };
}

for (const ch of chaptersFrom('06')) {
  const registry = await startRegistry();
  pushImage(layout, 'v1', registry.host, 'test/busybox');
  const IMAGE = `${registry.host}/test/busybox:v1`;
  const engine = engineFor(ch);
  const { root, env } = engine;

  async function psLine(ref: string, all = false): Promise<string | undefined> {
    const r = await run(ch, ['ps', ...(all ? ['-a'] : [])], { env });
    return r.stdout.split('\n').find((line) => line.includes(ref));
  }

  describe(`chapter ${ch}`, () => {
    test('run -d, ps, logs, exec, stop and rm; nothing is left behind', async () => {
      const cgroupsBefore = engineCgroups();
      const started = await run(ch, ['run', '-d', '--name', 'ticker', '--hostname', 'tick-host', IMAGE, ...LOOP], { env });
      assert.equal(started.code, 0, started.stderr);
      const id = started.stdout.trim();
      assert.match(id, /^[0-9a-f]{12}$/);
      assert.match((await psLine('ticker'))!, /Up /);
      await sleep(800);
      const logs = await run(ch, ['logs', 'ticker'], { env });
      assert.match(logs.stdout, /^tick 0\ntick 1\n/);
      const inside = await run(ch, ['exec', id.slice(0, 6), 'sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "'], { env });
      assert.equal(inside.stdout.split('\n')[0], 'tick-host', inside.stderr);
      assert.match(inside.stdout.split('\n')[1]!, /^sh -c i=0; while true/, 'exec sees the container\'s PID 1');
      const began = Date.now();
      assert.equal((await run(ch, ['stop', '-t', '2', 'ticker'], { env })).code, 0);
      assert.ok(Date.now() - began < 8000, 'stop ended it within the timeout');
      assert.equal(await psLine('ticker'), undefined, 'ps no longer lists it');
      assert.match((await psLine('ticker', true))!, /Exited \((137|143)\)/);
      assert.equal((await run(ch, ['rm', 'ticker'], { env })).code, 0);
      assert.equal(await psLine('ticker', true), undefined);
      assert.deepEqual(engine.containerProcesses(), []);
      assert.deepEqual(engineCgroups().filter((c) => !cgroupsBefore.includes(c)), []);
      assert.deepEqual(readdirSync(join(root, 'containers')), []);
      assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(root), 'no mount left on the host');
    });

    test('a container whose engine was SIGKILLed is still listed, stopped and removed', async () => {
      const started = await run(ch, ['run', '-d', '--name', 'orphan', IMAGE, ...LOOP], { env });
      assert.equal(started.code, 0, started.stderr);
      const id = started.stdout.trim();
      // The monitor is the engine that runs a detached container: kill it without warning.
      const monitor = readdirSync('/proc').find((pid) => {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          return cmdline.includes('__monitor') && cmdline.includes(id);
        } catch {
          return false;
        }
      });
      assert.ok(monitor, 'the monitor process runs');
      process.kill(Number(monitor), 'SIGKILL');
      await sleep(300);
      assert.match((await psLine('orphan'))!, /Up /, 'the container outlives its monitor, and ps says so');
      assert.equal((await run(ch, ['stop', '-t', '1', 'orphan'], { env })).code, 0);
      assert.match((await psLine('orphan', true))!, /Exited/);
      assert.equal((await run(ch, ['rm', 'orphan'], { env })).code, 0);
      assert.deepEqual(engine.containerProcesses(), []);
    });

    test('rm -f kills a running container; kill sends a signal', async () => {
      const started = await run(ch, ['run', '-d', '--name', 'doomed', IMAGE, ...LOOP], { env });
      assertOneLineError(await run(ch, ['rm', 'doomed'], { env }), /is running: stop it first, or rm -f/);
      assert.equal((await run(ch, ['rm', '-f', 'doomed'], { env })).code, 0);
      assert.deepEqual(engine.containerProcesses(), []);
      const killed = await run(ch, ['run', '-d', IMAGE, ...LOOP], { env });
      assert.equal((await run(ch, ['kill', killed.stdout.trim()], { env })).code, 0);
      await sleep(500);
      assert.match((await psLine(killed.stdout.trim(), true))!, /Exited \(137\)/);
      assert.equal((await run(ch, ['rm', killed.stdout.trim()], { env })).code, 0);
      const removed = await run(ch, ['run', '-d', '--rm', IMAGE, ...LOOP], { env });
      assert.equal((await run(ch, ['stop', '-t', '0', removed.stdout.trim()], { env })).code, 0);
      await sleep(500);
      assert.equal(await psLine(removed.stdout.trim(), true), undefined, 'run -d --rm: gone once stopped');
      void started;
    });

    test('a secret given with -e to run -d never shows on a command line (the monitor\'s, the child stages\'), and its records are root\'s only', async () => {
      const secret = `hunter2-${randomBytes(6).toString('hex')}`;
      // The `run -d` we start has the secret on its own command line, as typed; it is gone once
      // it has printed the id. The monitor it leaves behind lives as long as the container.
      const args = ['run', '-d', '--name', 'secretive', '-e', `SECRET=${secret}`, IMAGE, 'sleep', '60'];
      const watcher = watchCommandLines(secret, args);
      const typed = start(ch, args, { env });
      let id = '';
      typed.stdout!.on('data', (d: Buffer) => (id += d));
      let readable: string[] = [];
      let shown: string[] = [];
      try {
        assert.equal(await new Promise((resolve) => typed.once('close', resolve)), 0);
        assert.match(id, /^[0-9a-f]{12}\n$/);
        const inside = await run(ch, ['exec', 'secretive', 'sh', '-c', 'echo "$SECRET"'], { env });
        assert.equal(inside.stdout.trim(), secret, `exec runs with the container's env: ${inside.stderr}`);
        readable = secretFilesOthersCanRead(root, secret);
      } finally {
        await run(ch, ['rm', '-f', 'secretive'], { env });
        shown = watcher.stop();
      }
      assert.deepEqual({ shown, readable }, { shown: [], readable: [] }, 'no host process showed the secret on its command line, no file others can read holds it');
    });

    test('logs and logs -f stream a log that the container made larger than 2 GiB, and follow only what it appends', async () => {
      // The container's stdout is its log file: it can ftruncate(2) it to any size (sparse, so
      // no disk is used). Node's readFile refuses 2 GiB and more; logs must stream it.
      const BIG = 2049 * 2 ** 20;
      const started = await run(ch, ['run', '-d', '--name', 'huge', IMAGE, 'sh', '-c',
        'echo before; sleep 0.5; truncate -s 2049M /proc/self/fd/1; echo after; i=0; while [ $i -lt 20 ]; do sleep 0.1; echo "line $i"; i=$((i+1)); done; sleep 60'], { env });
      assert.equal(started.code, 0, started.stderr);
      const lines = Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('');
      const expected = { head: 'before\n', tail: `after\n${lines}`, size: BIG + `after\n${lines}`.length };
      try {
        // -f from the start: it sees the log grow from 7 bytes to 2 GiB, then line by line.
        const follower = start(ch, ['logs', '-f', 'huge'], { env });
        const followed = countOutput(follower);
        const { dir } = JSON.parse((await run(ch, ['inspect', 'huge'], { env })).stdout) as { dir: string };
        const log = join(dir, 'container.log');
        for (let i = 0; i < 200 && statSync(log).size < expected.size; i++) await sleep(100);
        assert.equal(statSync(log).size, expected.size, 'the container wrote its 20 lines');
        for (let i = 0; i < 300 && followed.count() < expected.size && follower.exitCode === null; i++) await sleep(100);
        const stopped = await run(ch, ['stop', '-t', '0', 'huge'], { env });
        assert.equal(stopped.code, 0, stopped.stderr);
        const f = await followed.done; // it ends by itself, once the container has
        const whole = await countOutput(start(ch, ['logs', 'huge'], { env })).done;
        // Each byte once: the follower read only what was appended after each look.
        const seen = (r: typeof f) => ({ code: r.code, stderr: r.stderr, head: r.head.slice(0, expected.head.length), tail: r.tail.slice(-expected.tail.length), count: r.count });
        const want = { code: 0, stderr: '', head: expected.head, tail: expected.tail, count: expected.size };
        assert.deepEqual({ follow: seen(f), whole: seen(whole) }, { follow: want, whole: want });
      } finally {
        await run(ch, ['rm', '-f', 'huge'], { env });
      }
    });

    test('bad input: one line and a non-zero exit', async () => {
      assertOneLineError(await run(ch, ['stop', 'ghost'], { env }), /no container named "ghost"/);
      assertOneLineError(await run(ch, ['logs', 'ghost'], { env }), /no container named "ghost"/);
      const done = await run(ch, ['run', '--name', 'finished', IMAGE, 'true'], { env });
      assert.equal(done.code, 0, done.stderr);
      assertOneLineError(await run(ch, ['stop', 'finished'], { env }), /container "finished" is not running/);
      assertOneLineError(await run(ch, ['exec', 'finished', 'true'], { env }), /is not running/);
      assertOneLineError(await run(ch, ['run', '--name', 'finished', IMAGE, 'true'], { env }), /name "finished" is in use/);
      // A word more than the verb takes is refused, not dropped: `rm finished ghost` removes nothing.
      assertOneLineError(await run(ch, ['rm', 'finished', 'ghost'], { env }), /usage: rm .*"ghost" is one word too many/);
      assert.equal((await run(ch, ['rm', 'finished'], { env })).code, 0);
    });

    test('-v binds a host directory, :ro makes it read-only, and a symlink in the image cannot redirect it', async () => {
      const shared = tempDir('nutshell-volume-');
      writeFileSync(join(shared, 'from-host'), 'hello from the host\n');
      const r = await run(ch, ['run', '--rm', '-v', `${shared}:/data`, '-v', `${shared}:/ro:ro`, IMAGE, 'sh', '-c', 'cat /data/from-host; echo back > /data/from-container; echo x > /ro/nope'], { env });
      assert.equal(r.stdout, 'hello from the host\n');
      assert.match(r.stderr, /Read-only file system/);
      assert.equal(readFileSync(join(shared, 'from-container'), 'utf8'), 'back\n');
      assert.ok(!existsSync(join(shared, 'nope')));
      // An image whose /data is a symlink to /etc: the mount must not land on the host's /etc.
      const trapLayer = tempDir('nutshell-trap-');
      symlinkSync('/etc', join(trapLayer, 'trap'));
      const trapRef = (await engine.rootfsArgs([ROOTFS, trapLayer]))[0]!;
      const hostEtc = readdirSync('/etc').sort();
      assertOneLineError(await run(ch, ['run', '--rm', '-v', `${shared}:/trap/sub`, trapRef, 'true'], { env }), /passes through a symlink/);
      assert.deepEqual(readdirSync('/etc').sort(), hostEtc, 'nothing was created in the host\'s /etc');
      assertOneLineError(await run(ch, ['run', '--rm', '-v', 'relative:dir', IMAGE, 'true'], { env }), /invalid volume|not found/);
    });

  });
}
