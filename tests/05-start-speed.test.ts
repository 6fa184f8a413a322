/** Chapter 05 on · what makes `run --rm` start and end quickly, checked for what it is, never
 *  timed: a container whose upper dir is thrown away mounts its overlay `volatile` (no sync of
 *  the host's filesystem when the overlay is unmounted), one whose upper dir is kept does not
 *  (a volatile upper dir can never be mounted again), and nothing is left behind. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineFor, ROOTFS, run } from './helpers/chapter.ts';
import { chaptersFrom, isFrom } from './helpers/ladder.ts';

/** The options of the overlay mounted at "/", from a mount table as the container sees it:
 *  "id parent dev root mountpoint options [tags] - fstype source superoptions" (man 5 proc). */
function rootOverlayOptions(mountinfo: string): string[] {
  const line = mountinfo.split('\n').find((l) => l.split(' ')[4] === '/');
  assert.ok(line, `no mount at / in:\n${mountinfo}`);
  const [, after] = line.split(' - ');
  const [fstype, , superOptions] = after!.split(' ');
  assert.equal(fstype, 'overlay', `the container's / is an overlay: ${line}`);
  return superOptions!.split(',');
}

/** `volatile`, or as kernels since 6.x show it, `fsync=volatile`. */
const isVolatile = (options: string[]) => options.includes('volatile') || options.includes('fsync=volatile');

const SHOW_MOUNTS = ['cat', '/proc/self/mountinfo'];

for (const ch of chaptersFrom('05')) {
  describe(`chapter ${ch}`, () => {
    // No bridge: the tests here need no network, and a bridge would touch the network of whoever
    // runs this file directly, outside npm test's namespace.
    const noNetwork = isFrom(ch, '10') ? ['--network', 'none'] : [];

    test('run --rm mounts its overlay volatile, and leaves no container, mount or record behind', async () => {
      const engine = engineFor(ch);
      const r = await engine.runContainer(['--rm', ...noNetwork], ROOTFS, SHOW_MOUNTS);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(isVolatile(rootOverlayOptions(r.stdout)), `volatile in the options of /:\n${r.stdout}`);
      assert.deepEqual(engine.containerRecords(), [], 'run --rm removed its container');
      assert.deepEqual(engine.hostMounts(), [], 'no mount of the container is left on the host');
      assert.deepEqual(engine.containerProcesses(), []);
    });

    test('a named container without --rm keeps its upper dir, mounted without volatile', async () => {
      const engine = engineFor(ch);
      const r = await engine.runContainer(['--name', 'kept', ...noNetwork], ROOTFS, ['sh', '-c', 'echo kept > /kept; cat /proc/self/mountinfo']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!isVolatile(rootOverlayOptions(r.stdout)), `no volatile in the options of /:\n${r.stdout}`);
      if (isFrom(ch, '06')) {
        // From chapter 06 a container stays until rm: its upper dir holds what it wrote.
        const diff = await run(ch, ['diff', 'kept'], { env: engine.env });
        assert.match(diff.stdout, /^A \/kept$/m, diff.stderr);
        assert.equal((await run(ch, ['rm', 'kept'], { env: engine.env })).code, 0);
      } else {
        // Chapter 05 runs a named container again on the same upper dir: the kernel refuses to
        // mount one that was ever mounted volatile, so this run shows it never was.
        const again = await engine.runContainer(['--name', 'kept', '--rm'], ROOTFS, ['cat', '/kept']);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.stdout, 'kept\n');
      }
      assert.deepEqual(engine.containerRecords(), []);
      assert.deepEqual(engine.hostMounts(), []);
    });

    if (!isFrom(ch, '06')) {
      test('an unnamed container (its writes go with it) mounts volatile too', async () => {
        const engine = engineFor(ch);
        const r = await engine.runContainer([], ROOTFS, SHOW_MOUNTS);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(isVolatile(rootOverlayOptions(r.stdout)), r.stdout);
        assert.deepEqual(engine.containerRecords(), []);
      });
    }
  });
}
