/** Chapter 01 · chroot: the command sees the rootfs as "/", exit codes come back, bad input
 *  is one line — and a root process escapes a bare chroot. What still holds in later chapters
 *  is tested there too, on each chapter's own command line. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { assertOneLineError, engineFor, ROOTFS, run } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

for (const ch of chaptersFrom('01')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const env = engine.env;

    test('ls / inside lists the rootfs, not the host', async () => {
      const r = await engine.runContainer([], ROOTFS, ['ls', '-1a', '/']);
      assert.equal(r.code, 0, r.stderr);
      const inside = r.stdout.split('\n').filter((n) => n && n !== '.' && n !== '..').sort();
      assert.deepEqual(inside, readdirSync(ROOTFS).sort());
      assert.notDeepEqual(inside, readdirSync('/').sort());
    });

    test('stdin and stdout are passed through', async () => {
      const r = await engine.runContainer([], ROOTFS, ['tr', 'a-z', 'A-Z'], { input: 'hello\n' });
      assert.equal(r.stdout, 'HELLO\n', r.stderr);
    });

    test('exit codes pass through: 0 and 3', async () => {
      assert.equal((await engine.runContainer([], ROOTFS, ['true'])).code, 0);
      assert.equal((await engine.runContainer([], ROOTFS, ['sh', '-c', 'exit 3'])).code, 3);
    });

    test('options of the command are not taken for ours', async () => {
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', 'echo "$0 $1"', '--trace', '-x']);
      assert.equal(r.stdout, '--trace -x\n');
      assert.equal(r.stderr, '');
    });

    test('--trace prints the execve of the command, with its reason', async () => {
      const r = await engine.runContainer(['--trace'], ROOTFS, ['true']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /execve\("\/bin\/true".* = .*#/);
    });

    test('bad input: one line on stderr and a non-zero exit', async () => {
      const notFound = await engine.runContainer([], ROOTFS, ['no-such-command']);
      assertOneLineError(notFound, /command not found in the rootfs: no-such-command/);
      assert.equal(notFound.code, 127);
      assertOneLineError(await run(ch, ['frobnicate'], { env }), /unknown verb "frobnicate"/);
      assertOneLineError(await engine.runContainer(['--bogus'], ROOTFS, ['sh']), /Unknown option '--bogus'/);
    });
  });
}

// Chapter 01 only: from chapter 02 on, the container has a root it cannot leave (pivot_root in
// new namespaces), a hostname of its own, a first step that is unshare(2), not chroot(2), and
// its command is PID 1, which the kernel does not let kill itself.
for (const ch of chaptersFrom('01', '01')) {
  describe(`chapter ${ch}`, () => {
    test('a command that kills itself with SIGKILL gives 137', async () => {
      assert.equal((await run(ch, ['run', ROOTFS, 'sh', '-c', 'kill -KILL $$'])).code, 137);
    });

    test('--trace prints chroot, chdir and execve with their reasons', async () => {
      const r = await run(ch, ['run', '--trace', ROOTFS, 'true']);
      assert.equal(r.code, 0);
      assert.match(r.stderr, /chroot\(".*rootfs"\) = 0 .*#/);
      assert.match(r.stderr, /chdir\("\/"\) = 0/);
      assert.match(r.stderr, /execve\("\/bin\/true"/);
    });

    test('the chroot shares the host hostname: chroot hides files, not names', async () => {
      const r = await run(ch, ['run', ROOTFS, 'hostname']);
      assert.equal(r.stdout.trim(), hostname());
    });

    test('escape: root breaks out of a bare chroot and reaches the host root', async () => {
      const r = await run(ch, ['escape', ROOTFS]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /ESCAPED/);
      const listed = r.stdout.match(/ESCAPED.*\n\s+\/ lists (.*)/)?.[1]?.split(' ');
      assert.deepEqual(listed, readdirSync('/').sort());
      assert.ok(!readdirSync(ROOTFS).includes('.nutshell-escape'), 'the escape hatch is cleaned up');
    });

    test('not root: chroot fails with EPERM, named in one line', async () => {
      const r = await run(ch, ['run', ROOTFS, 'true'], { uid: 65534, gid: 65534 });
      assertOneLineError(r, /chroot\(".*"\): EPERM .*are you root\?/);
    });
  });
}

// Chapters 01 to 03 take a rootfs directory; 04 takes --layer options, 05 an image.
for (const ch of chaptersFrom('01', '03')) {
  test(`chapter ${ch}: a missing rootfs or command is one line and a non-zero exit`, async () => {
    const env = engineFor(ch).env;
    assertOneLineError(await run(ch, ['run', '/no/such/rootfs', 'sh'], { env }), /rootfs not found/);
    assertOneLineError(await run(ch, ['run', ROOTFS], { env }), /usage: run .*<rootfs> <command>/);
  });
}

// Every chapter's command line is a table of verbs: the usage text lists them all, and each
// takes --trace before the verb or after it.
for (const ch of chaptersFrom('01')) {
  test(`chapter ${ch}: help lists every verb, and every verb takes --trace before or after it`, async () => {
    const env = engineFor(ch).env;
    const help = await run(ch, ['help'], { env });
    assert.equal(help.code, 0, help.stderr);
    const verbs = [...help.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!);
    assert.ok(verbs.includes('run'), help.stdout);
    assertOneLineError(await run(ch, ['frobnicate'], { env }), new RegExp(`unknown verb "frobnicate" \\(try: ${verbs.join(', ')}, help\\)`));
    for (const verb of verbs) {
      // Without its arguments a verb refuses to run, but never because of --trace.
      // `daemon` would serve until stopped: give it an address it refuses, after --trace is read.
      const refused = verb === 'daemon' ? ['--host', 'tcp://127.0.0.1:1'] : [];
      for (const args of [['--trace', verb, ...refused], [verb, '--trace', ...refused]]) {
        const r = await run(ch, args, { env, timeout: 20_000 });
        assert.doesNotMatch(r.stderr, /Unknown option '--trace'|unknown verb/, `${args.join(' ')}: ${r.stderr}`);
      }
    }
  });
}
