/** Exercise 04-2: with metacopy=on, a chmod copies up only a lower file's metadata. Upper then
 *  holds a sparse file of the right size with no data in it, and commit, which reads upper
 *  alone, writes zeros into the layer. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

export default defineExercise({
  title: 'Metacopy',
  async check(copy) {
    const layer = copy.scratch('nutshell-exercise-layer-');
    const data = randomBytes(100_000);
    writeFileSync(join(layer, 'data.bin'), data);
    const r = await copy.run(['run', '--name', 'meta', '--layer', ROOTFS, '--layer', layer, 'chmod', '600', '/data.bin'], { timeout: 30_000 });
    if (r.code !== 0) notYet(`run … chmod 600 /data.bin exited with ${r.code}: ${r.stderr.trim()}`);
    const inUpper = join(copy.root, 'containers', 'meta', 'upper', 'data.bin');
    const { size, blocks } = statSync(inUpper);
    if (size !== data.length) notYet(`the copy in upper has ${size} bytes, expected ${data.length}`);
    const out = join(copy.scratch(), 'meta.tar');
    const commit = await copy.run(['commit', 'meta', out], { timeout: 30_000 });
    if (commit.code !== 0) notYet(`commit exited with ${commit.code}: ${commit.stderr.trim()}`);
    // The reference tar reads the layer back: what another machine would unpack.
    const committed = execFileSync('tar', ['-xOf', out, 'data.bin'], { maxBuffer: 1 << 20 });
    if (committed.equals(data) && readFileSync(inUpper).equals(data)) {
      notYet(`the chmod copied all ${size} bytes up (${blocks * 512} on disk) and commit wrote them: overlay still copies data up (metacopy is off; is it on in the options, with redirect_dir=on?)`);
    }
    const zeros = committed.every((byte) => byte === 0);
    return `upper holds data.bin as ${size} bytes but ${blocks * 512} on disk; commit put ${zeros ? 'only zeros' : 'other bytes'} in the layer instead of its data: metacopy copied up the metadata alone`;
  },
});
