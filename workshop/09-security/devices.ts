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
  throw new Error('TODO (chapter 09): write deviceRulesFor(), as the comment above it says');
}

/** "c 136:* rwm" → { type: 'c', major: 136, minor: '*', access: 'rwm' }. */
export function parseDeviceRule(text: string, why = ''): DeviceRule {
  throw new Error('TODO (chapter 09): write parseDeviceRule(), as the comment above it says');
}

/** The rule as a line for devices.allow. */
export function formatDeviceRule(rule: DeviceRule): string {
  throw new Error('TODO (chapter 09): write formatDeviceRule(), as the comment above it says');
}

/** True for the --privileged rule: no allow list, and no program. */
export function allowsEverything(rules: readonly DeviceRule[]): boolean {
  throw new Error('TODO (chapter 09): write allowsEverything(), as the comment above it says');
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
  // A jump's target, by index, for people: "goto pc+5" at 6 goes to 12.
  throw new Error('TODO (chapter 09): write deviceProgram(), as the comment above it says');
}

/** The block of one rule. A test that fails jumps to the next block; a jump's `off` counts the
 *  instructions after the jump, so from the i-th of a block of n it is n - i - 1. */
function ruleBlock(rule: DeviceRule): BpfInsn[] {
  // The access asked must be part of the rule's: (asked & allowed) == asked.
  throw new Error('TODO (chapter 09): write ruleBlock(), as the comment above it says');
}

/** The program as the kernel takes it: 8 bytes per instruction, little-endian. */
export function encodeProgram(program: readonly BpfInsn[]): Buffer {
  throw new Error('TODO (chapter 09): write encodeProgram(), as the comment above it says');
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
  throw new Error('TODO (chapter 09): write cString(), as the comment above it says');
}

/** Load the program for `rules` into the kernel: BPF_PROG_LOAD returns a descriptor for it, once
 *  the verifier has proved that it ends, reads only the 12 bytes of its context, and returns a value. */
export function loadDeviceProgram(rules: readonly DeviceRule[]): number {
  // union bpf_attr, the part BPF_PROG_LOAD reads; the kernel takes a shorter attr as zero-filled.
  throw new Error('TODO (chapter 09): write loadDeviceProgram(), as the comment above it says');
}

/** Attach the program for `rules` to the cgroup2 directory `cgroupDir`: from now on the kernel
 *  asks it about every device that a process in that cgroup (or below it) opens or makes. The
 *  program stays as long as the cgroup does: our descriptor for it can be closed. */
export function attachDeviceProgram(cgroupDir: string, rules: readonly DeviceRule[]): void {
  throw new Error('TODO (chapter 09): write attachDeviceProgram(), as the comment above it says');
}

/** The ids of the device programs attached to the cgroup2 directory `cgroupDir` itself. */
export function attachedDevicePrograms(cgroupDir: string): number[] {
  throw new Error('TODO (chapter 09): write attachedDevicePrograms(), as the comment above it says');
}

/** A cgroup2 directory opened as the target of bpf(2): O_RDONLY | O_DIRECTORY. */
function openCgroupDir(dir: string): number {
  throw new Error('TODO (chapter 09): write openCgroupDir(), as the comment above it says');
}
