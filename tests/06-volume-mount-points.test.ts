/** Volume mount points: the engine makes the mount point of a -v volume inside the container's
 *  root, before pivot_root, while the host's tree is in sight too. A symlink on the way — one
 *  the image holds, or one that a container sharing a volume with this one swaps in while the
 *  engine walks the path — must never lead the engine to make or mount anything on the host. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, engineFor, ROOTFS, run, start, tempDir } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

/** The process of a child stage of the engine whose root is `root`, once it has started. */
async function childStageOf(root: string): Promise<number | undefined> {
  for (let i = 0; i < 2000; i++, await sleep(5)) {
    for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      try {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        if (environ.includes('NUTSHELL_STAGE=init') && environ.includes(`NUTSHELL_ROOT=${root}`)) return Number(pid);
      } catch {
        // gone, or not ours
      }
    }
  }
  return undefined;
}

for (const ch of chaptersFrom('06')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('volume mount points: a symlink on the way in the image is refused, and nothing is made on the host', async () => {
      const hostDir = tempDir('nutshell-host-target-');
      const volume = tempDir('nutshell-volume-');
      writeFileSync(join(volume, 'file'), 'a file volume\n');
      const trapLayer = tempDir('nutshell-trap-');
      symlinkSync(hostDir, join(trapLayer, 'trap'));
      const image = (await engine.rootfsArgs([ROOTFS, trapLayer]))[0]!;
      for (const spec of [`${volume}:/trap/sub`, `${volume}:/trap`, `${join(volume, 'file')}:/trap/file`]) {
        assertOneLineError(await run(ch, ['run', '--rm', '-v', spec, image, 'true'], { env }), /volume target \/trap.* passes through a symlink: refused/);
      }
      assert.deepEqual(readdirSync(hostDir), [], 'nothing was made in the host directory the symlink points to');
    });

    // The race, made deterministic: strace holds the child stage for half a second right after
    // its look at /data/sub (the old code's lstat(2) of the path, or openat2(2) of "sub" from
    // the directory of /data), and we swap /data/sub for a symlink to a host directory then, as
    // a container sharing the volume could do at any moment. (Without strace, a process that
    // swapped the two names with renameat2(RENAME_EXCHANGE) in a loop got the old code to make
    // a directory on the host in about one container start in ten, on this project's machine.)
    test('volume mount points: a directory swapped for a symlink while the engine walks the path leads nowhere on the host', async () => {
      const image = (await engine.rootfsArgs(ROOTFS))[0]!;
      const hostDir = tempDir('nutshell-host-target-');
      const shared = tempDir('nutshell-shared-');
      mkdirSync(join(shared, 'sub'));
      const other = tempDir('nutshell-other-');
      const box = start(ch, ['run', '--rm', '-v', `${shared}:/data`, '-v', `${other}:/data/sub/x`, image, 'true'], { env });
      const ended = new Promise<number | null>((resolve) => box.once('close', resolve));
      let boxStderr = '';
      box.stderr!.on('data', (d: Buffer) => (boxStderr += d));
      const pid = await childStageOf(engine.root);
      assert.ok(pid, 'the child stage was found');
      const [id] = readdirSync(join(engine.root, 'containers'));
      const rootfs = join(engine.root, 'containers', id!, 'merged');
      const strace = spawn('strace', ['-qq', '-p', String(pid), '-e', 'trace=statx,newfstatat,openat2', '-P', join(rootfs, 'data', 'sub'), '-P', 'sub',
        '-e', 'inject=statx,newfstatat,openat2:delay_exit=500000'], { stdio: ['ignore', 'ignore', 'pipe'] });
      // strace writes a call's arguments as it enters it, and the rest when it returns, then
      // holds the process: swap once a whole line, with its "(DELAYED)", has come.
      let seen = '';
      strace.stderr!.on('data', (d: Buffer) => {
        const done = seen.includes('(DELAYED)');
        seen += d;
        if (!done && seen.includes('(DELAYED)')) {
          renameSync(join(shared, 'sub'), join(shared, 'sub.dir'));
          symlinkSync(hostDir, join(shared, 'sub'));
        }
      });
      try {
        await ended;
      } finally {
        strace.kill();
      }
      assert.match(seen, /sub.*\(DELAYED\)/, `strace saw the engine look at /data/sub (stderr of the engine: ${boxStderr})`);
      assert.deepEqual(readdirSync(hostDir), [], 'the engine made the mount point on the host, through the symlink');
      assert.deepEqual(engine.hostMounts(), []);
    });
  });
}
