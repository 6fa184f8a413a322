/** Chapter 09 · devices: which device nodes a container may open. A device node is only a name
 *  with a type and two numbers (major:minor), and root in a container may mknod(2) any node it
 *  likes: /dev/sda of the host's disk is one mknod away. So what a container can reach is not
 *  decided by the /dev we give it, but by the check the kernel makes when a node is opened (and
 *  made): the device rules of the process's cgroup.
 *    v1  the "devices" controller: "a" written to devices.deny, then one line per device the
 *        container may use written to devices.allow: "c 1:3 rwm" = character device 1:3 may be
 *        read, written and mknod(2)ed. cgroups.ts writes them.
 *    v2  has no devices controller. The kernel instead runs an eBPF program of the type
 *        BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup's directory, for every access: it
 *        reads the request (type, major, minor, access) and returns 1 (allow) or 0 (deny).
 *  Here: the rules (docker's), the eBPF program made from them, and bpf(2) to load it, attach it
 *  to a cgroup2 directory and ask which programs are attached.    Lesson: docs/09-security.md */
import { closeSync, constants, openSync } from 'node:fs';
import { SyscallError } from '../../lib/errors.ts';
import { koffi } from '../../lib/libc.ts';
import { traceStep } from '../../lib/trace.ts';
import { bpf } from './syscalls.ts';

/** One rule, as the v1 devices controller reads it: "c 1:3 rwm", "b *:* m", "a *:* rwm". */
export interface DeviceRule {
  /** c: character device, b: block device, a: all devices of both types. */
  type: 'a' | 'b' | 'c';
  major: number | '*';
  minor: number | '*';
  /** Any of r (open for reading), w (open for writing), m (mknod). */
  access: string;
  /** What the rule is for, shown by --trace. */
  why: string;
}

/** What a container may use: docker's list (runc's AllowedDevices), that is the nodes that
 *  mountDev() in container.ts puts in /dev, the pseudo-terminals of its own devpts, and mknod(2)
 *  of anything. Every other device is refused, whatever node the container makes for it. */
const CONTAINER_DEVICES: readonly (readonly [rule: string, why: string])[] = [
  // mknod(2) stays allowed, as docker allows it: a node opens nothing by being there, and images
  // carry nodes (overlayfs whiteouts are 0:0 character devices). Opening it is what is checked.
  ['c *:* m', 'mknod(2) of any character device: making a node is harmless, opening it is checked'],
  ['b *:* m', 'mknod(2) of any block device: the same'],
  ['c 1:3 rwm', '/dev/null'],
  ['c 1:5 rwm', '/dev/zero'],
  ['c 1:7 rwm', '/dev/full'],
  ['c 1:8 rwm', '/dev/random'],
  ['c 1:9 rwm', '/dev/urandom'],
  ['c 5:0 rwm', '/dev/tty: the controlling terminal'],
  ['c 5:2 rwm', '/dev/ptmx (-> pts/ptmx): new pseudo-terminals in the container\'s devpts'],
  ['c 136:* rwm', '/dev/pts/N: the pseudo-terminals themselves (run -t, exec -t)'],
];

/** --privileged: every device, as on the host (docker writes "a" to devices.allow). */
const ALL_DEVICES: readonly DeviceRule[] = [{ type: 'a', major: '*', minor: '*', access: 'rwm', why: '--privileged: every device, as the host\'s root has them' }];

/** The rules for a container: docker's allow list, or all devices with --privileged. */
export function deviceRulesFor(privileged: boolean): DeviceRule[] {
  return privileged ? [...ALL_DEVICES] : CONTAINER_DEVICES.map(([rule, why]) => parseDeviceRule(rule, why));
}

/** "c 136:* rwm" → { type: 'c', major: 136, minor: '*', access: 'rwm' }. */
export function parseDeviceRule(text: string, why = ''): DeviceRule {
  const match = /^([abc]) (\d+|\*):(\d+|\*) ([rwm]+)$/.exec(text);
  if (!match) throw new Error(`bad device rule "${text}": expected e.g. "c 1:3 rwm"`);
  const number = (s: string) => (s === '*' ? '*' : Number(s));
  return { type: match[1] as DeviceRule['type'], major: number(match[2]!), minor: number(match[3]!), access: match[4]!, why };
}

/** The rule as a line for devices.allow. */
export function formatDeviceRule(rule: DeviceRule): string {
  return `${rule.type} ${rule.major}:${rule.minor} ${rule.access}`;
}

/** True for the --privileged rule: no allow list, and no program. */
export function allowsEverything(rules: readonly DeviceRule[]): boolean {
  return rules.some((r) => r.type === 'a' && r.major === '*' && r.minor === '*' && [...'rwm'].every((a) => r.access.includes(a)));
}

// ---------------------------------------------------------------- the eBPF program (cgroup v2)

/** struct bpf_cgroup_dev_ctx (<linux/bpf.h>), which the program gets a pointer to in r1:
 *    u32 access_type;  at 0: (access << 16) | type
 *    u32 major;        at 4
 *    u32 minor;        at 8                                                                   */
const BPF_DEVCG_DEV = { b: 1, c: 2 } as const;
const BPF_DEVCG_ACC = { m: 1, r: 2, w: 4 } as const;

/** The instruction codes we use: class | operation | source (<linux/bpf_common.h>, <linux/bpf.h>). */
const BPF_LDX_MEM_W = 0x61; //   BPF_LDX | BPF_MEM | BPF_W:   dst = *(u32 *)(src + off)
const BPF_ALU_AND_K = 0x54; //   BPF_ALU | BPF_AND | BPF_K:   w_dst &= imm   (32-bit ALU)
const BPF_ALU_RSH_K = 0x74; //   BPF_ALU | BPF_RSH | BPF_K:   w_dst >>= imm
const BPF_ALU_MOV_K = 0xb4; //   BPF_ALU | BPF_MOV | BPF_K:   w_dst = imm
const BPF_ALU_MOV_X = 0xbc; //   BPF_ALU | BPF_MOV | BPF_X:   w_dst = w_src
const BPF_JMP_JNE_K = 0x55; //   BPF_JMP | BPF_JNE | BPF_K:   if dst != imm goto pc + off
const BPF_JMP_JNE_X = 0x5d; //   BPF_JMP | BPF_JNE | BPF_X:   if dst != src goto pc + off
const BPF_JMP_EXIT = 0x95; //    BPF_JMP | BPF_EXIT:          return r0

/** One eBPF instruction (struct bpf_insn: u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm),
 *  with how it reads and why it is there, for --trace. */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  text: string;
  why: string;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number, text: string, why: string): BpfInsn => ({ code, dst, src, off, imm, text, why });
const load32 = (dst: number, offset: number, why: string) => insn(BPF_LDX_MEM_W, dst, 1, offset, 0, `r${dst} = *(u32 *)(r1 +${offset})`, why);
const returnWith = (verdict: 0 | 1, why: string) => [
  insn(BPF_ALU_MOV_K, 0, 0, 0, verdict, `w0 = ${verdict}`, why),
  insn(BPF_JMP_EXIT, 0, 0, 0, 0, 'exit', verdict ? 'allow' : 'deny'),
];

/** The program for an allow list, as runc (and crun before it) builds it: load the request into
 *  r2..r5, then one block per rule: each test that fails jumps to the next block; a block whose
 *  tests all pass returns 1. Past the last block: return 0. Programs attached to a cgroup run
 *  for every process in it and in the cgroups below it, and the access is allowed only if every
 *  one of them says 1. */
export function deviceProgram(rules: readonly DeviceRule[]): BpfInsn[] {
  const program = [
    load32(2, 0, 'access_type'),
    insn(BPF_ALU_AND_K, 2, 0, 0, 0xffff, 'w2 &= 0xffff', 'its low 16 bits: the type, 1 block or 2 char'),
    load32(3, 0, 'access_type'),
    insn(BPF_ALU_RSH_K, 3, 0, 0, 16, 'w3 >>= 16', 'its high 16 bits: the access, 1 mknod | 2 read | 4 write'),
    load32(4, 4, 'major'),
    load32(5, 8, 'minor'),
  ];
  for (const rule of rules) program.push(...ruleBlock(rule));
  program.push(...returnWith(0, 'no rule matched: deny'));
  // A jump's target, by index, for people: "goto pc+5" at 6 goes to 12.
  return program.map((i, n) => (i.code === BPF_JMP_JNE_K || i.code === BPF_JMP_JNE_X ? { ...i, text: `${i.text} <${n + i.off + 1}>` } : i));
}

/** The block of one rule. A test that fails jumps to the next block; a jump's `off` counts the
 *  instructions after the jump, so from the i-th of a block of n it is n - i - 1. */
function ruleBlock(rule: DeviceRule): BpfInsn[] {
  if (rule.type === 'a') throw new Error(`"${formatDeviceRule(rule)}": an eBPF device program takes c and b rules only`);
  const name = formatDeviceRule(rule);
  const type = BPF_DEVCG_DEV[rule.type];
  const access = [...rule.access].reduce((bits, a) => bits | BPF_DEVCG_ACC[a as keyof typeof BPF_DEVCG_ACC], 0);
  const block: BpfInsn[] = [];
  const jumps: number[] = []; // where the block's jumps are: their offsets are known once it is whole
  const skipUnless = (code: number, dst: number, src: number, imm: number, test: string, why: string) => {
    jumps.push(block.length);
    block.push(insn(code, dst, src, 0, imm, `if ${test} goto pc+`, why));
  };
  skipUnless(BPF_JMP_JNE_K, 2, 0, type, `r2 != ${type}`, `${name}: a ${rule.type === 'c' ? 'character' : 'block'} device?`);
  if (access !== 7) {
    // The access asked must be part of the rule's: (asked & allowed) == asked.
    block.push(insn(BPF_ALU_MOV_X, 1, 3, 0, 0, 'w1 = w3', `${name}: the access asked...`));
    block.push(insn(BPF_ALU_AND_K, 1, 0, 0, access, `w1 &= ${access}`, `...of which "${rule.access}" allows only this`));
    skipUnless(BPF_JMP_JNE_X, 1, 3, 0, 'r1 != r3', `${name}: more asked than allowed?`);
  }
  if (rule.major !== '*') skipUnless(BPF_JMP_JNE_K, 4, 0, rule.major, `r4 != ${rule.major}`, `${name}: major ${rule.major}?`);
  if (rule.minor !== '*') skipUnless(BPF_JMP_JNE_K, 5, 0, rule.minor, `r5 != ${rule.minor}`, `${name}: minor ${rule.minor}?`);
  block.push(...returnWith(1, `${name} matches: ${rule.why}`));
  for (const at of jumps) {
    const off = block.length - at - 1;
    block[at] = { ...block[at]!, off, text: `${block[at]!.text}${off}` };
  }
  return block;
}

/** The program as the kernel takes it: 8 bytes per instruction, little-endian. */
export function encodeProgram(program: readonly BpfInsn[]): Buffer {
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((i, n) => {
    bytes.writeUInt8(i.code, n * 8);
    bytes.writeUInt8((i.src << 4) | i.dst, n * 8 + 1);
    bytes.writeInt16LE(i.off, n * 8 + 2);
    bytes.writeInt32LE(i.imm, n * 8 + 4);
  });
  return bytes;
}

// ---------------------------------------------------------------- bpf(2): load, attach, query

const BPF_PROG_TYPE_CGROUP_DEVICE = 15; // enum bpf_prog_type
const BPF_CGROUP_DEVICE = 6; // enum bpf_attach_type
const BPF_F_ALLOW_MULTI = 1 << 1;
/** Any string the kernel reads as a licence will do: the program calls no GPL-only helper. runc
 *  says "Apache". */
const LICENSE = 'Apache';
/** The verifier's report when it refuses a program: plenty for a program of a hundred instructions. */
const VERIFIER_LOG_SIZE = 64 * 1024;

/** A C string in memory of its own: a Buffer's address is passed to the kernel. */
function cString(text: string): Buffer {
  const bytes = Buffer.alloc(Buffer.byteLength(text) + 1);
  bytes.write(text);
  return bytes;
}

/** Load the program for `rules` into the kernel: BPF_PROG_LOAD returns a descriptor for it, once
 *  the verifier has proved that it ends, reads only the 12 bytes of its context, and returns a value. */
export function loadDeviceProgram(rules: readonly DeviceRule[]): number {
  const program = deviceProgram(rules);
  traceStep(`eBPF device program, ${program.length} instructions:`, 'r1 points to struct bpf_cgroup_dev_ctx { u32 access_type, major, minor }; r0 is the answer');
  program.forEach((i, n) => traceStep(`  ${String(n).padStart(3)}: ${i.text}`, i.why));
  const insns = encodeProgram(program);
  const license = cString(LICENSE);
  const log = Buffer.alloc(VERIFIER_LOG_SIZE);
  // union bpf_attr, the part BPF_PROG_LOAD reads; the kernel takes a shorter attr as zero-filled.
  const attr = Buffer.alloc(72);
  attr.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0); // prog_type
  attr.writeUInt32LE(program.length, 4); // insn_cnt
  attr.writeBigUInt64LE(koffi.address(insns), 8); // insns: a pointer, as a u64
  attr.writeBigUInt64LE(koffi.address(license), 16); // license
  attr.writeUInt32LE(1, 24); // log_level: the verifier's reasons if it refuses
  attr.writeUInt32LE(log.length, 28); // log_size
  attr.writeBigUInt64LE(koffi.address(log), 32); // log_buf
  attr.write('nutshell_dev', 48, 'latin1'); // prog_name: up to 15 characters
  const target = `{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=${program.length}, license="${LICENSE}", prog_name="nutshell_dev"}`;
  try {
    return bpf('BPF_PROG_LOAD', attr, 'hand the program to the verifier, then to the kernel: a descriptor for it comes back', { target, hint: { EPERM: 'loading a program needs CAP_SYS_ADMIN (or CAP_BPF): are you root?' } });
  } catch (err) {
    const said = log.toString('latin1', 0, Math.max(0, log.indexOf(0))).trim();
    if (err instanceof SyscallError && said) {
      throw new SyscallError('bpf', `BPF_PROG_LOAD, ${target}`, err.errno, `the verifier says: ${said.split('\n').slice(-3).join(' | ')}`);
    }
    throw err;
  }
}

/** Attach the program for `rules` to the cgroup2 directory `cgroupDir`: from now on the kernel
 *  asks it about every device that a process in that cgroup (or below it) opens or makes. The
 *  program stays as long as the cgroup does: our descriptor for it can be closed. */
export function attachDeviceProgram(cgroupDir: string, rules: readonly DeviceRule[]): void {
  const dirFd = openCgroupDir(cgroupDir);
  try {
    const programFd = loadDeviceProgram(rules);
    try {
      const attr = Buffer.alloc(20); // target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd
      attr.writeUInt32LE(dirFd, 0);
      attr.writeUInt32LE(programFd, 4);
      attr.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
      attr.writeUInt32LE(BPF_F_ALLOW_MULTI, 12);
      bpf('BPF_PROG_ATTACH', attr, 'every program on the way from the root to the cgroup must say yes: one attached later, below, can only refuse more', {
        target: `{target_fd=${dirFd} (${cgroupDir}), attach_bpf_fd=${programFd}, attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI}`,
      });
    } finally {
      closeSync(programFd);
    }
  } finally {
    closeSync(dirFd);
  }
}

/** The ids of the device programs attached to the cgroup2 directory `cgroupDir` itself. */
export function attachedDevicePrograms(cgroupDir: string): number[] {
  const dirFd = openCgroupDir(cgroupDir);
  try {
    const ids = Buffer.alloc(64 * 4); // the kernel allows 64 programs per cgroup and attach type
    const attr = Buffer.alloc(32); // target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    attr.writeUInt32LE(dirFd, 0);
    attr.writeUInt32LE(BPF_CGROUP_DEVICE, 4);
    attr.writeBigUInt64LE(koffi.address(ids), 16);
    attr.writeUInt32LE(64, 24);
    bpf('BPF_PROG_QUERY', attr, 'which device programs are attached here', { target: `{target_fd=${dirFd} (${cgroupDir}), attach_type=BPF_CGROUP_DEVICE}` });
    return Array.from({ length: attr.readUInt32LE(24) }, (_, n) => ids.readUInt32LE(n * 4));
  } finally {
    closeSync(dirFd);
  }
}

/** A cgroup2 directory opened as the target of bpf(2): O_RDONLY | O_DIRECTORY. */
function openCgroupDir(dir: string): number {
  return openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
}
