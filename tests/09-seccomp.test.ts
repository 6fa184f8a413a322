/** Chapter 09 on · seccomp: the classic BPF program that seccomp.ts writes, read three ways.
 *  1. As bytes, run by a small BPF interpreter of our own on made-up syscalls: the ABI check
 *     comes first, every jump fits, the default program refuses what docker's profile refuses
 *     (for x86_64 and aarch64 alike), argument tests compare 64-bit values.
 *  2. Loaded into a real process (tests/fixtures/seccomp-probe.ts, a process of its own, since a
 *     filter never comes off): mount, keyctl, unshare(CLONE_NEWUSER) fail with EPERM, ordinary
 *     calls work, /proc/self/status says "Seccomp: 2"; a docker JSON profile denying mkdir works.
 *  3. Through the command line (`run --security-opt seccomp=…`), once the security flags are
 *     wired into the engine; and the escapes the filter closes, which work in chapter 08. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertOneLineError, engineFor, ROOTFS, tempDir } from './helpers/chapter.ts';
import { chapterModule, chapterModuleUrl, chaptersFrom } from './helpers/ladder.ts';

type Seccomp = typeof import('../chapters/09-security/seccomp.ts');

const PROBE = fileURLToPath(new URL('./fixtures/seccomp-probe.ts', import.meta.url));

const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;
const AUDIT_ARCH_I386 = 0x40000003;
const ALLOW = 0x7fff0000;
const KILL_PROCESS = 0x80000000;
const errno = (n: number) => (0x00050000 | n) >>> 0;
const EPERM = errno(1);
const EACCES = errno(13);
const ENOSYS = errno(38);

/** Run a seccomp program, as the bytes the kernel gets, on one syscall. Only what seccomp.ts
 *  may use: ld [k], and #k, jeq/jgt/jge/jset #k, ret #k. */
function runFilter(bytes: Buffer, call: { nr: number; arch: number; args?: bigint[] }): number {
  const data = Buffer.alloc(64); // struct seccomp_data
  data.writeUInt32LE(call.nr >>> 0, 0);
  data.writeUInt32LE(call.arch, 4);
  (call.args ?? []).forEach((arg, i) => data.writeBigUInt64LE(BigInt.asUintN(64, arg), 16 + 8 * i));
  let a = 0;
  for (let pc = 0; ;) {
    if (pc * 8 >= bytes.length) throw new Error(`the program ran off its end at ${pc}`);
    const code = bytes.readUInt16LE(pc * 8);
    const jt = bytes.readUInt8(pc * 8 + 2);
    const jf = bytes.readUInt8(pc * 8 + 3);
    const k = bytes.readUInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case 0x20: // BPF_LD | BPF_W | BPF_ABS: the kernel accepts aligned words inside seccomp_data
        assert.ok(k % 4 === 0 && k < 64, `ld [${k}]`);
        a = data.readUInt32LE(k);
        break;
      case 0x54: a = (a & k) >>> 0; break; // BPF_ALU | BPF_AND | BPF_K
      case 0x15: pc += a === k ? jt : jf; break; // BPF_JMP | BPF_JEQ | BPF_K
      case 0x25: pc += a > k ? jt : jf; break; // BPF_JGT
      case 0x35: pc += a >= k ? jt : jf; break; // BPF_JGE
      case 0x45: pc += (a & k) !== 0 ? jt : jf; break; // BPF_JSET
      case 0x06: return k; // BPF_RET | BPF_K
      default: throw new Error(`opcode 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
}

/** What the default program answers to syscall `name` on `arch`, with these arguments. */
function answerer(seccomp: Seccomp, arch: 'x64' | 'arm64', options: { capabilities?: string[] } = {}) {
  const bytes = seccomp.encodeProgram(seccomp.programFor('default', { arch, ...options })!.program);
  return (name: string, ...args: bigint[]) => {
    const nr = seccomp.syscallNumber(name, arch);
    assert.equal(typeof nr, 'number', `${name} on ${arch}`);
    return runFilter(bytes, { nr: nr!, arch: AUDIT_ARCH[arch], args });
  };
}

/** Run the probe with a setting; returns what it printed. */
function probe(chapter: string, setting: unknown, probes: string[], opts: { asNobody?: boolean; trace?: boolean } = {}) {
  const args = ['--import', 'tsx', PROBE, chapterModuleUrl(chapter, 'seccomp.ts'), JSON.stringify(setting), ...(opts.asNobody ? ['--as-nobody'] : []), ...probes];
  const env = { ...process.env, NUTSHELL_TRACE: opts.trace ? '1' : '0' };
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(child.status, 0, child.stderr);
  return { results: JSON.parse(child.stdout) as Record<string, unknown>, stderr: child.stderr };
}

/** A profile file in a temporary directory. */
function profileFile(profile: unknown): string {
  const path = join(tempDir(), 'profile.json');
  writeFileSync(path, typeof profile === 'string' ? profile : JSON.stringify(profile));
  return path;
}

const DENY_MKDIR = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}`, () => {
    describe('the program', () => {
      test('the ABI check comes first: another arch is killed, and so is x32 on x86_64', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        for (const arch of ['x64', 'arm64'] as const) {
          const { program } = seccomp.programFor('default', { arch })!;
          assert.deepEqual(program.slice(0, 3).map(seccomp.disassemble), [
            'ld [4]', `jeq #0x${AUDIT_ARCH[arch].toString(16)}, 1, 0`, 'ret KILL_PROCESS',
          ]);
          const bytes = seccomp.encodeProgram(program);
          const getpid = seccomp.syscallNumber('getpid', arch)!;
          assert.equal(runFilter(bytes, { nr: getpid, arch: AUDIT_ARCH[arch] }), ALLOW);
          const other = arch === 'x64' ? AUDIT_ARCH.arm64 : AUDIT_ARCH.x64;
          assert.equal(runFilter(bytes, { nr: getpid, arch: other }), KILL_PROCESS, `another 64-bit ABI on ${arch}`);
          assert.equal(runFilter(bytes, { nr: getpid, arch: AUDIT_ARCH_I386 }), KILL_PROCESS, `i386 on ${arch}`);
        }
        const x64 = seccomp.encodeProgram(seccomp.programFor('default', { arch: 'x64' })!.program);
        assert.equal(runFilter(x64, { nr: 0x40000000 | 39, arch: AUDIT_ARCH.x64 }), KILL_PROCESS, 'x32 getpid');
        assert.notEqual(runFilter(x64, { nr: -1, arch: AUDIT_ARCH.x64 }), KILL_PROCESS, 'nr -1 is a tracer skipping a call, not x32');
      });

      test('the default refuses with EPERM what docker refuses a container with the default capabilities', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const refused = ['mount', 'umount2', 'pivot_root', 'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open',
          'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'swapoff',
          'open_by_handle_at', 'unshare', 'setns', 'acct', 'settimeofday', 'clock_settime', 'iopl', 'ioperm',
          'lookup_dcookie', 'move_pages', 'mbind', 'get_mempolicy', 'set_mempolicy', 'userfaultfd', 'quotactl',
          'nfsservctl', 'create_module', 'get_kernel_syms', 'query_module', 'uselib', '_sysctl', 'sysfs', 'ustat',
          'syslog', 'fanotify_init', 'sethostname', 'setdomainname', 'vhangup', 'kcmp', 'process_madvise',
          'io_uring_setup', 'open_tree', 'move_mount', 'fsopen', 'fsmount'];
        // docker allows these: ptrace and adjtimex (the kernel checks the capability itself),
        // chroot and mknod (CAP_SYS_CHROOT and CAP_MKNOD are in the default set), …
        const allowed = ['read', 'write', 'openat', 'close', 'execve', 'getpid', 'mmap', 'futex', 'ptrace', 'adjtimex',
          'name_to_handle_at', 'chroot', 'mknodat', 'setuid', 'capset', 'prctl', 'seccomp', 'pidfd_open', 'io_setup',
          'memfd_create', 'statx', 'process_vm_readv', 'mseal'];
        for (const arch of ['x64', 'arm64'] as const) {
          const answer = answerer(seccomp, arch);
          for (const name of refused) {
            if (seccomp.syscallNumber(name, arch) === null) continue; // not on this ABI
            assert.equal(answer(name), EPERM, `${name} on ${arch}`);
          }
          for (const name of allowed) assert.equal(answer(name), ALLOW, `${name} on ${arch}`);
          if (arch === 'x64') for (const name of ['arch_prctl', 'modify_ldt', 'open', 'mkdir', 'uretprobe']) assert.equal(answer(name), ALLOW, name);
          // A syscall newer than docker's profile: ENOSYS, as runc answers it (open_tree_attr, 467).
          assert.equal(answer('open_tree_attr'), ENOSYS, `open_tree_attr on ${arch}`);
          assert.equal(answer('removexattrat'), ALLOW, `removexattrat on ${arch}`);
        }
      });

      test('clone with a namespace flag, clone3, personality and AF_ALG sockets: by their arguments', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const SIGCHLD = 17n;
        const CLONE_VM = 0x100n;
        const CLONE_THREAD = 0x10000n;
        const namespaceFlags = { NEWNS: 0x20000n, NEWCGROUP: 0x2000000n, NEWUTS: 0x4000000n, NEWIPC: 0x8000000n, NEWUSER: 0x10000000n, NEWPID: 0x20000000n, NEWNET: 0x40000000n };
        for (const arch of ['x64', 'arm64'] as const) {
          const answer = answerer(seccomp, arch);
          assert.equal(answer('clone', SIGCHLD), ALLOW, `fork on ${arch}`);
          assert.equal(answer('clone', CLONE_VM | CLONE_THREAD | 0x3d0f00n), ALLOW, `a thread on ${arch}`);
          assert.equal(answer('clone', 0x80n | SIGCHLD), ALLOW, 'CLONE_NEWTIME is not among docker\'s flags');
          for (const [name, flag] of Object.entries(namespaceFlags)) assert.equal(answer('clone', flag | SIGCHLD), EPERM, `clone(CLONE_${name}) on ${arch}`);
          assert.equal(answer('clone3'), ENOSYS, `clone3 on ${arch}: glibc falls back to clone`);
          for (const persona of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) assert.equal(answer('personality', persona), ALLOW, `personality(${persona})`);
          assert.equal(answer('personality', 0x400000n), EPERM, 'READ_IMPLIES_EXEC');
          assert.equal(answer('personality', 0x1_0000_0000n), EPERM, 'a high half that is not 0');
          assert.equal(answer('socket', 38n), EPERM, 'AF_ALG');
          assert.equal(answer('socket', 40n), EPERM, 'AF_VSOCK');
          for (const family of [1n, 2n, 10n, 16n, 17n]) assert.equal(answer('socket', family), ALLOW, `socket(${family})`);
        }
      });

      test('an added capability lifts the rules docker ties to it', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const capabilities = [...seccomp.DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'];
        const answer = answerer(seccomp, 'x64', { capabilities });
        for (const name of ['mount', 'unshare', 'setns', 'bpf', 'kcmp', 'clone3']) assert.equal(answer(name), ALLOW, name);
        assert.equal(answer('clone', 0x10000000n), ALLOW, 'clone(CLONE_NEWUSER)');
        for (const name of ['keyctl', 'reboot', 'init_module', 'open_by_handle_at']) assert.equal(answer(name), EPERM, name);
      });

      test('every jump is forward and within 255, even in a profile of 400 syscalls', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const names = Object.keys(seccomp.SYSCALLS);
        assert.ok(names.length > 300, `${names.length} syscalls in the table`);
        const { profile } = seccomp.parseSeccompProfile(JSON.stringify({
          defaultAction: 'SCMP_ACT_ERRNO',
          syscalls: [{ names: names.filter((n) => n !== 'getppid'), action: 'SCMP_ACT_ALLOW' }],
        }), 'allow-list.json');
        for (const arch of ['x64', 'arm64'] as const) {
          const { program } = seccomp.seccompProgram(profile, { arch });
          assert.ok(program.length > 255, `${program.length} instructions on ${arch}: more than one jump can span`);
          for (const ins of program) assert.ok(ins.jt <= 255 && ins.jf <= 255 && Number.isInteger(ins.jt) && Number.isInteger(ins.jf));
          const bytes = seccomp.encodeProgram(program);
          for (const name of names) {
            const nr = seccomp.syscallNumber(name, arch);
            if (nr === null || nr === undefined) continue;
            assert.equal(runFilter(bytes, { nr, arch: AUDIT_ARCH[arch] }), name === 'getppid' ? EPERM : ALLOW, `${name} on ${arch}`);
          }
          // A number the profile does not name but below its highest: the default (EPERM);
          // above its highest: ENOSYS (what runc answers, so that programs fall back).
          if (arch === 'x64') assert.equal(runFilter(bytes, { nr: 400, arch: AUDIT_ARCH.x64 }), EPERM);
          assert.equal(runFilter(bytes, { nr: 1000, arch: AUDIT_ARCH[arch] }), ENOSYS);
        }
        for (const ins of seccomp.programFor('default', { arch: 'x64' })!.program) assert.ok(ins.jt <= 255 && ins.jf <= 255);
        // A layout that needs a longer jump is refused, not truncated into a wrong program.
        const far = [{ code: 0x15, k: 1, jt: 'end', jf: 0, note: 'far' }, ...Array.from({ length: 256 }, () => ({ code: 0x06, k: ALLOW, jt: 0, jf: 0, note: 'filler' })), { label: 'end' }, { code: 0x06, k: EPERM, jt: 0, jf: 0, note: 'end' }];
        assert.throws(() => seccomp.assemble(far), /cannot jump/);
      });

      test('argument tests compare all 64 bits, for every docker op', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const value = 0x1_0000_0005;
        const ops: Record<string, (arg: bigint) => boolean> = {
          SCMP_CMP_EQ: (arg) => arg === BigInt(value),
          SCMP_CMP_NE: (arg) => arg !== BigInt(value),
          SCMP_CMP_LT: (arg) => arg < BigInt(value),
          SCMP_CMP_LE: (arg) => arg <= BigInt(value),
          SCMP_CMP_GT: (arg) => arg > BigInt(value),
          SCMP_CMP_GE: (arg) => arg >= BigInt(value),
          SCMP_CMP_MASKED_EQ: (arg) => (arg & 0x3_0000_000fn) === 0x1_0000_0004n,
        };
        const samples = [0n, 4n, 5n, 6n, 0x5n | (1n << 33n), 0x1_0000_0004n, 0x1_0000_0005n, 0x1_0000_0006n, 0x1_ffff_ffffn, 0x2_0000_0000n, 0x3_0000_0004n, 0xffff_ffff_ffff_ffffn];
        for (const [op, holds] of Object.entries(ops)) {
          const rule = { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 2, value: op === 'SCMP_CMP_MASKED_EQ' ? 0x3_0000_000f : value, valueTwo: op === 'SCMP_CMP_MASKED_EQ' ? 0x1_0000_0004 : 0, op }] };
          const { profile } = seccomp.parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [rule] }), `${op}.json`);
          for (const arch of ['x64', 'arm64'] as const) {
            const bytes = seccomp.encodeProgram(seccomp.seccompProgram(profile, { arch }).program);
            const nr = seccomp.syscallNumber('getpid', arch)!;
            for (const sample of samples) {
              const got = runFilter(bytes, { nr, arch: AUDIT_ARCH[arch], args: [0n, 0n, sample] });
              assert.equal(got, holds(sample) ? EACCES : ALLOW, `${op} with args[2] = 0x${sample.toString(16)} on ${arch}`);
            }
            assert.equal(runFilter(bytes, { nr: nr + 1, arch: AUDIT_ARCH[arch], args: [0n, 0n, BigInt(value)] }), ALLOW, 'another syscall');
          }
        }
      });

      test('a profile: the first matching rule wins, includes/excludes are read as docker reads them', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const { profile } = seccomp.parseSeccompProfile(JSON.stringify({
          defaultAction: 'SCMP_ACT_ERRNO',
          defaultErrnoRet: 38,
          archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
          syscalls: [
            { name: 'getpid', action: 'SCMP_ACT_ALLOW' },
            { names: ['getpid', 'getppid'], action: 'SCMP_ACT_KILL_PROCESS' },
            { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
            { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
            { names: ['getuid'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
            { names: ['getgid'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '99.0' } },
            { names: ['gettid'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
            { names: ['read', 'chown32', 'nosuchcall'], action: 'SCMP_ACT_TRAP' },
            { names: ['write'], action: 'SCMP_ACT_LOG' },
          ],
        }), 'rules.json');
        const build = seccomp.seccompProgram(profile, { arch: 'x64', kernel: [6, 1] });
        const bytes = seccomp.encodeProgram(build.program);
        const answer = (name: string) => runFilter(bytes, { nr: seccomp.syscallNumber(name, 'x64')!, arch: AUDIT_ARCH.x64 });
        assert.equal(answer('getpid'), ALLOW, 'the first rule');
        assert.equal(answer('getppid'), KILL_PROCESS);
        assert.equal(answer('mount'), errno(38), 'no CAP_SYS_ADMIN: the default, ERRNO(38)');
        assert.equal(answer('chroot'), ALLOW, 'CAP_SYS_CHROOT is a default capability');
        assert.equal(answer('getuid'), errno(38), 'excluded on amd64');
        assert.equal(answer('getgid'), errno(38), 'needs Linux 99.0');
        assert.equal(answer('gettid'), ALLOW, 'Linux 6.1 >= 4.8');
        assert.equal(answer('read'), 0x00030000, 'TRAP');
        assert.equal(answer('write'), 0x7ffc0000, 'LOG');
        assert.deepEqual(build.skipped.map((s) => s.name), ['chown32', 'nosuchcall'], 'names this ABI lacks are skipped, not errors');
        const arm = seccomp.seccompProgram(profile, { arch: 'arm64', kernel: [6, 1] });
        assert.equal(runFilter(seccomp.encodeProgram(arm.program), { nr: seccomp.syscallNumber('getuid', 'arm64')!, arch: AUDIT_ARCH.arm64 }), ALLOW, 'not excluded on arm64');
      });

      test('an invalid profile is a one-line error that names the file', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const bad: [unknown, RegExp][] = [
          ['{ "defaultAction": ', /not JSON/],
          [[], /not a JSON object/],
          [{ syscalls: [] }, /defaultAction: missing/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'] }] }, /syscalls\[0\]\.action: missing/],
          [{ defaultAction: 'SCMP_ACT_FOO' }, /defaultAction: unknown action "SCMP_ACT_FOO"/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_DENY' }] }, /syscalls\[0\]\.action: unknown action "SCMP_ACT_DENY"/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, /SCMP_ACT_NOTIFY is not supported/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_BETWEEN' }] }] }, /syscalls\[0\]\.args\[0\]: unknown op "SCMP_CMP_BETWEEN"/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, /index: 6 is not an integer from 0 to 5/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, /value: -1 is not an integer/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'mkdir', names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }, /both "name" and "names"/],
          [{ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 70000 }, /defaultErrnoRet: 70000 is not an integer from 0 to 4095/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], archMap: [] }, /both "architectures" and "archMap"/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, /unknown architecture "SCMP_ARCH_Z80"/],
          [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: {} }, /syscalls: not a list/],
        ];
        for (const [profile, message] of bad) {
          const json = typeof profile === 'string' ? profile : JSON.stringify(profile);
          assert.throws(() => seccomp.parseSeccompProfile(json, '/etc/profiles/bad.json'), (err: Error) => {
            assert.match(err.message, /^seccomp profile \/etc\/profiles\/bad\.json: /);
            assert.match(err.message, message);
            assert.doesNotMatch(err.message, /\n/);
            assert.equal(err.constructor.name, 'UserError');
            return true;
          }, json);
        }
      });
    });

    describe('loaded into a process', () => {
      test('default: mount, keyctl, unshare(CLONE_NEWUSER), clone with namespace flags fail with EPERM; the rest works', () => {
        const { results } = probe(ch, 'default', ['mount', 'umount2', 'keyctl', 'unshare-user', 'unshare-net', 'clone-newuser',
          'clone-plain', 'clone3', 'personality-query', 'personality-exec', 'socket-alg', 'socket-unix', 'getpid',
          'open-write-read', 'mkdir', 'spawn', 'status']);
        assert.deepEqual(results, {
          mount: 'EPERM', umount2: 'EPERM', keyctl: 'EPERM', 'unshare-user': 'EPERM', 'unshare-net': 'EPERM', 'clone-newuser': 'EPERM',
          'clone-plain': 'EINVAL', // the kernel's answer: CLONE_SIGHAND without CLONE_VM. The filter let it through
          clone3: 'ENOSYS', 'personality-query': 'ok', 'personality-exec': 'EPERM', 'socket-alg': 'EPERM', 'socket-unix': 'ok',
          getpid: 'ok', 'open-write-read': 'ok', mkdir: 'ok',
          spawn: 'exit 7', // fork and execve still work, and the child inherits the filter
          status: { NoNewPrivs: '0', Seccomp: '2', Seccomp_filters: '1' },
        });
      });

      test('unconfined: no filter, and the same probes reach the kernel', () => {
        const { results } = probe(ch, 'unconfined', ['mount', 'keyctl', 'unshare-user', 'clone-newuser', 'clone3', 'status']);
        assert.deepEqual(results, {
          mount: 'ENOENT', keyctl: 'ok', 'unshare-user': 'EINVAL', 'clone-newuser': 'EINVAL', clone3: 'EINVAL',
          status: { NoNewPrivs: '0', Seccomp: '0', Seccomp_filters: '0' },
        });
      });

      test('a docker JSON profile that denies mkdir: EPERM, or EACCES with errnoRet 13', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const denyMkdir = seccomp.parseSeccompProfile(JSON.stringify(DENY_MKDIR), profileFile(DENY_MKDIR));
        assert.deepEqual(probe(ch, denyMkdir, ['mkdir', 'open-write-read', 'mount', 'status']).results, {
          mkdir: 'EPERM', 'open-write-read': 'ok', mount: 'ENOENT', status: { NoNewPrivs: '0', Seccomp: '2', Seccomp_filters: '1' },
        });
        const eacces = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
        assert.deepEqual(probe(ch, seccomp.parseSeccompProfile(JSON.stringify(eacces), 'eacces.json'), ['mkdir']).results, { mkdir: 'EACCES' });
      });

      test('a profile with a clone argument rule: clone(CLONE_NEWUSER) refused, other clones and fork allowed', async () => {
        const seccomp = await chapterModule<Seccomp>(ch, 'seccomp.ts');
        const cloneRule = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }] }],
        };
        const { results } = probe(ch, seccomp.parseSeccompProfile(JSON.stringify(cloneRule), 'clone.json'), ['clone-newuser', 'clone-plain', 'spawn', 'unshare-user']);
        assert.deepEqual(results, { 'clone-newuser': 'EPERM', 'clone-plain': 'EINVAL', spawn: 'exit 7', 'unshare-user': 'EINVAL' });
      });

      test('without CAP_SYS_ADMIN or no_new_privs the kernel refuses the filter, and the error says why', () => {
        const { results } = probe(ch, 'default', ['status'], { asNobody: true });
        assert.match(String(results.error), /^seccomp\(SECCOMP_SET_MODE_FILTER.*\): EACCES .*no_new_privs/);
      });

      test('--trace prints the program, one instruction a line, with what each one does', () => {
        const { stderr } = probe(ch, 'default', ['getpid'], { trace: true });
        const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
        const lines = stderr.split('\n');
        const instruction = (index: number) => lines.find((line) => line.includes(`${String(index).padStart(4)}: `)) ?? '';
        assert.match(instruction(0), /0: ld \[4\]\s+# arch/);
        assert.match(instruction(1), new RegExp(`1: jeq #0x${AUDIT_ARCH[arch].toString(16)}, 1, 0\\s+# arch is`));
        assert.match(instruction(2), /2: ret KILL_PROCESS/);
        assert.ok(lines.some((line) => /: jeq #\d+, \d+, \d+\s+# syscall mount\?/.test(line)), stderr);
        assert.ok(lines.some((line) => /: ret ERRNO\(1\)\s+# fail with EPERM/.test(line)), stderr);
        assert.ok(lines.some((line) => /seccomp\(SECCOMP_SET_MODE_FILTER, 0, \{len=\d+/.test(line)), stderr);
      });
    });

    describe('through the CLI (needs the security flags)', () => {
      const engine = engineFor(ch);
      const status = async (options: string[]) => {
        const r = await engine.runContainer(options, ROOTFS, ['grep', '^Seccomp:', '/proc/self/status']);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      };

      test('run: the default filter is on (Seccomp: 2); seccomp=unconfined takes it off', async () => {
        assert.equal(await status([]), 'Seccomp:\t2');
        assert.equal(await status(['--security-opt', 'seccomp=unconfined']), 'Seccomp:\t0');
      });

      test('run --security-opt seccomp=<profile denying mkdir>: mkdir fails, the rest works', async () => {
        const r = await engine.runContainer(['--security-opt', `seccomp=${profileFile(DENY_MKDIR)}`], ROOTFS, ['sh', '-c', 'mkdir /x; echo "mkdir=$?"; touch /y && echo touched']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'mkdir=1\ntouched\n');
        assert.match(r.stderr, /Operation not permitted/);
      });

      test('run --security-opt seccomp=<invalid profile>: one line naming the file', async () => {
        const path = profileFile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_BOGUS' }] });
        assertOneLineError(await engine.runContainer(['--security-opt', `seccomp=${path}`], ROOTFS, ['true']), new RegExp(`${path}.*SCMP_ACT_BOGUS`));
      });

      test('the escapes chapter 08 allows fail: unshare -U and mount -t tmpfs', async () => {
        const r = await engine.runContainer([], ROOTFS, ['sh', '-c', 'unshare -U true; echo "unshare=$?"; mount -t tmpfs none /tmp; echo "mount=$?"']);
        assert.equal(r.stdout, 'unshare=1\nmount=1\n', r.stderr);
      });
    });
  });
}

for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}: no seccomp yet`, () => {
    const engine = engineFor(ch);
    test('unshare -U and mount -t tmpfs work in a container (chapter 09 refuses them)', async () => {
      const r = await engine.runContainer([], ROOTFS, ['sh', '-c', 'unshare -U true; echo "unshare=$?"; mount -t tmpfs none /tmp; echo "mount=$?"; grep "^Seccomp:" /proc/self/status']);
      assert.equal(r.stdout, 'unshare=0\nmount=0\nSeccomp:\t0\n', r.stderr);
    });
  });
}
