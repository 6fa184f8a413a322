/** Chapter 09 · the escapes of escapes.ts, each one for real. Against chapter 08, by hand as the
 *  lesson shows it (`08 run … sh -c "$(escape <demo> --print)"`), each reaches the host: a secret
 *  of the host printed, a file written in a host directory, a limit raised as the host reads it.
 *  Against chapter 09, through its `escape` verb and through the same `run`, each is stopped,
 *  says which step failed and why, and the host shows no proof. Nothing is left behind either
 *  way: no container process, mount, cgroup, release agent, loop device or key. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { listChapters } from '../scripts/chapters.ts';
import { engineCgroups } from './helpers/cgroups.ts';
import { engineFor, ROOTFS, run, tempDir, type Engine, type Result } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

/** The chapter whose `escape --print` gives the scripts run against chapter 08: the last one. */
const PRINTER = listChapters().at(-1)!.slice(0, 2);

/** The v1 hierarchies of the host and their release agents (none on cgroup v2). */
function releaseAgents(): Record<string, string> {
  const root = '/sys/fs/cgroup';
  return Object.fromEntries(
    readdirSync(root)
      .filter((name) => existsSync(join(root, name, 'release_agent')))
      .map((name) => [name, readFileSync(join(root, name, 'release_agent'), 'utf8')]),
  );
}

/** Cgroups a release-agent demo made at a hierarchy's root and did not remove. */
function strayEscapeCgroups(): string[] {
  const root = '/sys/fs/cgroup';
  return readdirSync(root).flatMap((name) => {
    try {
      return readdirSync(join(root, name)).filter((entry) => entry.startsWith('nutshell-escape-')).map((entry) => join(root, name, entry));
    } catch {
      return [];
    }
  });
}

/** A directory of the host with a secret in it, that a container is never shown. */
function hostSide(parent = tmpdir()): { dir: string; secret: string } {
  const dir = mkdtempSync(join(parent, 'nutshell-escape-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = `host-only ${randomUUID()}`;
  writeFileSync(join(dir, 'secret'), `${secret}\n`, { mode: 0o600 });
  return { dir, secret };
}

/** A disk of the host's, for the disk demo: the host's root disk cannot be used (on some machines
 *  not even the host may open it, and a test must not touch it), so a loop device holds an ext4
 *  filesystem that the host mounts, as it would a second disk. Call it in a describe(): it is
 *  gone after the last test there. */
function hostDisk(): { mountPoint: string; device: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nutshell-disk-'));
  const image = join(dir, 'disk.img');
  const mountPoint = join(dir, 'mnt');
  writeFileSync(image, '');
  execFileSync('truncate', ['-s', '16M', image]);
  execFileSync('mkfs.ext4', ['-q', image]);
  const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  mkdirSync(mountPoint);
  execFileSync('mount', [loop, mountPoint]);
  after(() => {
    execFileSync('umount', [mountPoint]);
    execFileSync('losetup', ['-d', loop]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { mountPoint, device: readFileSync(`/sys/block/${basename(loop)}/dev`, 'utf8').trim() };
}

/** A key in the host's kernel whose description only the host knows: a process of the host adds
 *  it to a session keyring of its own (add_key(2), keyctl(2): busybox and glibc have no tool for
 *  them), and invalidates it when it is told to end. */
async function plantHostKey(): Promise<{ description: string; remove(): Promise<void> }> {
  const description = `nutshell-escape-${randomUUID()}`;
  const code = `
    const koffi = require('koffi');
    const syscall = koffi.load('libc.so.6').func('long syscall(long number, ...)');
    const NR = { x64: { add_key: 248, keyctl: 250 }, arm64: { add_key: 217, keyctl: 219 } }[process.arch];
    syscall(NR.keyctl, 'int', 1, 'void *', null); // KEYCTL_JOIN_SESSION_KEYRING: a new one, ours alone
    const payload = Buffer.from('a secret');
    const id = syscall(NR.add_key, 'const char *', 'user', 'const char *', ${JSON.stringify(description)}, 'void *', payload, 'size_t', payload.length, 'int', -3);
    if (id < 0) process.exit(1);
    process.on('SIGTERM', () => { syscall(NR.keyctl, 'int', 21, 'int', Number(id)); process.exit(0); }); // KEYCTL_INVALIDATE
    console.log('planted');
    setInterval(() => {}, 1 << 30);`;
  const planter = spawn(process.execPath, ['-e', code], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const ended = new Promise((done) => planter.once('exit', done));
  await new Promise<void>((done, fail) => {
    planter.stdout.once('data', () => done());
    planter.once('exit', (status) => fail(new Error(`add_key failed (${status})`)));
  });
  after(() => planter.kill('SIGKILL'));
  return {
    description,
    async remove() {
      planter.kill('SIGTERM');
      await ended;
    },
  };
}

function keysOnHost(): string {
  return readFileSync('/proc/keys', 'utf8');
}

/** The limits of a running container's cgroup, read on the host. */
function hostLimits(cgroupId: string): { memory: string; pids: string } {
  const dirs = engineCgroups().filter((dir) => basename(dir) === cgroupId);
  const read = (...files: string[]) => {
    for (const dir of dirs) for (const file of files) if (existsSync(join(dir, file))) return readFileSync(join(dir, file), 'utf8').trim();
    throw new Error(`none of ${files.join(', ')} in ${dirs.join(', ')}`);
  };
  return { memory: read('memory.limit_in_bytes', 'memory.max'), pids: read('pids.max') };
}

/** A chapter's engine, its image of the sample rootfs, and the escapes driven through its CLI. */
function attacker(ch: string) {
  const engine = engineFor(ch);
  const disk = hostDisk();
  const { env } = engine;
  let image: Promise<string> | undefined;
  const imageName = async () => (await (image ??= engine.rootfsArgs(ROOTFS).then((args) => args[0]!)));

  /** The cgroup of every container these escapes ran, read from its record while it was kept:
   *  other engines on the same host make and leave cgroups of their own meanwhile. */
  const cgroupIds: string[] = [];
  const recordCgroup = async (name: string) => {
    const inspected = await run(ch, ['inspect', name], { env });
    const { state } = JSON.parse(inspected.stdout) as { state: { cgroupId?: string } };
    if (state.cgroupId) cgroupIds.push(state.cgroupId);
    return state.cgroupId;
  };

  async function script(demo: string): Promise<string> {
    const printed = await run(PRINTER, ['escape', demo, '--print']);
    assert.equal(printed.code, 0, printed.stderr);
    return printed.stdout;
  }

  /** `run [options] <image> sh -c "$(escape <demo> --print)"`: the lesson's command, with a name
   *  instead of --rm, so that its cgroup can be looked up afterwards; then `rm`. */
  async function runDemo(demo: string, options: string[]): Promise<Result> {
    const name = `escape-${randomUUID().slice(0, 8)}`;
    const result = await run(ch, ['run', '--name', name, ...options, await imageName(), 'sh', '-c', await script(demo)], { env });
    await recordCgroup(name);
    const removed = await run(ch, ['rm', name], { env });
    assert.equal(removed.code, 0, removed.stderr);
    return result;
  }

  /** The same, detached, under `name`; `whileRunning` acts from the host once the container has
   *  printed a line that matches `cue`. The container is removed at the end; its log returned. */
  async function runDetached(demo: string, options: string[], cue: RegExp, whileRunning: (name: string) => Promise<void>, hold = false): Promise<string> {
    const name = `escape-${randomUUID().slice(0, 8)}`;
    // limits: the cgroup goes with the container, so it waits after its verdict for the host to look
    const command = hold ? `(${await script(demo)}); sleep 120` : await script(demo);
    const started = await run(ch, ['run', '-d', '--name', name, ...options, await imageName(), 'sh', '-c', command], { env });
    assert.equal(started.code, 0, started.stderr);
    try {
      const logs = async () => (await run(ch, ['logs', name], { env })).stdout;
      const until = async (pattern: RegExp) => {
        for (let i = 0; i < 600 && !pattern.test(await logs()); i++) await sleep(100);
        return logs();
      };
      assert.match(await until(cue), cue);
      await recordCgroup(name);
      await whileRunning(name);
      return await until(/^(escaped|stopped): /m);
    } finally {
      assert.equal((await run(ch, ['rm', '-f', name], { env })).code, 0);
    }
  }

  /** `escape [options] <demo> <image>`, this chapter's verb. */
  async function escapeVerb(demo: string, options: string[]): Promise<Result> {
    return run(ch, ['escape', ...options, demo, await imageName()], { env });
  }

  return { engine, env, disk, cgroupIds, recordCgroup, runDemo, runDetached, escapeVerb };
}

/** What every escape test checks last: the engine left nothing behind, on the host either. */
function assertNothingLeft(engine: Engine, cgroupIds: string[], agentsBefore: Record<string, string>): void {
  assert.deepEqual(engine.containerProcesses(), [], 'no container process left');
  assert.deepEqual(engine.hostMounts(), [], 'no mount left on the host');
  assert.deepEqual(engine.containerRecords(), [], 'no container left');
  assert.deepEqual(engineCgroups().filter((dir) => cgroupIds.includes(basename(dir))), [], 'none of the containers\' cgroups left');
  assert.deepEqual(releaseAgents(), agentsBefore, 'every hierarchy\'s release agent as it was');
  assert.deepEqual(strayEscapeCgroups(), [], 'no cgroup of the demo left at a hierarchy\'s root');
}

/** The escapes, as the tests drive them: what `run` needs for each, and how each one is proven. */
interface Case {
  demo: string;
  /** What the host must see against chapter 08, and must not see against chapter 09. */
  escapedWhen: string;
  /** The line chapter 09 gives instead: the step that failed, and the kernel's answer. */
  stoppedBy: RegExp;
}

const CASES: Case[] = [
  { demo: 'disk', escapedWhen: 'the container prints a secret read from a host disk', stoppedBy: /^stopped: (make a node for|open) the host's disk: .*Operation not permitted/m },
  { demo: 'release-agent', escapedWhen: 'the host\'s kernel runs the container\'s program, which writes a file on the host', stoppedBy: /^stopped: no cgroup v1 hierarchy whose root we can reach: .*(permission denied|hides its root)/m },
  { demo: 'ro-volume', escapedWhen: 'the container writes into the host directory behind its :ro volume', stoppedBy: /^stopped: remount the volume read-write: mount: permission denied/m },
  { demo: 'sys-rw', escapedWhen: 'the container\'s /sys becomes read-write', stoppedBy: /^stopped: remount \/sys read-write: mount: permission denied/m },
  { demo: 'limits', escapedWhen: 'the host reads the raised limits in the container\'s cgroup', stoppedBy: /^stopped: (raise \S+|mount our (memory )?cgroup): .*(Read-only file system|permission denied)/m },
  { demo: 'kernel', escapedWhen: 'the container reads the host\'s keys, the kernel\'s addresses and its log', stoppedBy: /^stopped: \/proc\/keys shows nothing; \/proc\/kallsyms hides the addresses; .*Operation not permitted/m },
  { demo: 'exec', escapedWhen: 'the container writes a file on the host through exec\'s process', stoppedBy: /^stopped: (the entering process's root is out of reach: (.*Permission denied|refused while it came in)|no process came in with the host's root)/m },
];

/** Run one demo against `ch` by hand (the lesson's `run`), and tell what reached the host. */
async function attack(ch: string, demo: string, side: ReturnType<typeof attacker>): Promise<{ output: string; reached: string[] }> {
  const reached: string[] = [];
  switch (demo) {
    case 'disk': {
      const { mountPoint, device } = side.disk;
      const host = hostSide(mountPoint);
      const r = await side.runDemo('disk', ['-e', `DISK=${device}`, '-e', `SECRET=/${relative(mountPoint, host.dir)}/secret`]);
      if (r.stdout.includes(host.secret)) reached.push('printed the secret of the host disk');
      return { output: r.stdout + r.stderr, reached };
    }
    case 'release-agent': {
      const host = hostSide();
      const r = await side.runDemo('release-agent', ['-e', `ESCAPE_DIR=${host.dir}`]);
      // The kernel runs the agent from a work queue: give a late one the time to show.
      for (let i = 0; i < 20 && !existsSync(join(host.dir, 'proof')); i++) await sleep(100);
      if (existsSync(join(host.dir, 'proof'))) reached.push(`the host ran it: ${readFileSync(join(host.dir, 'proof'), 'utf8').trim()}`);
      return { output: r.stdout + r.stderr, reached };
    }
    case 'ro-volume': {
      const host = hostSide();
      const r = await side.runDemo('ro-volume', ['-v', `${host.dir}:/data:ro`]);
      const files = readdirSync(host.dir).filter((f) => f !== 'secret');
      if (files.length > 0) reached.push(`wrote ${files.join(', ')} in the host directory`);
      return { output: r.stdout + r.stderr, reached };
    }
    case 'sys-rw': {
      const r = await side.runDemo('sys-rw', []);
      if (/^after: +sysfs \/sys sysfs rw,/m.test(r.stdout)) reached.push('/sys read-write');
      return { output: r.stdout + r.stderr, reached };
    }
    case 'limits': {
      let seen: { memory: string; pids: string } | undefined;
      const output = await side.runDetached('limits', ['--memory', '64m', '--pids-limit', '50'], /^(escaped|stopped): /m, async () => {
        seen = hostLimits(side.cgroupIds.at(-1)!);
      }, true);
      assert.ok(seen, output);
      if (seen.memory !== String(64 * 1024 * 1024)) reached.push(`memory limit now ${seen.memory}`);
      if (seen.pids !== '50') reached.push(`pids limit now ${seen.pids}`);
      return { output, reached };
    }
    case 'kernel': {
      const key = await plantHostKey();
      try {
        const r = await side.runDemo('kernel', []);
        if (r.stdout.includes(key.description)) reached.push('the host\'s key');
        if (/^kallsyms: [0-9a-f]*[1-9a-f][0-9a-f]* T _stext$/m.test(r.stdout)) reached.push('the kernel\'s addresses');
        if (/^dmesg: [1-9]\d* lines/m.test(r.stdout)) reached.push('the kernel\'s log');
        return { output: r.stdout + r.stderr, reached };
      } finally {
        await key.remove();
        // An invalidated key leaves /proc/keys when the kernel's key collector has run: soon after.
        for (let i = 0; i < 50 && keysOnHost().includes(key.description); i++) await sleep(100);
        assert.ok(!keysOnHost().includes(key.description), 'the planted key is gone');
      }
    }
    case 'exec': {
      const host = hostSide();
      const output = await side.runDetached('exec', ['-e', `ESCAPE_DIR=${host.dir}`], /^watching \/proc/m, async (name) => {
        const entered = await run(ch, ['exec', name, 'touch', '/tmp/exec-done'], { env: side.env });
        assert.equal(entered.code, 0, entered.stderr);
      });
      if (existsSync(join(host.dir, 'proof'))) reached.push(`wrote ${join(host.dir, 'proof')}`);
      return { output, reached };
    }
  }
  throw new Error(`no test for the escape "${demo}"`);
}

// Chapter 08 only: these are the doors that chapter 09 closes.
for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}: the escapes of chapter 09's lesson work`, () => {
    const side = attacker(ch);
    for (const { demo, escapedWhen } of CASES) {
      test(`${demo}: ${escapedWhen}`, async () => {
        const agentsBefore = releaseAgents();
        const { output, reached } = await attack(ch, demo, side);
        assert.notDeepEqual(reached, [], `nothing reached the host:\n${output}`);
        assert.match(output, /^escaped: /m, output);
        if (demo === 'kernel') assert.equal(reached.length, 3, `all three secrets: ${reached.join(', ')}\n${output}`);
        assertNothingLeft(side.engine, side.cgroupIds, agentsBefore);
      });
    }
  });
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}: every escape is stopped`, () => {
    const side = attacker(ch);
    for (const { demo, stoppedBy } of CASES) {
      test(`${demo}: run by hand, it fails at the step the defence guards, and nothing reaches the host`, async () => {
        const agentsBefore = releaseAgents();
        const { output, reached } = await attack(ch, demo, side);
        assert.deepEqual(reached, [], output);
        assert.doesNotMatch(output, /^escaped: /m);
        assert.match(output, stoppedBy);
        assertNothingLeft(side.engine, side.cgroupIds, agentsBefore);
      });

      test(`${demo}: \`escape ${demo}\` says "stopped:" and why, exits 0, and cleans up its host directory`, async () => {
        const agentsBefore = releaseAgents();
        // Its host directory goes where we can see it: under the disk's mount for the disk demo.
        const parent = demo === 'disk' ? mkdtempSync(join(side.disk.mountPoint, 'verb-')) : tempDir('nutshell-escape-verb-');
        const r = await side.escapeVerb(demo, ['--host-dir', parent]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.doesNotMatch(r.stdout, /^escaped: /m);
        const verdict = r.stdout.trimEnd().split('\n').at(-1)!;
        assert.match(verdict, stoppedBy, r.stdout);
        assert.deepEqual(readdirSync(parent), [], 'the verb removed its host directory');
        assertNothingLeft(side.engine, side.cgroupIds, agentsBefore);
      });
    }

    test('escape --list names every demo and what stops it; --print gives a script; bad names are one line', async () => {
      const list = await run(ch, ['escape', '--list']);
      assert.equal(list.code, 0, list.stderr);
      for (const { demo } of CASES) assert.match(list.stdout, new RegExp(`^${demo} +\\S`, 'm'));
      assert.equal((list.stdout.match(/stopped by: /g) ?? []).length, CASES.length);
      const printed = await run(ch, ['escape', 'sys-rw', '--print']);
      assert.equal(printed.code, 0);
      assert.match(printed.stdout, /^# nutshell escape "sys-rw"/);
      assert.match(printed.stdout, /mount -o remount,rw \/sys/);
      const unknown = await run(ch, ['escape', 'teleport', 'img']);
      assert.equal(unknown.code, 125);
      assert.match(unknown.stderr, /^nutshell: unknown escape "teleport" \(try: disk, /);
      assert.equal(unknown.stderr.trimEnd().split('\n').length, 1);
    });
  });
}
