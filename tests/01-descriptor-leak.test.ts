/** Descriptors leaking into the container: whatever starts the engine may leave descriptors
 *  open without close-on-exec, and every one of them would reach the container's command —
 *  one on a host directory is a way out (/proc/self/fd/N/..). The command must start with 0, 1
 *  and 2 only: in `run`, and from chapter 06 in `run -d` and `exec` too.
 *
 *  The leaked descriptor here is fd 20, with a gap below it: Node marks fds 0 to 15 close-on-exec
 *  as it starts (and goes on past 15 only up to the first closed one), so a lower one would be
 *  caught by Node itself, in the engine, before our fix has anything to do. */
import assert from 'node:assert/strict';
import type { StdioOptions } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { engineFor, ROOTFS, run, tempDir } from './helpers/chapter.ts';
import { chaptersFrom, isFrom } from './helpers/ladder.ts';

const LEAKED_FD = 20;
const SECRET = 'a file of the host, out of the container\'s reach\n';

// A host directory, open as the engine's fd 20, without close-on-exec (spawn's stdio makes it so).
const hostDir = tempDir('nutshell-host-dir-');
writeFileSync(join(hostDir, 'secret'), SECRET);
const hostDirFd = openSync(hostDir, 'r');
after(() => closeSync(hostDirFd));
const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', ...Array<'ignore'>(LEAKED_FD - 3).fill('ignore'), hostDirFd];

/** Read the host's file through the leaked descriptor, then list the descriptors the command
 *  has: `exec ls` lists its own, and those are the shell's (ls adds fd 3, its listing of the dir). */
const PROBE = ['sh', '-c', `cat /proc/self/fd/${LEAKED_FD}/secret; exec ls /proc/self/fd`];
const ONLY_STDIO = ['0', '1', '2', '3'];

for (const ch of chaptersFrom('01', '01')) {
  // A chroot has no /proc: ask the shell to duplicate fd 20 instead, which only works if it is open.
  test(`chapter ${ch}: descriptors leaking into the container: a descriptor the engine inherited is closed in the command`, async () => {
    const engine = engineFor(ch);
    const r = await engine.runContainer([], ROOTFS, ['sh', '-c', `: <&${LEAKED_FD} && echo "fd ${LEAKED_FD} is open"`], { stdio });
    assert.equal(r.stdout, '', `the command inherited the host directory: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`${LEAKED_FD}: Bad file descriptor`));
  });
}

for (const ch of chaptersFrom('02')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('descriptors leaking into the container: run starts the command with 0, 1 and 2 only', async () => {
      const r = await engine.runContainer([], ROOTFS, PROBE, { stdio });
      assert.ok(!r.stdout.includes(SECRET), 'the container read a host file through the leaked descriptor');
      assert.deepEqual(r.stdout.trim().split('\n'), ONLY_STDIO, r.stderr);
    });

    if (!isFrom(ch, '06')) return;
    test('descriptors leaking into the container: so do run -d and exec', async () => {
      const image = (await engine.rootfsArgs(ROOTFS))[0]!;
      const detached = ['sh', '-c', `cat /proc/self/fd/${LEAKED_FD}/secret; ls /proc/self/fd; echo listed; exec sleep 60`];
      const started = await run(ch, ['run', '-d', '--name', 'leaky', image, ...detached], { env, stdio });
      assert.equal(started.code, 0, started.stderr);
      try {
        let logs = '';
        for (let i = 0; i < 100 && !logs.includes('listed'); i++, await sleep(50)) logs = (await run(ch, ['logs', 'leaky'], { env })).stdout;
        const exec = await run(ch, ['exec', 'leaky', ...PROBE], { env, stdio });
        assert.equal(exec.code, 0, exec.stderr);
        const seen = {
          'run -d': { secretRead: logs.includes(SECRET), fds: logs.split('\n').filter((line) => /^\d+$/.test(line)) },
          exec: { secretRead: exec.stdout.includes(SECRET), fds: exec.stdout.trim().split('\n').filter((line) => /^\d+$/.test(line)) },
        };
        const expected = { secretRead: false, fds: ONLY_STDIO };
        assert.deepEqual(seen, { 'run -d': expected, exec: expected }, `logs: ${logs}`);
      } finally {
        await run(ch, ['rm', '-f', 'leaky'], { env });
      }
    });
  });
}
