/** Exercise 03-3: --memory-swap as docker has it: memory and swap together. cgroup v1 takes that
 *  total as it is (memory.memsw.limit_in_bytes), cgroup v2 counts swap alone (memory.swap.max =
 *  total − memory). The check reads what the kernel holds in the container's memory cgroup. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDirOf, startNamedContainer } from '../containers.ts';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

const MiB = 1024 * 1024;

export default defineExercise({
  title: 'Add --memory-swap',
  async check(copy) {
    const box = await startNamedContainer(copy, 'box', ['--memory', '32m', '--memory-swap', '64m', ROOTFS, 'sleep', '60']);
    const dir = cgroupDirOf(box.pid, 'memory');
    const read = (file: string) => Number(readFileSync(join(dir, file), 'utf8').trim());
    let seen: string;
    if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) {
      const memsw = read('memory.memsw.limit_in_bytes');
      if (memsw !== 64 * MiB) notYet(`--memory 32m --memory-swap 64m: memory.memsw.limit_in_bytes holds ${memsw}, not ${64 * MiB} (64 MiB: v1 counts memory and swap together)`);
      seen = `memory.limit_in_bytes ${read('memory.limit_in_bytes')} and memory.memsw.limit_in_bytes ${memsw}`;
    } else if (existsSync(join(dir, 'memory.swap.max'))) {
      const swap = read('memory.swap.max');
      if (swap !== 32 * MiB) notYet(`--memory 32m --memory-swap 64m: memory.swap.max holds ${swap}, not ${32 * MiB} (32 MiB: v2 counts swap alone)`);
      seen = `memory.max ${read('memory.max')} and memory.swap.max ${swap}`;
    } else {
      throw new Error(`${dir} has neither memory.memsw.limit_in_bytes nor memory.swap.max: this kernel does no swap accounting, so the check cannot see a swap limit`);
    }
    await box.stop();

    const below = await copy.run(['run', '--memory', '32m', '--memory-swap', '16m', ROOTFS, 'echo', 'ran'], { timeout: 30_000 });
    if (below.stdout.includes('ran') || below.code === 0) notYet(`--memory 32m --memory-swap 16m ran the command (exit ${below.code}): memory and swap together cannot be less than the memory alone`);
    return `--memory 32m --memory-swap 64m gave ${seen}; --memory-swap 16m was refused: "${below.stderr.trim()}"`;
  },
});
