/** Chapter 09 · devices, and the other cgroup hierarchies. Root in a container can mknod(2) a
 *  node for any device of the host and open it: on chapter 08 it reads a host block device (a loop
 *  device the test sets up, with a known first sector). From chapter 09 the cgroup's device rules
 *  refuse that (EPERM) while the container's own /dev still works. On this hybrid host both ways
 *  run: the v1 devices controller, and the v2 eBPF program on the container's cgroup2 directory.
 *  Each is also tested alone, on cgroups of the test's own, and --privileged's "every device".
 *  On a cgroup2-only host (the guest of tests/helpers/guest.ts runs this file there)
 *  the eBPF program is the only way, and the suites' names say "cgroup v2".
 *  The container gets a cgroup in every hierarchy, v1 and unified, so it is nowhere at a root
 *  (where root could mount the hierarchy and write the host's release_agent), and all of them
 *  are removed when it ends. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Cgroup, CgroupDriver, Limits } from '../chapters/09-security/cgroups.ts';
import { buildRootfs } from '../scripts/build-rootfs.ts';
import { engineFor, ROOTFS, tempDir } from './helpers/chapter.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';

type DevicesModule = typeof import('../chapters/09-security/devices.ts');
type CgroupsModule = { detectCgroups(mountRoot?: string, subtree?: string): CgroupDriver };

const CGROUP_ROOT = '/sys/fs/cgroup';
buildRootfs(ROOTFS);

/** A device number split as the kernel does (major: bits 8-19 and 32-43; minor: 0-7 and 20-31). */
function devNumbers(dev: number): { major: number; minor: number } {
  const bits = BigInt(dev);
  return { major: Number(((bits >> 8n) & 0xfffn) | ((bits >> 32n) & ~0xfffn)), minor: Number((bits & 0xffn) | ((bits >> 12n) & ~0xffn)) };
}

/** The cgroup filesystems mounted in /sys/fs/cgroup, from the mount table: mount point and type. */
function cgroupMounts(): { path: string; type: string }[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => ({ fields: line.split(' - ')[0]!.split(' '), type: (line.split(' - ')[1] ?? '').split(' ')[0]! }))
    .filter(({ fields, type }) => (type === 'cgroup' || type === 'cgroup2') && fields[3] === '/' && (fields[4] === CGROUP_ROOT || fields[4]?.startsWith(`${CGROUP_ROOT}/`)))
    .map(({ fields, type }) => ({ path: fields[4]!, type }));
}
/** This host's cgroup2 hierarchy, where the eBPF program is tested: beside the v1 ones on a
 *  hybrid host (this project's machines), or /sys/fs/cgroup itself on a cgroup2-only one. */
const UNIFIED = cgroupMounts().find((m) => m.type === 'cgroup2')?.path ?? assert.fail(`no cgroup2 hierarchy mounted in ${CGROUP_ROOT}: these tests need a hybrid or a cgroup2 host`);
const V2_ONLY = UNIFIED === CGROUP_ROOT;
const HOSTS = V2_ONLY ? 'cgroup v2' : 'cgroup v1 and v2 (hybrid)';

/** A host block device with a known first sector: a loop device on a file of ours, detached when
 *  the tests end. What a container reads through it is a host disk's contents. */
function hostBlockDevice(): { path: string; major: number; minor: number; secret: string } {
  const secret = `host disk sector ${randomUUID()}`;
  const file = join(tempDir(), 'disk.img');
  writeFileSync(file, Buffer.concat([Buffer.from(secret.padEnd(512, '.')), Buffer.alloc(1024 * 1024)]));
  const path = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
  after(() => execFileSync('losetup', ['--detach', path]));
  return { path, ...devNumbers(statSync(path).rdev), secret };
}

/** The block device that holds the host's "/" (from the mount table: "254:0"). The guest's "/"
 *  is the host's, over 9p (major 0, no disk at all): there the test's loop device stands in. */
function hostRootDisk(): { major: number; minor: number; what: string } {
  const root = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.split(' ')[4] === '/').at(-1); // the top one
  const [major, minor] = root!.split(' ')[2]!.split(':').map(Number);
  if (major === 0 && root!.split(' - ')[1]?.startsWith('9p ')) return { major: disk.major, minor: disk.minor, what: `${disk.path} ("/" is 9p here)` };
  assert.ok(major! > 0 && existsSync(`/sys/dev/block/${major}:${minor}`), `the host's "/" is on a block device (${major}:${minor})`);
  return { major: major!, minor: minor!, what: `${major}:${minor}` };
}

/** Run `script` in a host shell that is first moved into the cgroups whose cgroup.procs files
 *  are given: it waits for a line on stdin until it is in them. Returns what it printed. */
async function runIn(procsFiles: string[], script: string): Promise<string> {
  const shell = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  shell.stdout.on('data', (d: Buffer) => (output += d));
  shell.stderr.on('data', (d: Buffer) => (output += d));
  const exited = new Promise((resolve) => shell.once('close', resolve));
  try {
    for (const file of procsFiles) writeFileSync(file, String(shell.pid));
  } finally {
    shell.stdin.end('go\n');
  }
  await exited;
  return output;
}

const disk = hostBlockDevice();
/** What a container runs to reach the host disk: make a node for it, then read its first sector. */
const READ_HOST_DISK = `mknod /tmp/disk b ${disk.major} ${disk.minor} && echo made && dd if=/tmp/disk bs=512 count=1 2>&1`;
/** The same on the host, for a shell moved into a cgroup: dd straight from the loop device. */
const READ_DISK_ON_HOST = `dd if=${disk.path} bs=512 count=1 status=none 2>&1; echo x > /dev/null && echo null-ok`;

for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    test('the escape: a node made for a host block device reads the host disk', async () => {
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', READ_HOST_DISK]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^made\n/);
      assert.ok(r.stdout.includes(disk.secret), `the first sector of ${disk.path}, read from inside: ${r.stdout}`);
    });
  });
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}, on ${HOSTS}`, async () => {
    const engine = engineFor(ch);
    const devices = await chapterModule<DevicesModule>(ch, 'devices.ts');
    const { detectCgroups } = await chapterModule<CgroupsModule>(ch, 'cgroups.ts');

    test('a node made for a host block device: mknod works, opening it is refused (EPERM)', async () => {
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', READ_HOST_DISK]);
      assert.match(r.stdout, /^made\n/, `mknod(2) itself stays allowed: ${r.stderr}`);
      assert.match(r.stdout, /can't open '\/tmp\/disk': Operation not permitted/);
      assert.ok(!r.stdout.includes(disk.secret), 'nothing of the host disk came through');
      assert.notEqual(r.code, 0);
    });

    test('the host\'s root disk: mknod works, reading it is refused (EPERM)', async () => {
      const { major, minor, what } = hostRootDisk();
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', `mknod /tmp/sda b ${major} ${minor} && echo made && dd if=/tmp/sda bs=512 count=1 2>&1 >/dev/null`]);
      assert.match(r.stdout, /^made\ndd: can't open '\/tmp\/sda': Operation not permitted/, `${what}: ${r.stderr}`);
    });

    test('the container\'s own devices still work: null, zero, full, random, urandom, ptmx, tty', async () => {
      const script = [
        'echo x > /dev/null && echo null',
        'head -c 4 /dev/zero | wc -c',
        'head -c 4 /dev/urandom | wc -c',
        'head -c 4 /dev/random | wc -c',
        'echo x 2>&1 > /dev/full', // ENOSPC from the device: it was opened
        'exec 3<>/dev/ptmx && echo ptmx',
        'cat /dev/tty 2>&1', // ENXIO: no controlling terminal, but the open got past the rules
      ].join('; ');
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', script]);
      assert.doesNotMatch(r.stdout + r.stderr, /not permitted/);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 4), ['null', '4', '4', '4'], r.stderr);
      assert.match(lines[4]!, /No space left on device/);
      assert.equal(lines[5], 'ptmx');
      assert.match(lines[6]!, /No such device or address/);
    });

    test('the container has a cgroup in every hierarchy the host mounts, each with its devices rules; all go when it ends', async () => {
      const box = await engine.startContainer([], ROOTFS, ['sh', '-c', 'echo up; read x']);
      const exited = new Promise((resolve) => box.once('close', resolve));
      let dirs: string[] = [];
      try {
        const started = await Promise.race([new Promise((resolve) => box.stdout!.once('data', () => resolve(true))), exited.then(() => false)]);
        assert.ok(started, 'the container started');
        const [pid] = engine.containerProcesses();
        // "9:name=systemd:/nutshell/<id>": one line per hierarchy, v1 ones and "0::" for cgroup2.
        const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((line) => line.split(':'));
        // v2 alone: one line, "0::/nutshell/<id>"; otherwise the memory hierarchy's, whose limits we set.
        const id = lines.find(([, controllers]) => controllers === (V2_ONLY ? '' : 'memory'))![2]!.split('/').pop()!;
        assert.match(id, /^[0-9a-f]{12}$/);
        assert.equal(lines.length, readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').length, 'a line for every hierarchy the host has');
        for (const [, controllers, path] of lines) assert.equal(path, `/nutshell/${id}`, `the container's cgroup in "${controllers || 'cgroup2'}", never a root`);
        for (const name of ['devices', 'cpuset', 'blkio', 'name=systemd']) {
          if (existsSync(join(CGROUP_ROOT, name.replace('name=', '')))) assert.ok(lines.some(([, c]) => c!.split(',').includes(name)), `${name} is among them`);
        }
        dirs = cgroupMounts().map((m) => join(m.path, 'nutshell', id));
        assert.deepEqual(dirs.filter((dir) => !existsSync(dir)), [], 'a directory in each mounted hierarchy');

        const allowed = V2_ONLY ? [] : readFileSync(join(CGROUP_ROOT, 'devices', 'nutshell', id, 'devices.list'), 'utf8').trim().split('\n');
        if (!V2_ONLY) assert.deepEqual(allowed.sort(), ['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm', 'c 136:* rwm'].sort());
        assert.equal(devices.attachedDevicePrograms(join(UNIFIED, 'nutshell', id)).length, 1, 'one eBPF device program on its cgroup2 directory');
      } finally {
        box.stdin!.end('\n');
        await exited;
      }
      assert.deepEqual(dirs.filter((dir) => existsSync(dir)), [], 'none of its cgroups is left');
    });

    test('--trace shows each devices.allow line and the eBPF program, instruction by instruction', async () => {
      const r = await engine.runContainer(['--trace', '--rm'], ROOTFS, ['true']);
      assert.equal(r.code, 0, r.stderr);
      if (V2_ONLY) assert.doesNotMatch(r.stderr, /devices\.(deny|allow)/, 'no devices controller on cgroup v2: the program alone');
      else {
        assert.match(r.stderr, /write \/sys\/fs\/cgroup\/devices\/nutshell\/\w+\/devices\.deny = a {2}# deny every device/);
        assert.match(r.stderr, /devices\.allow = c 1:3 rwm {2}# \/dev\/null/);
        assert.match(r.stderr, /devices\.allow = b \*:\* m {2}# mknod\(2\) of any block device/);
      }
      assert.match(r.stderr, /eBPF device program, \d+ instructions:/);
      assert.match(r.stderr, / {4}0: r2 = \*\(u32 \*\)\(r1 \+0\) {2}# access_type/);
      assert.match(r.stderr, /\d+: if r5 != 3 goto pc\+2 <\d+> {2}# c 1:3 rwm: minor 3\?/);
      assert.match(r.stderr, /bpf\(BPF_PROG_LOAD, \{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=\d+, license="Apache"/);
      assert.match(r.stderr, /bpf\(BPF_PROG_ATTACH, \{target_fd=\d+ \(.*\/nutshell\/\w+\), attach_bpf_fd=\d+, attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI\}\) = 0/);
    });

    test('the program is built as runc builds it, and encoded 8 bytes an instruction', () => {
      const program = devices.deviceProgram([devices.parseDeviceRule('c 1:3 rwm', '/dev/null'), devices.parseDeviceRule('b *:* m', 'mknod')]);
      assert.deepEqual(program.map((i) => i.text), [
        'r2 = *(u32 *)(r1 +0)',
        'w2 &= 0xffff',
        'r3 = *(u32 *)(r1 +0)',
        'w3 >>= 16',
        'r4 = *(u32 *)(r1 +4)',
        'r5 = *(u32 *)(r1 +8)',
        'if r2 != 2 goto pc+4 <11>',
        'if r4 != 1 goto pc+3 <11>',
        'if r5 != 3 goto pc+2 <11>',
        'w0 = 1',
        'exit',
        'if r2 != 1 goto pc+5 <17>',
        'w1 = w3',
        'w1 &= 1',
        'if r1 != r3 goto pc+2 <17>',
        'w0 = 1',
        'exit',
        'w0 = 0',
        'exit',
      ]);
      const bytes = devices.encodeProgram(program);
      assert.equal(bytes.length, 19 * 8);
      assert.equal(bytes.subarray(0, 8).toString('hex'), '6112000000000000', 'r2 = *(u32 *)(r1 +0): code 0x61, src r1 in the high nibble, dst r2 in the low');
      assert.equal(bytes.subarray(6 * 8, 7 * 8).toString('hex'), '5502040002000000', 'if r2 != 2 goto pc+4');
      assert.equal(bytes.subarray(14 * 8, 15 * 8).toString('hex'), '5d31020000000000', 'if r1 != r3 goto pc+2');
    });

    describe('each way alone, on cgroups of the test\'s own', () => {
      const SUBTREE = `nutshell-test-${process.pid}-${ch}`;
      const driver = detectCgroups(CGROUP_ROOT, SUBTREE);
      const made: Cgroup[] = [];
      const create = (id: string, limits: Limits) => {
        const cgroup = driver.create(id, limits);
        made.push(cgroup);
        return cgroup;
      };
      after(() => {
        for (const cgroup of made) cgroup.remove();
        for (const mount of cgroupMounts()) if (existsSync(join(mount.path, SUBTREE))) rmdirSync(join(mount.path, SUBTREE));
      });

      test('the eBPF program alone, on a cgroup2 directory: the host disk is refused, /dev/null is not; without it both work', async () => {
        const dir = join(UNIFIED, `${SUBTREE}-bpf`);
        mkdirSync(dir);
        try {
          assert.match(await runIn([join(dir, 'cgroup.procs')], READ_DISK_ON_HOST), new RegExp(`^${disk.secret}`), 'no program yet: the disk reads');
          devices.attachDeviceProgram(dir, devices.deviceRulesFor(false));
          assert.equal(devices.attachedDevicePrograms(dir).length, 1);
          const output = await runIn([join(dir, 'cgroup.procs')], READ_DISK_ON_HOST);
          assert.match(output, new RegExp(`failed to open '${disk.path}': Operation not permitted\nnull-ok`));
          assert.ok(!output.includes(disk.secret));
        } finally {
          rmdirSync(dir); // the program goes with the cgroup
        }
      });

      if (V2_ONLY) test('the v2 driver attaches the program to the cgroup it creates: the host disk is refused, /dev/null is not', async () => {
        const cgroup = create('v2-devices', { devices: devices.deviceRulesFor(false) });
        assert.deepEqual(cgroup.paths, [join(CGROUP_ROOT, SUBTREE, 'v2-devices')]);
        assert.equal(devices.attachedDevicePrograms(cgroup.paths[0]!).length, 1);
        const output = await runIn([join(cgroup.paths[0]!, 'cgroup.procs')], READ_DISK_ON_HOST);
        assert.match(output, new RegExp(`failed to open '${disk.path}': Operation not permitted\nnull-ok`));
      });
      else test('the v1 devices controller alone: the host disk is refused, /dev/null is not', async () => {
        const cgroup = create('v1-devices', { devices: devices.deviceRulesFor(false) });
        const devicesDir = cgroup.paths.find((p) => p.startsWith(join(CGROUP_ROOT, 'devices') + '/'))!;
        assert.ok(devicesDir, `a devices cgroup among ${cgroup.paths.join(' ')}`);
        const output = await runIn([join(devicesDir, 'cgroup.procs')], READ_DISK_ON_HOST); // in no cgroup2 one of ours
        assert.match(output, new RegExp(`failed to open '${disk.path}': Operation not permitted\nnull-ok`));
      });

      test(`--privileged's rules: ${V2_ONLY ? '' : 'every device in the v1 list, and '}no program`, async () => {
        const cgroup = create('privileged', { devices: devices.deviceRulesFor(true) });
        if (!V2_ONLY) assert.equal(readFileSync(join(CGROUP_ROOT, 'devices', SUBTREE, 'privileged', 'devices.list'), 'utf8').trim(), 'a *:* rwm');
        assert.deepEqual(devices.attachedDevicePrograms(join(UNIFIED, SUBTREE, 'privileged')), []);
        const output = await runIn(cgroup.paths.map((p) => join(p, 'cgroup.procs')), READ_DISK_ON_HOST);
        assert.match(output, new RegExp(`^${disk.secret}`));
      });
    });
  });
}
