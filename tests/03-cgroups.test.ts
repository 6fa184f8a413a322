/** Chapter 03 · cgroups, through the command line: a memory hog is OOM-killed at its limit, a
 *  fork bomb is contained, a busy loop gets half a CPU, `stats` and `exec` see the cgroup,
 *  bad limits create nothing, and no cgroup is left behind (nor one that a
 *  container made inside its own). Tested on every later chapter too, on the cgroup version
 *  the host mounts (each suite's name says which): v1 on this project's machines, v2 in the
 *  guest of tests/helpers/guest.ts. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CGROUP_V2, engineCgroups, engineCgroupsHolding, engineHierarchies } from './helpers/cgroups.ts';
import { assertOneLineError, engineFor, ROOTFS, run } from './helpers/chapter.ts';
import { chaptersFrom, isFrom } from './helpers/ladder.ts';

const cgroupsBefore = engineCgroups();
after(() => {
  const created = engineCgroups().filter((dir) => !cgroupsBefore.includes(dir));
  assert.deepEqual(created, [], 'no cgroup made by these tests is left under the engine\'s sub-tree');
});

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

for (const ch of chaptersFrom('03')) {
  describe(`chapter ${ch}, on cgroup v${CGROUP_V2 ? 2 : 1}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('a memory hog under --memory 32m is killed by the OOM killer: exit 137 and a clear message', async () => {
      // 100 MB of "a" held in a shell variable: far past the limit.
      const r = await engine.runContainer(['--memory', '32m'], ROOTFS, ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived']);
      assert.equal(r.code, 137, r.stderr);
      assert.doesNotMatch(r.stdout, /survived/);
      assert.match(r.stderr, /killed: out of memory \(limit 32 MiB\)/);
      const fine = await engine.runContainer(['--memory', '32m'], ROOTFS, ['sh', '-c', 'x=$(head -c 1000000 /dev/zero | tr "\\0" a); echo survived']);
      assert.equal(fine.stdout.trim(), 'survived', 'a small allocation under the same limit is fine');
    });

    test('--stats reports the peak memory and the limit', async () => {
      const r = await engine.runContainer(['--stats', '--memory', '64m'], ROOTFS, ['sh', '-c', 'x=$(head -c 4000000 /dev/zero | tr "\\0" a)']);
      assert.equal(r.code, 0, r.stderr);
      const peak = r.stderr.match(/peak memory ([\d.]+) MiB \(limit 64 MiB\)/);
      assert.ok(peak && Number(peak[1]) >= 4 && Number(peak[1]) <= 64, r.stderr);
    });

    test('a fork bomb under --pids-limit 20 is contained and the engine returns', async () => {
      const r = await engine.runContainer(['--pids-limit', '20'], ROOTFS, ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 2'], { timeout: 30_000 });
      assert.match(r.stderr, /can't fork|Resource temporarily unavailable/, 'forks fail inside');
      assert.notEqual(r.signal, 'SIGKILL', 'the engine returned by itself');
      await sleep(300);
      const leftovers = readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && cmdline(pid).includes('bomb'));
      assert.deepEqual(leftovers, [], 'no process of the bomb is left on the host');
    });

    /** CPU seconds the named container has used, from `stats`. */
    async function cpuSeconds(name: string): Promise<number> {
      const r = await run(ch, ['stats', name], { env });
      assert.equal(r.code, 0, r.stderr);
      return Number(r.stdout.split('\n')[1]!.split('\t')[1]!.replace(' s', ''));
    }

    test('a busy loop under --cpus 0.5 uses about half a CPU; stats and exec see the cgroup', async () => {
      const box = await engine.startContainer(['--name', 'busy', '--cpus', '0.5', '--stop-timeout', '0'], ROOTFS, ['sh', '-c', 'echo started; while :; do :; done']);
      await new Promise((resolve) => box.stdout!.once('data', resolve));
      try {
        let cores = 0;
        for (let attempt = 0; attempt < 3 && cores < 0.45; attempt++) {
          // Under load from other work, a sample can come out low; too high is never retried.
          // Each `stats` reads the counter at the end of its run, after Node's start-up (seconds
          // in the emulated guest): the window runs from the end of one to the end of the next.
          const c0 = await cpuSeconds('busy');
          const t0 = process.hrtime.bigint();
          await sleep(2000);
          const c1 = await cpuSeconds('busy');
          cores = (c1 - c0) / (Number(process.hrtime.bigint() - t0) / 1e9);
        }
        // The limit is the upper bound; the lower one only says the loop really ran (a 2-core machine
        // that also runs the engine and its `stats` may give it a little less than its quota).
        assert.ok(cores >= 0.35 && cores <= 0.6, `used ${cores.toFixed(2)} cores`);
        const inside = await run(ch, ['exec', 'busy', 'cat', '/proc/self/cgroup'], { env });
        // v1: a line per hierarchy ("4:cpu,cpuacct:/"); v2: the one tree ("0::/").
        assert.match(inside.stdout, CGROUP_V2 ? /^0::\/$/m : /:cpu(,cpuacct)?:\/$/m, 'exec ran in the container\'s cgroup (and cgroup namespace)');
      } finally {
        box.kill('SIGTERM');
        await new Promise((resolve) => box.once('exit', resolve));
      }
    });

    test('inside, /proc/self/cgroup shows the container\'s cgroup as "/"', async () => {
      const r = await engine.runContainer(['--memory', '64m'], ROOTFS, ['cat', '/proc/self/cgroup']);
      assert.match(r.stdout, CGROUP_V2 ? /^0::\/\n$/ : /:memory:\/$/m, r.stderr);
      assert.doesNotMatch(r.stdout, /nutshell/);
    });

    test('cgroups a container makes inside its own: removed with it, and its exit code kept', async () => {
      // Root in the container mounts cgroupfs (its cgroup namespace shows its own cgroup as the
      // root) and makes cgroups there: they land inside the container's cgroups on the host.
      const child = `made-inside-${process.pid}-${ch}`;
      const mounts = CGROUP_V2
        ? `mkdir /tmp/unified && mount -t cgroup2 none /tmp/unified && mkdir -p /tmp/unified/${child}/grandchild`
        : engineHierarchies(ch)
            .map((h) => `mkdir /tmp/${h} && mount -t cgroup -o ${h} none /tmp/${h} && mkdir -p /tmp/${h}/${child}/grandchild`)
            .join(' && ');
      const script = `mount -t tmpfs none /tmp && ${mounts} && echo ready && read go && exit 3`;
      // From chapter 09 on, mount(2) takes CAP_SYS_ADMIN, which a container gets only if asked.
      const allowMount = isFrom(ch, '09') ? ['--cap-add', 'SYS_ADMIN'] : [];
      const box = await engine.startContainer(['--name', 'nester', ...allowMount], ROOTFS, ['sh', '-c', script]);
      let stderr = '';
      box.stderr!.on('data', (d: Buffer) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => box.once('close', (code) => resolve(code)));
      try {
        const ready = await new Promise<boolean>((resolve) => {
          box.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(true));
          void exited.then(() => resolve(false));
        });
        assert.ok(ready, `the container made its cgroups: ${stderr}`);
        const ours = [...new Set(engineCgroupsHolding(child).map((dir) => realpathSync(dir)))]; // cpu may be a link to cpu,cpuacct
        assert.equal(ours.length, CGROUP_V2 ? 1 : engineHierarchies(ch).length, `the container's cgroups, with ${child} inside: ${ours.join(' ')}`);
        box.stdin!.end('go\n');
        assert.equal(await exited, 3, stderr);
        assert.equal(stderr, '', 'the engine reports nothing odd');
        assert.deepEqual(ours.filter((dir) => existsSync(dir)), [], 'no cgroup of the container is left, nor any it made');
      } finally {
        box.stdin!.end(); // a failed check must not leave the container waiting for its line
        await exited;
      }
      if (isFrom(ch, '06')) {
        const ps = await run(ch, ['ps', '-a'], { env });
        assert.match(ps.stdout.split('\n').find((line) => line.endsWith('nester')) ?? '', /Exited \(3\)/, ps.stdout);
        assert.equal((await run(ch, ['rm', 'nester'], { env })).code, 0);
      }
    });

    test('bad limits: one line, non-zero exit, nothing created', async () => {
      await engine.rootfsArgs(ROOTFS); // whatever the chapter makes of a rootfs, made before
      const before = { cgroups: engineCgroups(), containers: engine.containerRecords() };
      for (const [args, pattern] of [
        [['--memory', 'abc'], /memory/i],
        [['--memory', '-1'], /memory/i],
        [['--cpus', '0'], /cpus/i],
        [['--pids-limit', 'x'], /pids/i],
      ] as const) {
        assertOneLineError(await engine.runContainer(['--name', 'bad', ...args], ROOTFS, ['true']), pattern);
      }
      // (new ones only: another engine on this host may remove its own meanwhile)
      assert.deepEqual(engineCgroups().filter((dir) => !before.cgroups.includes(dir)), [], 'no cgroup was created');
      assert.deepEqual(engine.containerRecords(), before.containers, 'no container was created');
      assertOneLineError(await run(ch, ['stats', 'no-such-box'], { env }), /no (running )?container named "no-such-box"/);
    });
  });
}
