/** The workshop's tooling: `npm run registry` and `npm run reset`, driven through npm the way
 *  a teacher types them, each against its own temporary records, roots and state dirs. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { engineFor, ROOTFS, start, tempDir } from './helpers/chapter.ts';

/** This file's own record of registries: nothing it starts is mixed with a teacher's. */
const registries = tempDir('nutshell-registries-');
const env = { ...process.env, NUTSHELL_REGISTRIES: registries };
// Whatever a failing test left running goes when the file ends.
after(() => npm(['registry', '--', 'stop', '--all']));

/** `npm run -s <script> -- args`, to its end. */
function npm(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const result = spawnSync('npm', ['run', '-s', ...args], { cwd: PROJECT_ROOT, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

interface Listed {
  host: string;
  pid: number;
  dir: string;
}

/** What `npm run registry -- list` says, parsed. */
function listed(): Listed[] {
  const result = npm(['registry', '--', 'list']);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split('\n').filter(Boolean).map((line) => {
    const match = line.match(/^(127\.0\.0\.1:\d+)\s+running \(pid (\d+)\).*storage (\S+)$/);
    assert.ok(match, `a line of list: ${line}`);
    return { host: match[1]!, pid: Number(match[2]), dir: match[3]! };
  });
}

const status = (url: string, init?: RequestInit) => fetch(url, init).then((r) => r.status);
/** A process that runs: one that exited but was not reaped yet (a zombie, "Z") is gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

test('npm run registry, twice: two registries on two ports, each answering /v2/, until stopped', async () => {
  const first = npm(['registry']);
  const second = npm(['registry']);
  for (const started of [first, second]) {
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /^127\.0\.0\.1:\d+\n$/, 'the address alone on stdout');
    const host = started.stdout.trim();
    assert.equal(started.stderr.trim().split('\n').length, 1, started.stderr);
    assert.ok(started.stderr.includes(`npm run -s registry -- stop ${host}`), started.stderr);
    // It outlived the npm that started it.
    assert.equal(await status(`http://${host}/v2/`), 200);
  }
  const hosts = [first.stdout.trim(), second.stdout.trim()];
  assert.notEqual(hosts[0], hosts[1]);
  const running = listed();
  assert.deepEqual(running.map((r) => r.host).sort(), [...hosts].sort());

  const stopped = npm(['registry', '--', 'stop', hosts[0]!]);
  assert.equal(stopped.code, 0, stopped.stderr);
  const gone = running.find((r) => r.host === hosts[0])!;
  assert.ok(!alive(gone.pid), 'the registry process is gone');
  assert.ok(!existsSync(gone.dir), 'its storage is removed');
  assert.equal(await status(`http://${hosts[0]}/v2/`).catch(() => 0), 0, 'nothing answers on its port');
  assert.deepEqual(listed().map((r) => r.host), [hosts[1]]);
  assert.equal(await status(`http://${hosts[1]}/v2/`), 200, 'the other one still runs');

  assert.equal(npm(['registry', '--', 'stop', '--all']).code, 0);
  const other = running.find((r) => r.host === hosts[1])!;
  assert.ok(!alive(other.pid) && !existsSync(other.dir));
  assert.deepEqual(listed(), []);
});

test('npm run registry -- --auth user:pass refuses requests without the credentials', async () => {
  const started = npm(['registry', '--', '--auth', 'alice:s3cret']);
  assert.equal(started.code, 0, started.stderr);
  const host = started.stdout.trim();
  const basic = (user: string, password: string) => ({ headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
  assert.equal(await status(`http://${host}/v2/`), 401);
  assert.equal(await status(`http://${host}/v2/`, basic('alice', 'wrong')), 401);
  assert.equal(await status(`http://${host}/v2/`, basic('alice', 's3cret')), 200);
  assert.equal(npm(['registry', '--', 'stop', host]).code, 0);
  assert.deepEqual(listed(), []);
});

test('npm run registry: bad input gives one line and a non-zero exit', () => {
  for (const args of [['--auth', 'nopassword'], ['stop'], ['stop', 'example.com:5000'], ['stop', '127.0.0.1:1'], ['frobnicate'], ['--port', '5000']]) {
    const result = npm(['registry', '--', ...args]);
    assert.notEqual(result.code, 0, args.join(' '));
    assert.equal(result.stdout, '', args.join(' '));
    assert.match(result.stderr, /^nutshell: [^\n]+\n$/, args.join(' '));
  }
  assert.deepEqual(listed(), [], 'nothing was started');
});

/** The processes whose command line is exactly `args`. */
function processesRunning(args: string[]): number[] {
  return readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && alive(Number(pid))).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === args.map((a) => `${a}\0`).join('');
    } catch {
      return false;
    }
  }).map(Number);
}

/** The engine's cgroups a process is in: `<hierarchy>/nutshell/<id>` directories. */
function engineCgroupsOf(pid: number): string[] {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!);
  return lines.map((line) => line.split(':')[2]!).filter((path) => path.startsWith('/nutshell/')).flatMap((path) => mounts.map((m) => join(m, path))).filter(existsSync);
}

test('npm run reset stops the containers of its roots (run -d, a chapter-03 run), their registries and lesson files, and says so', async () => {
  // Roots, state dir, records of registries and the lessons' temporary directory: all this
  // test's own. TMPDIR is where reset looks for nutshell-doc-*.
  const engine = engineFor('06');
  const tmp = tempDir('nutshell-tmp-');
  const resetEnv = { NUTSHELL_ROOT: engine.root, NUTSHELL_STATE_DIR: engine.stateDir, TMPDIR: tmp };
  const docDir = join(tmp, 'nutshell-doc-06');
  mkdirSync(docDir);
  writeFileSync(join(docDir, 'note'), 'a lesson wrote this\n');

  // Each container runs a sleep of its own length, to be found by its command line.
  const detachedSleep = ['sleep', String(randomInt(1_000_000, 2_000_000))];
  const foregroundSleep = ['sleep', String(randomInt(2_000_000, 3_000_000))];
  const detached = await engine.runContainer(['-d', '--name', 'web'], ROOTFS, detachedSleep);
  assert.equal(detached.code, 0, detached.stderr);
  const id = detached.stdout.trim();
  const chapter03 = start('03', ['run', ROOTFS, ...foregroundSleep], { env: engine.env, stdio: 'ignore' });
  const engineExited = new Promise((resolve) => chapter03.once('exit', resolve));
  let containers: number[] = [];
  for (let waited = 0; containers.length < 2 && waited < 30_000; waited += 100) {
    await sleep(100);
    containers = [...processesRunning(detachedSleep), ...processesRunning(foregroundSleep)];
  }
  assert.equal(containers.length, 2, 'both containers run');
  const cgroups = containers.flatMap(engineCgroupsOf);
  assert.ok(cgroups.length >= 2, `each container has its cgroup: ${cgroups.join(' ')}`);
  const registry = npm(['registry']).stdout.trim();
  const registryRecord = listed()[0]!;

  const reset = npm(['reset'], resetEnv);
  assert.equal(reset.code, 0, reset.stderr);
  const said = reset.stdout;
  assert.match(said, new RegExp(`^stopped container ${id} \\(web\\) \\(pid \\d+: ${detachedSleep.join(' ')}\\)$`, 'm'));
  assert.match(said, new RegExp(`^stopped container [0-9a-f]{12} \\(pid \\d+: ${foregroundSleep.join(' ')}\\)$`, 'm'));
  assert.match(said, new RegExp(`^removed container ${id} \\(web\\)`, 'm'));
  assert.match(said, /^removed the image store in .* \(1 image, 1 layer\)$/m);
  assert.match(said, new RegExp(`^stopped registry ${registry}$`, 'm'));
  assert.match(said, new RegExp(`^removed ${docDir}$`, 'm'));

  // Nothing is left: no container process, cgroup, mount, record, store, registry or file.
  assert.deepEqual(containers.filter(alive), []);
  await engineExited;
  assert.deepEqual(cgroups.filter(existsSync), []);
  assert.deepEqual(engine.hostMounts(), []);
  assert.deepEqual(engine.containerProcesses(), []);
  for (const dir of [engine.root, engine.stateDir]) assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], dir);
  assert.ok(!alive(registryRecord.pid) && !existsSync(registryRecord.dir), 'the registry is stopped and its storage gone');
  assert.deepEqual(listed(), []);
  assert.ok(!existsSync(docDir));

  // A second reset finds nothing of ours. (Another engine on this machine may have left an
  // empty cgroup, which any reset removes; that is the only other thing it may say.)
  const again = npm(['reset'], resetEnv);
  assert.equal(again.code, 0, again.stderr);
  const lines = again.stdout.trim().split('\n').filter((line) => !/^removed cgroup nutshell\/\S+ \(empty, left by an engine that was killed\)$/.test(line));
  assert.ok(lines.length === 0 || (lines.length === 1 && lines[0] === 'nothing to remove'), again.stdout);
});

test('npm run reset: bad input gives one line and a non-zero exit', () => {
  const result = npm(['reset', '--', '--frobnicate']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^nutshell: [^\n]+\n$/);
});
