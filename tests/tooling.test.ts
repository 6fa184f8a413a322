/** The workshop's tooling: `npm run registry` and `npm run reset`, driven through npm the way
 *  a teacher types them, each against its own temporary records, roots and state dirs. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { tempDir } from './helpers/chapter.ts';

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
