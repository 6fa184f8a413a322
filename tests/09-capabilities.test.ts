/** Chapter 09 on · capabilities and no_new_privs, read where the kernel shows them: the CapEff,
 *  CapPrm, CapBnd, CapInh, CapAmb and NoNewPrivs lines of /proc/self/status in the container,
 *  and what its root can then do or not (mknod, sethostname, chown). docker's default set and
 *  the masks are written out here, apart from the chapter's code; capsh(1) checks the mask.
 *  Chapter 08, whose root keeps every capability the host's root has, shows the difference. */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOneLineError, copyOfRootfs, engineFor, programOf, ROOTFS, run, tempDir, type Engine } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { chapterCommand } from '../scripts/chapters.ts';
import { CAP_NET_RAW_EP, setXattr } from './helpers/xattrs.ts';

/** capabilities(7): the numbers of the capabilities these tests name. */
const NUMBER: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7,
  CAP_SETPCAP: 8, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_SYS_ADMIN: 21,
  CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
};
/** docker's default capabilities (docs.docker.com, "Runtime privilege and Linux capabilities"). */
const DOCKER_DEFAULT = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
const maskOf = (names: string[]) => names.reduce((mask, name) => mask | (1n << BigInt(NUMBER[name]!)), 0n);
const hex = (mask: bigint) => mask.toString(16).padStart(16, '0');
const DEFAULT_MASK = hex(maskOf(DOCKER_DEFAULT));
const NONE = hex(0n);

/** The test process's own sets: the engine's root starts with them. */
function hostStatus(): Record<string, string> {
  return parseStatus(readFileSync('/proc/self/status', 'utf8'));
}
/** "All capabilities": every one up to the kernel's last, as far as the host's root has them
 *  (a host may run us with a smaller bounding set; nothing can give more). */
const LAST_CAP = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
const ALL_MASK = hex(((1n << BigInt(LAST_CAP + 1)) - 1n) & BigInt(`0x${hostStatus().CapBnd}`));

function parseStatus(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\n').filter((line) => line.includes(':')).map((line) => line.split(/:\s*/, 2) as [string, string]));
}

/** The container's /proc/self/status, with `options` given to run. */
async function statusIn(engine: Engine, options: string[], layers: string = ROOTFS): Promise<Record<string, string>> {
  const r = await engine.runContainer(['--rm', ...options], layers, ['cat', '/proc/self/status']);
  assert.equal(r.code, 0, r.stderr);
  return parseStatus(r.stdout);
}

const caps = (s: Record<string, string>) => ({ CapInh: s.CapInh, CapPrm: s.CapPrm, CapEff: s.CapEff, CapBnd: s.CapBnd, CapAmb: s.CapAmb });
const root = (mask: string) => ({ CapInh: NONE, CapPrm: mask, CapEff: mask, CapBnd: mask, CapAmb: NONE });

/** What root in the container may do: make a device node, change the hostname, give a file away. */
const TRY = ['sh', '-c', 'mknod /tmp/null c 1 3 && echo mknod; hostname x 2>/dev/null && echo hostname; touch /tmp/f && chown 1:1 /tmp/f 2>/dev/null && echo chown; true'];
async function allowed(engine: Engine, options: string[]): Promise<string[]> {
  const r = await engine.runContainer(['--rm', ...options], ROOTFS, TRY);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean);
}

for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    test('the container\'s root has every capability the host\'s root has: nothing limits it yet', async () => {
      assert.equal((await statusIn(engine, [])).CapEff, hostStatus().CapEff);
      assert.deepEqual(await allowed(engine, []), ['mknod', 'hostname', 'chown']);
    });
  });
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    test('root gets docker\'s default 14 capabilities: effective, permitted and bounding; none inheritable or ambient', async () => {
      assert.equal(DEFAULT_MASK, '00000000a80425fb', 'the mask docker containers show');
      const decoded = execFileSync('capsh', [`--decode=${DEFAULT_MASK}`], { encoding: 'utf8' }).trim().split('=')[1]!.split(',');
      assert.deepEqual(decoded.map((name) => name.toUpperCase()).sort(), [...DOCKER_DEFAULT].sort(), 'capsh reads the mask as the same 14');
      const status = await statusIn(engine, []);
      assert.deepEqual(caps(status), root(DEFAULT_MASK));
      assert.equal(status.NoNewPrivs, '0', 'docker\'s default: no_new_privs off');
    });

    test('a non-root user keeps no capability; the bounding set is still the container\'s', async () => {
      assert.deepEqual(caps(await statusIn(engine, ['-u', '1000'])), { CapInh: NONE, CapPrm: NONE, CapEff: NONE, CapBnd: DEFAULT_MASK, CapAmb: NONE });
      assert.deepEqual(caps(await statusIn(engine, ['-u', '1000:1000', '--cap-add', 'SYS_ADMIN'])).CapEff, NONE);
    });

    test('--cap-drop ALL leaves nothing; with --cap-add, only what is added (docker: drop ALL, then add)', async () => {
      assert.deepEqual(caps(await statusIn(engine, ['--cap-drop', 'ALL'])), root(NONE));
      assert.deepEqual(caps(await statusIn(engine, ['--cap-drop', 'all', '--cap-add', 'chown', '--cap-add', 'CAP_KILL'])), root(hex(maskOf(['CAP_CHOWN', 'CAP_KILL']))));
    });

    test('--cap-add SYS_ADMIN adds bit 21, --cap-drop takes one away; names with or without CAP_, in any case', async () => {
      const status = await statusIn(engine, ['--cap-add', 'sys_admin', '--cap-drop', 'CAP_MKNOD']);
      assert.deepEqual(caps(status), root(hex((maskOf(DOCKER_DEFAULT) | (1n << 21n)) & ~(1n << 27n))));
    });

    test('inheritable and ambient capabilities the engine was started with do not reach the container', async () => {
      // At execve, root's program gets P(inheritable) | P(bounding), and any user's program gets
      // P(ambient): leftovers would add to the container's set. capsh(1) starts the engine with
      // CAP_SYS_ADMIN inheritable and ambient (which then pass through execve into the engine).
      const statusWith = async (options: string[]) => {
        const args = ['run', '--rm', ...options, ...(await engine.rootfsArgs(ROOTFS)), 'cat', '/proc/self/status'];
        const script = 'grep -q "^CapAmb:.*200000$" /proc/self/status && exec "$0" "$@"';
        const capsh = ['--inh=cap_sys_admin', '--addamb=cap_sys_admin', '--', '-c', script, ...chapterCommand(programOf(ch)), ...args];
        return caps(parseStatus((await promisify(execFile)('capsh', capsh, { env: engine.env })).stdout));
      };
      assert.deepEqual(await statusWith([]), root(DEFAULT_MASK));
      assert.deepEqual(await statusWith(['-u', '1000']), { CapInh: NONE, CapPrm: NONE, CapEff: NONE, CapBnd: DEFAULT_MASK, CapAmb: NONE });
    });

    test('--cap-add ALL and --privileged: every capability up to /proc/sys/kernel/cap_last_cap', async () => {
      assert.deepEqual(caps(await statusIn(engine, ['--cap-add', 'ALL'])), root(ALL_MASK));
      assert.deepEqual(caps(await statusIn(engine, ['--privileged'])), root(ALL_MASK));
      assert.deepEqual(caps(await statusIn(engine, ['--cap-add', 'ALL', '--cap-drop', 'SYS_ADMIN'])), root(hex(BigInt(`0x${ALL_MASK}`) & ~(1n << 21n))));
    });

    test('--security-opt no-new-privileges sets NoNewPrivs: 1, and root keeps its capabilities', async () => {
      const status = await statusIn(engine, ['--security-opt', 'no-new-privileges']);
      assert.equal(status.NoNewPrivs, '1');
      assert.deepEqual(caps(status), root(DEFAULT_MASK), 'under no_new_privs, execve may give root no more than the thread held');
      assert.equal((await statusIn(engine, ['--security-opt', 'no-new-privileges=true', '-u', '1000'])).NoNewPrivs, '1');
      assert.equal((await statusIn(engine, ['--security-opt', 'no-new-privileges:true'])).NoNewPrivs, '1', 'docker\'s older KEY:VALUE');
      assert.equal((await statusIn(engine, ['--security-opt', 'no-new-privileges=false'])).NoNewPrivs, '0');
    });

    test('no_new_privs for real: a file capability works for a non-root user, but not under no_new_privs nor beyond the bounding set', async () => {
      // A busybox with the file capability cap_net_raw+ep: who runs it has CAP_NET_RAW, as ping once did.
      const rootfs = copyOfRootfs();
      mkdirSync(join(rootfs, 'opt'), { recursive: true });
      copyFileSync(join(rootfs, 'bin/busybox'), join(rootfs, 'opt/busybox'));
      chmodSync(join(rootfs, 'opt/busybox'), 0o755);
      setXattr(join(rootfs, 'opt/busybox'), 'security.capability', CAP_NET_RAW_EP);
      const runIt = (options: string[]) => engine.runContainer(['--rm', '-u', '1000', ...options], rootfs, ['/opt/busybox', 'grep', 'CapEff', '/proc/self/status']);
      const effective = async (options: string[]) => {
        const r = await runIt(options);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim().split(/\s+/)[1];
      };
      assert.equal(await effective([]), hex(1n << 13n), 'the file gave CAP_NET_RAW to uid 1000');
      assert.equal(await effective(['--security-opt', 'no-new-privileges']), NONE, 'no_new_privs: execve gives no more than the thread held, and it held nothing');
      // What the bounding set lacks, no file can give. The file's effective bit says "this program
      // counts on its capabilities", so the kernel refuses to start it without them.
      const beyond = await runIt(['--cap-drop', 'NET_RAW']);
      assert.notEqual(beyond.code, 0);
      assert.match(beyond.stderr, /execve\("\/opt\/busybox".*EPERM/);
    });

    test('the capabilities at work: mknod yes, sethostname no (no CAP_SYS_ADMIN), chown no after --cap-drop CHOWN', async () => {
      assert.deepEqual(await allowed(engine, []), ['mknod', 'chown']);
      assert.deepEqual(await allowed(engine, ['--cap-drop', 'CHOWN', '--cap-drop', 'MKNOD']), []);
      assert.deepEqual(await allowed(engine, ['--cap-add', 'SYS_ADMIN']), ['mknod', 'hostname', 'chown']);
    });

    test('exec into a running container gets the same capabilities and no_new_privs as its PID 1', async () => {
      const name = `caps-${process.pid}`;
      const started = await engine.runContainer(['-d', '--name', name, '--cap-drop', 'CHOWN', '--cap-add', 'SYS_ADMIN', '--security-opt', 'no-new-privileges'], ROOTFS, ['sleep', '60']);
      assert.equal(started.code, 0, started.stderr);
      try {
        const r = await run(ch, ['exec', name, 'cat', '/proc/self/status', '/proc/1/status'], { env: engine.env });
        assert.equal(r.code, 0, r.stderr);
        const [mine, pid1] = r.stdout.split(/(?=^Name:)/m).map(parseStatus);
        const expected = hex((maskOf(DOCKER_DEFAULT) | (1n << 21n)) & ~1n);
        assert.deepEqual(caps(pid1!), root(expected), 'PID 1');
        assert.deepEqual(caps(mine!), caps(pid1!), 'the exec\'d process');
        assert.equal(mine!.NoNewPrivs, '1');
      } finally {
        await run(ch, ['rm', '-f', name], { env: engine.env });
      }
    });

    test('a bad capability name or --security-opt: one line, exit code 125, nothing runs', async () => {
      for (const options of [['--cap-add', 'SYS_NOSUCH'], ['--cap-drop', 'CAP_'], ['--security-opt', 'no-new-privileges=maybe'], ['--security-opt', 'apparmor=unconfined'], ['--security-opt', `seccomp=${join(tempDir(), 'missing.json')}`]]) {
        const r = await engine.runContainer(options, ROOTFS, ['echo', 'ran']);
        assert.equal(r.code, 125, `${options.join(' ')}: ${r.stderr}`);
        assertOneLineError(r, /invalid --cap-add "SYS_NOSUCH"|invalid --cap-drop "CAP_"|invalid --security-opt|seccomp profile not found/);
        assert.equal(r.stdout, '');
      }
      const badJson = join(tempDir(), 'bad.json');
      writeFileSync(badJson, '{ "defaultAction": ');
      assertOneLineError(await engine.runContainer(['--security-opt', `seccomp=${badJson}`], ROOTFS, ['true']), /seccomp/i);
    });
  });
}
