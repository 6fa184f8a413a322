/** Chapter 09 · seccomp: a filter, written here in classic BPF, that the kernel runs on every
 *  system call of the container before the call itself runs, and that answers "go on",
 *  "fail with this errno" or "kill". Capabilities say what root may do inside a syscall;
 *  seccomp says which syscalls may be made at all, so it also closes what no capability
 *  guards (a kernel bug in a syscall nobody in a container needs is out of reach).
 *
 *  The program (seccompProgram) has three parts, in this order:
 *    1. the ABI check: `arch` must be this machine's (AUDIT_ARCH_X86_64 or _AARCH64), and
 *       on x86_64 the x32 ABI is refused: a syscall NUMBER means nothing until we know which
 *       table it indexes (59 is execve on x86_64, 59 is pipe2 on aarch64). Anything else is
 *       killed;
 *    2. the rules, one block each, in the profile's order: the first rule that matches the
 *       syscall (and its arguments) decides;
 *    3. the default action, for every syscall no rule matched.
 *
 *  `--security-opt seccomp=…` picks a SeccompSetting:
 *    - 'default': DEFAULT_PROFILE below. docker's default profile is an allow-list (some 370
 *      names allowed, everything else EPERM). Ours says the same thing the other way round,
 *      as a deny-list: the x86_64 and aarch64 syscalls that docker's list leaves out, for a
 *      container with docker's 14 default capabilities. That is the short list a learner
 *      should read (mount, keyctl, bpf, unshare…), and on these two ABIs it refuses exactly
 *      what docker refuses. What a deny-list alone gets wrong is the future: a syscall added
 *      to the kernel after this table would be allowed. So, like runc does for docker's
 *      profile, every syscall number above the newest one docker's profile names answers
 *      ENOSYS ("this kernel has no such call"), and programs fall back to older calls.
 *    - a docker JSON profile (parseSeccompProfile), compiled the same way;
 *    - 'unconfined': no filter at all (also what --privileged means).
 *
 *  Why EPERM rather than kill: a refused syscall looks to the program like any other
 *  permission failure, which programs already handle ("mount: permission denied"), and the
 *  container keeps running. docker does the same; a kill is kept for the wrong-ABI case,
 *  where the syscall number cannot even be read.
 *
 *  Simplifications against docker (and runc, which compiles its profiles with libseccomp):
 *    - only the native ABI is filtered; the other ABIs a profile lists (x86, x32, arm) are
 *      killed, so a 32-bit program in the container dies at its first syscall;
 *    - when several rules name one syscall, the first that matches wins (libseccomp merges
 *      them into one decision tree, and a profile that depends on which wins is ambiguous);
 *    - `includes`/`excludes` are honoured: caps against the capability set we are given
 *      (docker's default 14 unless the caller says otherwise), arches, minKernel;
 *    - argument values must be integers below 2^53 (JSON numbers in JavaScript);
 *    - `flags`, `listenerPath`, SCMP_ACT_NOTIFY: not supported.                       */
import { constants, release } from 'node:os';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { seccompSetModeFilter } from './syscalls.ts';

// ---- the syscall table: a name means a number only on one ABI --------------------------

/** Every syscall of x86_64 and aarch64 (Linux 6.18), by name: [x86_64 number, aarch64
 *  number], null where the ABI lacks it (aarch64 never had open, only openat). From the
 *  kernel's uapi headers (asm/unistd_64.h and asm-generic/unistd.h); from 451 on, every
 *  architecture shares one number. */
export const SYSCALLS: Readonly<Record<string, [x86_64: number | null, aarch64: number | null]>> = {
  read: [0, 63], write: [1, 64], open: [2, null], close: [3, 57], stat: [4, null], fstat: [5, 80], lstat: [6, null],
  poll: [7, null], lseek: [8, 62], mmap: [9, 222], mprotect: [10, 226], munmap: [11, 215], brk: [12, 214],
  rt_sigaction: [13, 134], rt_sigprocmask: [14, 135], rt_sigreturn: [15, 139], ioctl: [16, 29], pread64: [17, 67],
  pwrite64: [18, 68], readv: [19, 65], writev: [20, 66], access: [21, null], pipe: [22, null], select: [23, null],
  sched_yield: [24, 124], mremap: [25, 216], msync: [26, 227], mincore: [27, 232], madvise: [28, 233],
  shmget: [29, 194], shmat: [30, 196], shmctl: [31, 195], dup: [32, 23], dup2: [33, null], pause: [34, null],
  nanosleep: [35, 101], getitimer: [36, 102], alarm: [37, null], setitimer: [38, 103], getpid: [39, 172],
  sendfile: [40, 71], socket: [41, 198], connect: [42, 203], accept: [43, 202], sendto: [44, 206],
  recvfrom: [45, 207], sendmsg: [46, 211], recvmsg: [47, 212], shutdown: [48, 210], bind: [49, 200],
  listen: [50, 201], getsockname: [51, 204], getpeername: [52, 205], socketpair: [53, 199], setsockopt: [54, 208],
  getsockopt: [55, 209], clone: [56, 220], fork: [57, null], vfork: [58, null], execve: [59, 221], exit: [60, 93],
  wait4: [61, 260], kill: [62, 129], uname: [63, 160], semget: [64, 190], semop: [65, 193], semctl: [66, 191],
  shmdt: [67, 197], msgget: [68, 186], msgsnd: [69, 189], msgrcv: [70, 188], msgctl: [71, 187], fcntl: [72, 25],
  flock: [73, 32], fsync: [74, 82], fdatasync: [75, 83], truncate: [76, 45], ftruncate: [77, 46],
  getdents: [78, null], getcwd: [79, 17], chdir: [80, 49], fchdir: [81, 50], rename: [82, null], mkdir: [83, null],
  rmdir: [84, null], creat: [85, null], link: [86, null], unlink: [87, null], symlink: [88, null],
  readlink: [89, null], chmod: [90, null], fchmod: [91, 52], chown: [92, null], fchown: [93, 55], lchown: [94, null],
  umask: [95, 166], gettimeofday: [96, 169], getrlimit: [97, 163], getrusage: [98, 165], sysinfo: [99, 179],
  times: [100, 153], ptrace: [101, 117], getuid: [102, 174], syslog: [103, 116], getgid: [104, 176],
  setuid: [105, 146], setgid: [106, 144], geteuid: [107, 175], getegid: [108, 177], setpgid: [109, 154],
  getppid: [110, 173], getpgrp: [111, null], setsid: [112, 157], setreuid: [113, 145], setregid: [114, 143],
  getgroups: [115, 158], setgroups: [116, 159], setresuid: [117, 147], getresuid: [118, 148], setresgid: [119, 149],
  getresgid: [120, 150], getpgid: [121, 155], setfsuid: [122, 151], setfsgid: [123, 152], getsid: [124, 156],
  capget: [125, 90], capset: [126, 91], rt_sigpending: [127, 136], rt_sigtimedwait: [128, 137],
  rt_sigqueueinfo: [129, 138], rt_sigsuspend: [130, 133], sigaltstack: [131, 132], utime: [132, null],
  mknod: [133, null], uselib: [134, null], personality: [135, 92], ustat: [136, null], statfs: [137, 43],
  fstatfs: [138, 44], sysfs: [139, null], getpriority: [140, 141], setpriority: [141, 140],
  sched_setparam: [142, 118], sched_getparam: [143, 121], sched_setscheduler: [144, 119],
  sched_getscheduler: [145, 120], sched_get_priority_max: [146, 125], sched_get_priority_min: [147, 126],
  sched_rr_get_interval: [148, 127], mlock: [149, 228], munlock: [150, 229], mlockall: [151, 230],
  munlockall: [152, 231], vhangup: [153, 58], modify_ldt: [154, null], pivot_root: [155, 41], _sysctl: [156, null],
  prctl: [157, 167], arch_prctl: [158, null], adjtimex: [159, 171], setrlimit: [160, 164], chroot: [161, 51],
  sync: [162, 81], acct: [163, 89], settimeofday: [164, 170], mount: [165, 40], umount2: [166, 39],
  swapon: [167, 224], swapoff: [168, 225], reboot: [169, 142], sethostname: [170, 161], setdomainname: [171, 162],
  iopl: [172, null], ioperm: [173, null], create_module: [174, null], init_module: [175, 105],
  delete_module: [176, 106], get_kernel_syms: [177, null], query_module: [178, null], quotactl: [179, 60],
  nfsservctl: [180, 42], getpmsg: [181, null], putpmsg: [182, null], afs_syscall: [183, null], tuxcall: [184, null],
  security: [185, null], gettid: [186, 178], readahead: [187, 213], setxattr: [188, 5], lsetxattr: [189, 6],
  fsetxattr: [190, 7], getxattr: [191, 8], lgetxattr: [192, 9], fgetxattr: [193, 10], listxattr: [194, 11],
  llistxattr: [195, 12], flistxattr: [196, 13], removexattr: [197, 14], lremovexattr: [198, 15],
  fremovexattr: [199, 16], tkill: [200, 130], time: [201, null], futex: [202, 98], sched_setaffinity: [203, 122],
  sched_getaffinity: [204, 123], set_thread_area: [205, null], io_setup: [206, 0], io_destroy: [207, 1],
  io_getevents: [208, 4], io_submit: [209, 2], io_cancel: [210, 3], get_thread_area: [211, null],
  lookup_dcookie: [212, 18], epoll_create: [213, null], epoll_ctl_old: [214, null], epoll_wait_old: [215, null],
  remap_file_pages: [216, 234], getdents64: [217, 61], set_tid_address: [218, 96], restart_syscall: [219, 128],
  semtimedop: [220, 192], fadvise64: [221, 223], timer_create: [222, 107], timer_settime: [223, 110],
  timer_gettime: [224, 108], timer_getoverrun: [225, 109], timer_delete: [226, 111], clock_settime: [227, 112],
  clock_gettime: [228, 113], clock_getres: [229, 114], clock_nanosleep: [230, 115], exit_group: [231, 94],
  epoll_wait: [232, null], epoll_ctl: [233, 21], tgkill: [234, 131], utimes: [235, null], vserver: [236, null],
  mbind: [237, 235], set_mempolicy: [238, 237], get_mempolicy: [239, 236], mq_open: [240, 180],
  mq_unlink: [241, 181], mq_timedsend: [242, 182], mq_timedreceive: [243, 183], mq_notify: [244, 184],
  mq_getsetattr: [245, 185], kexec_load: [246, 104], waitid: [247, 95], add_key: [248, 217], request_key: [249, 218],
  keyctl: [250, 219], ioprio_set: [251, 30], ioprio_get: [252, 31], inotify_init: [253, null],
  inotify_add_watch: [254, 27], inotify_rm_watch: [255, 28], migrate_pages: [256, 238], openat: [257, 56],
  mkdirat: [258, 34], mknodat: [259, 33], fchownat: [260, 54], futimesat: [261, null], newfstatat: [262, 79],
  unlinkat: [263, 35], renameat: [264, 38], linkat: [265, 37], symlinkat: [266, 36], readlinkat: [267, 78],
  fchmodat: [268, 53], faccessat: [269, 48], pselect6: [270, 72], ppoll: [271, 73], unshare: [272, 97],
  set_robust_list: [273, 99], get_robust_list: [274, 100], splice: [275, 76], tee: [276, 77],
  sync_file_range: [277, 84], vmsplice: [278, 75], move_pages: [279, 239], utimensat: [280, 88],
  epoll_pwait: [281, 22], signalfd: [282, null], timerfd_create: [283, 85], eventfd: [284, null],
  fallocate: [285, 47], timerfd_settime: [286, 86], timerfd_gettime: [287, 87], accept4: [288, 242],
  signalfd4: [289, 74], eventfd2: [290, 19], epoll_create1: [291, 20], dup3: [292, 24], pipe2: [293, 59],
  inotify_init1: [294, 26], preadv: [295, 69], pwritev: [296, 70], rt_tgsigqueueinfo: [297, 240],
  perf_event_open: [298, 241], recvmmsg: [299, 243], fanotify_init: [300, 262], fanotify_mark: [301, 263],
  prlimit64: [302, 261], name_to_handle_at: [303, 264], open_by_handle_at: [304, 265], clock_adjtime: [305, 266],
  syncfs: [306, 267], sendmmsg: [307, 269], setns: [308, 268], getcpu: [309, 168], process_vm_readv: [310, 270],
  process_vm_writev: [311, 271], kcmp: [312, 272], finit_module: [313, 273], sched_setattr: [314, 274],
  sched_getattr: [315, 275], renameat2: [316, 276], seccomp: [317, 277], getrandom: [318, 278],
  memfd_create: [319, 279], kexec_file_load: [320, 294], bpf: [321, 280], execveat: [322, 281],
  userfaultfd: [323, 282], membarrier: [324, 283], mlock2: [325, 284], copy_file_range: [326, 285],
  preadv2: [327, 286], pwritev2: [328, 287], pkey_mprotect: [329, 288], pkey_alloc: [330, 289],
  pkey_free: [331, 290], statx: [332, 291], io_pgetevents: [333, 292], rseq: [334, 293], uretprobe: [335, null],
  pidfd_send_signal: [424, 424], io_uring_setup: [425, 425], io_uring_enter: [426, 426],
  io_uring_register: [427, 427], open_tree: [428, 428], move_mount: [429, 429], fsopen: [430, 430],
  fsconfig: [431, 431], fsmount: [432, 432], fspick: [433, 433], pidfd_open: [434, 434], clone3: [435, 435],
  close_range: [436, 436], openat2: [437, 437], pidfd_getfd: [438, 438], faccessat2: [439, 439],
  process_madvise: [440, 440], epoll_pwait2: [441, 441], mount_setattr: [442, 442], quotactl_fd: [443, 443],
  landlock_create_ruleset: [444, 444], landlock_add_rule: [445, 445], landlock_restrict_self: [446, 446],
  memfd_secret: [447, 447], process_mrelease: [448, 448], futex_waitv: [449, 449],
  set_mempolicy_home_node: [450, 450], cachestat: [451, 451], fchmodat2: [452, 452], map_shadow_stack: [453, 453],
  futex_wake: [454, 454], futex_wait: [455, 455], futex_requeue: [456, 456], statmount: [457, 457],
  listmount: [458, 458], lsm_get_self_attr: [459, 459], lsm_set_self_attr: [460, 460], lsm_list_modules: [461, 461],
  mseal: [462, 462], setxattrat: [463, 463], getxattrat: [464, 464], listxattrat: [465, 465],
  removexattrat: [466, 466], open_tree_attr: [467, 467], file_getattr: [468, 468], file_setattr: [469, 469],
  listns: [470, 470],
};

/** This machine's ABI, as the kernel reports it in seccomp_data.arch (linux/audit.h:
 *  EM_X86_64 or EM_AARCH64, | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE). */
interface Abi {
  name: 'x86_64' | 'aarch64';
  auditArch: number;
  column: 0 | 1;
  /** How docker's `includes.arches` names it (Go's GOARCH, as libseccomp spells it). */
  dockerArch: string;
  /** x86_64 kernels also take x32 syscalls: the same arch value, the number | 0x40000000. */
  hasX32: boolean;
}

const ABIS: Record<string, Abi> = {
  x64: { name: 'x86_64', auditArch: 0xc000003e, column: 0, dockerArch: 'amd64', hasX32: true },
  arm64: { name: 'aarch64', auditArch: 0xc00000b7, column: 1, dockerArch: 'arm64', hasX32: false },
};

function abiOf(arch: string): Abi {
  const abi = ABIS[arch];
  if (!abi) throw new UserError(`seccomp: no syscall table for ${arch} (known: ${Object.keys(ABIS).join(', ')})`);
  return abi;
}

/** The number of syscall `name` on `arch` (process.arch), or null if that ABI has no such
 *  syscall, or undefined if the name is not a syscall this table knows. */
export function syscallNumber(name: string, arch: string = process.arch): number | null | undefined {
  const numbers = Object.hasOwn(SYSCALLS, name) ? SYSCALLS[name] : undefined;
  return numbers === undefined ? undefined : numbers[abiOf(arch).column];
}

// ---- docker's profile format ---------------------------------------------------------------

/** 'default': our default filter; 'unconfined': none; a profile: docker's JSON format,
 *  parsed by the engine from `source` (a host path) with parseSeccompProfile. */
export type SeccompSetting = 'default' | 'unconfined' | { profile: unknown; source: string };

/** What each docker action returns to the kernel: SECCOMP_RET_* (linux/seccomp.h). The low
 *  16 bits carry data: the errno for ERRNO, a message for the tracer for TRACE. */
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_KILL_THREAD = 0x00000000;
const SECCOMP_RET_TRAP = 0x00030000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_TRACE = 0x7ff00000;
const SECCOMP_RET_LOG = 0x7ffc0000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_DATA = 0x0000ffff;

const ACTIONS = {
  SCMP_ACT_ALLOW: SECCOMP_RET_ALLOW,
  SCMP_ACT_ERRNO: SECCOMP_RET_ERRNO, // | errnoRet (EPERM if none)
  SCMP_ACT_KILL: SECCOMP_RET_KILL_THREAD, // libseccomp's KILL is the thread, as it was before 4.14
  SCMP_ACT_KILL_THREAD: SECCOMP_RET_KILL_THREAD,
  SCMP_ACT_KILL_PROCESS: SECCOMP_RET_KILL_PROCESS,
  SCMP_ACT_TRAP: SECCOMP_RET_TRAP, // SIGSYS, which the program may catch
  SCMP_ACT_LOG: SECCOMP_RET_LOG, // allowed, and logged by the kernel's audit
  SCMP_ACT_TRACE: SECCOMP_RET_TRACE, // | errnoRet: a ptrace tracer decides (without one: ENOSYS)
};
type SeccompAction = keyof typeof ACTIONS;

/** How an argument is compared (libseccomp's scmp_compare). MASKED_EQ: (arg & value) == valueTwo. */
const OPS = ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_MASKED_EQ'] as const;
type SeccompOp = (typeof OPS)[number];

/** The architectures libseccomp knows, as docker's `architectures` names them. */
const SCMP_ARCHES = ['X86', 'X86_64', 'X32', 'ARM', 'AARCH64', 'MIPS', 'MIPS64', 'MIPS64N32', 'MIPSEL', 'MIPSEL64', 'MIPSEL64N32',
  'PPC', 'PPC64', 'PPC64LE', 'S390', 'S390X', 'PARISC', 'PARISC64', 'RISCV64', 'LOONGARCH64', 'M68K', 'SH', 'SHEB'].map((a) => `SCMP_ARCH_${a}`);

export interface SyscallArg {
  index: number;
  value: number;
  valueTwo: number;
  op: SeccompOp;
}

/** When a rule applies (docker's `includes`, all must hold) or does not (`excludes`, any). */
export interface RuleCondition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SyscallRule {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args: SyscallArg[];
  comment?: string;
  includes?: RuleCondition;
  excludes?: RuleCondition;
}

/** A docker seccomp profile once checked (`name` folded into `names`, `args` always there). */
export interface DockerSeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SyscallRule[];
}

// ---- our default: docker's default profile, as the list of what it refuses -----------------

/** docker's 14 default capabilities: the set the default profile's capability rules are read
 *  against, unless installSeccomp is told the container's own. */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const EPERM = constants.errno.EPERM;
const ENOSYS = constants.errno.ENOSYS;

/** Refuse `names` with EPERM, unless the container holds one of `caps` (docker allows each of
 *  these calls to a container that has one of them: --cap-add brings it back). */
function refuseWithout(caps: string[], names: string[], comment: string): SyscallRule {
  return { names, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [], comment, excludes: caps.length > 0 ? { caps } : undefined };
}

/** Allow `name` when argument `index` equals `value` (a rule that comes before the refusal). */
function allowWhenEqual(name: string, index: number, value: number, comment: string): SyscallRule {
  return { names: [name], action: 'SCMP_ACT_ALLOW', args: [{ index, value, valueTwo: 0, op: 'SCMP_CMP_EQ' }], comment };
}

/** clone(2)'s namespace flags: NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const AF_ALG = 38; // the kernel's crypto API as sockets: a large attack surface, rarely needed
const AF_VSOCK = 40; // sockets to the hypervisor or to the host of a VM

/** docker's default profile (github.com/moby/profiles, seccomp/default_linux.go), turned
 *  round: every x86_64 or aarch64 syscall that it does not allow to a container with the
 *  default capabilities is refused here; every other one is allowed. */
export const DEFAULT_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'],
  syscalls: [
    refuseWithout(['CAP_SYS_ADMIN'], [
      'mount', 'umount2', 'mount_setattr', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
      'unshare', 'setns', 'sethostname', 'setdomainname', 'quotactl', 'quotactl_fd', 'fanotify_init',
      'lookup_dcookie', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules',
    ], 'needs CAP_SYS_ADMIN: mounts, namespaces, the hostname, quotas'),
    refuseWithout(['CAP_SYS_ADMIN', 'CAP_BPF'], ['bpf'], 'needs CAP_BPF: eBPF programs run in the kernel'),
    refuseWithout(['CAP_SYS_ADMIN', 'CAP_PERFMON'], ['perf_event_open'], 'needs CAP_PERFMON: sees the whole machine'),
    refuseWithout(['CAP_SYS_ADMIN', 'CAP_SYSLOG'], ['syslog'], "needs CAP_SYSLOG: the host's kernel log"),
    refuseWithout(['CAP_DAC_READ_SEARCH'], ['open_by_handle_at'], 'needs CAP_DAC_READ_SEARCH: opens any inode of a mount by number (the "shocker" escape)'),
    refuseWithout(['CAP_SYS_BOOT'], ['reboot'], 'needs CAP_SYS_BOOT'),
    refuseWithout(['CAP_SYS_MODULE'], ['init_module', 'finit_module', 'delete_module'], 'needs CAP_SYS_MODULE: code into the kernel'),
    refuseWithout(['CAP_SYS_PACCT'], ['acct'], 'needs CAP_SYS_PACCT'),
    refuseWithout(['CAP_SYS_PTRACE'], ['kcmp', 'pidfd_getfd', 'process_madvise'], 'needs CAP_SYS_PTRACE (ptrace itself is allowed: since Linux 4.8 the filter also sees what a tracer changes)'),
    refuseWithout(['CAP_SYS_RAWIO'], ['iopl', 'ioperm'], 'needs CAP_SYS_RAWIO: I/O ports'),
    refuseWithout(['CAP_SYS_TIME'], ['settimeofday', 'clock_settime'], 'needs CAP_SYS_TIME: the clock is not namespaced'),
    refuseWithout(['CAP_SYS_TTY_CONFIG'], ['vhangup'], 'needs CAP_SYS_TTY_CONFIG'),
    refuseWithout(['CAP_SYS_NICE'], ['get_mempolicy', 'set_mempolicy', 'set_mempolicy_home_node', 'mbind'], 'needs CAP_SYS_NICE: NUMA memory placement'),
    refuseWithout([], [
      'add_key', 'keyctl', 'request_key', // the kernel keyring is not namespaced
      'kexec_load', 'kexec_file_load', 'swapon', 'swapoff', 'pivot_root', 'userfaultfd',
      'move_pages', 'migrate_pages', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
      'nfsservctl', '_sysctl', 'sysfs', 'ustat', 'uselib', 'create_module', 'get_kernel_syms', 'query_module',
      'afs_syscall', 'getpmsg', 'putpmsg', 'security', 'tuxcall', 'vserver', // never implemented
    ], 'refused whatever the capabilities'),
    // clone(2) may make a process, not namespaces: docker compares its flags argument.
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], comment: 'no namespace flag', excludes: { caps: ['CAP_SYS_ADMIN'] } },
    refuseWithout(['CAP_SYS_ADMIN'], ['clone'], 'with a namespace flag: needs CAP_SYS_ADMIN'),
    // clone3(2) passes its flags in memory, where no filter can read them: ENOSYS, and glibc
    // falls back to clone(2), whose flags we can check.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, args: [], comment: 'its flags are in memory: ENOSYS, so that glibc uses clone', excludes: { caps: ['CAP_SYS_ADMIN'] } },
    // personality(2): Linux, with or without address randomisation turned off, or a query.
    allowWhenEqual('personality', 0, 0x0, 'PER_LINUX'),
    allowWhenEqual('personality', 0, 0x0008, 'PER_LINUX32'),
    allowWhenEqual('personality', 0, 0x20000, 'UNAME26'),
    allowWhenEqual('personality', 0, 0x20008, 'UNAME26 | PER_LINUX32'),
    allowWhenEqual('personality', 0, 0xffffffff, 'query the current personality'),
    refuseWithout([], ['personality'], 'any other personality (READ_IMPLIES_EXEC…)'),
    { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: AF_ALG, valueTwo: 0, op: 'SCMP_CMP_EQ' }], comment: 'AF_ALG' },
    { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: AF_VSOCK, valueTwo: 0, op: 'SCMP_CMP_EQ' }], comment: 'AF_VSOCK' },
  ],
};

/** The newest syscall docker's default profile names: newer ones answer ENOSYS, as they do
 *  under docker (runc adds that stub to every profile whose default refuses). */
const NEWEST_IN_DOCKER_PROFILE = 'removexattrat';

// ---- reading a docker JSON profile ---------------------------------------------------------

/** Parse and check a docker seccomp JSON profile: a one-line UserError when it is invalid.
 *  Unknown fields are ignored, as docker ignores them; unknown syscall names are kept (they
 *  are skipped when the filter is built, as docker skips names the kernel does not know). */
export function parseSeccompProfile(json: string, source: string): { profile: DockerSeccompProfile; source: string } {
  const invalid = (what: string) => new UserError(`seccomp profile ${source}: ${what}`);
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (err) {
    throw invalid(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(data)) throw invalid('not a JSON object');
  const action = (value: unknown, where: string): SeccompAction => {
    if (typeof value === 'string' && Object.hasOwn(ACTIONS, value)) return value as SeccompAction;
    if (value === undefined) throw invalid(`${where}: missing`);
    if (value === 'SCMP_ACT_NOTIFY') throw invalid(`${where}: SCMP_ACT_NOTIFY is not supported (it needs a listener)`);
    throw invalid(`${where}: unknown action ${JSON.stringify(value)} (known: ${Object.keys(ACTIONS).join(', ')})`);
  };
  const integer = (value: unknown, where: string, max: number): number => {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max) return value;
    throw invalid(`${where}: ${JSON.stringify(value)} is not an integer from 0 to ${max}`);
  };
  const strings = (value: unknown, where: string): string[] => {
    if (Array.isArray(value) && value.every((s) => typeof s === 'string')) return value as string[];
    throw invalid(`${where}: not a list of strings`);
  };
  const condition = (value: unknown, where: string): RuleCondition | undefined => {
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) throw invalid(`${where}: not an object`);
    const minKernel = value.minKernel;
    if (minKernel !== undefined && minKernel !== '' && !(typeof minKernel === 'string' && /^\d+\.\d+$/.test(minKernel))) {
      throw invalid(`${where}.minKernel: ${JSON.stringify(minKernel)} is not "<kernel>.<major>"`);
    }
    return {
      caps: value.caps === undefined ? undefined : strings(value.caps, `${where}.caps`),
      arches: value.arches === undefined ? undefined : strings(value.arches, `${where}.arches`),
      minKernel: minKernel || undefined,
    };
  };
  const MAX_ERRNO = 4095; // the kernel hands back -errno; larger values are not errnos

  if (data.architectures !== undefined && data.archMap !== undefined) throw invalid('both "architectures" and "archMap": use one');
  let architectures: string[] = [];
  if (data.architectures !== undefined) architectures = strings(data.architectures, 'architectures');
  if (data.archMap !== undefined) {
    if (!Array.isArray(data.archMap)) throw invalid('archMap: not a list');
    architectures = data.archMap.flatMap((entry: unknown, i) => {
      if (!isObject(entry) || typeof entry.architecture !== 'string') throw invalid(`archMap[${i}]: no "architecture"`);
      return [entry.architecture, ...(entry.subArchitectures == null ? [] : strings(entry.subArchitectures, `archMap[${i}].subArchitectures`))];
    });
  }
  for (const arch of architectures) if (!SCMP_ARCHES.includes(arch)) throw invalid(`unknown architecture ${JSON.stringify(arch)}`);

  if (data.syscalls !== undefined && data.syscalls !== null && !Array.isArray(data.syscalls)) throw invalid('syscalls: not a list');
  const syscalls = ((data.syscalls ?? []) as unknown[]).map((rule, i): SyscallRule => {
    const where = `syscalls[${i}]`;
    if (!isObject(rule)) throw invalid(`${where}: not an object`);
    if (rule.name !== undefined && rule.names !== undefined) throw invalid(`${where}: both "name" and "names": use one`);
    const names = rule.name !== undefined ? strings([rule.name], `${where}.name`) : strings(rule.names ?? [], `${where}.names`);
    if (rule.args !== undefined && rule.args !== null && !Array.isArray(rule.args)) throw invalid(`${where}.args: not a list`);
    const args = ((rule.args ?? []) as unknown[]).map((arg, j): SyscallArg => {
      const at = `${where}.args[${j}]`;
      if (!isObject(arg)) throw invalid(`${at}: not an object`);
      if (typeof arg.op !== 'string' || !(OPS as readonly string[]).includes(arg.op)) {
        throw invalid(`${at}: unknown op ${JSON.stringify(arg.op)} (known: ${OPS.join(', ')})`);
      }
      return {
        index: integer(arg.index, `${at}.index`, 5), // a syscall has at most 6 arguments
        value: integer(arg.value ?? 0, `${at}.value`, Number.MAX_SAFE_INTEGER),
        valueTwo: integer(arg.valueTwo ?? 0, `${at}.valueTwo`, Number.MAX_SAFE_INTEGER),
        op: arg.op as SeccompOp,
      };
    });
    return {
      names,
      action: action(rule.action, `${where}.action`),
      errnoRet: rule.errnoRet == null ? undefined : integer(rule.errnoRet, `${where}.errnoRet`, MAX_ERRNO),
      args,
      comment: typeof rule.comment === 'string' && rule.comment !== '' ? rule.comment : undefined,
      includes: condition(rule.includes, `${where}.includes`),
      excludes: condition(rule.excludes, `${where}.excludes`),
    };
  });

  const profile: DockerSeccompProfile = {
    defaultAction: action(data.defaultAction, 'defaultAction'),
    defaultErrnoRet: data.defaultErrnoRet == null ? undefined : integer(data.defaultErrnoRet, 'defaultErrnoRet', MAX_ERRNO),
    architectures,
    syscalls,
  };
  // Build it once now, for this machine: a program too long for the kernel is the profile's
  // fault, and better said by the engine than by the container's child stage.
  try {
    seccompProgram(profile);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  return { profile, source };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---- classic BPF: the instructions, and a tiny assembler ----------------------------------

/** struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } (linux/filter.h), and what
 *  the instruction is for, which --trace prints. A jump is RELATIVE: jt or jf instructions
 *  are skipped, forward only, at most 255, so that every program ends. */
export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
  note: string;
}

// The opcode is class | size | mode (loads) or class | operation | source (jumps, ALU).
const BPF_LD = 0x00;
const BPF_ALU = 0x04;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00; // a 32-bit word
const BPF_ABS = 0x20; // at a fixed offset of the input: here, of struct seccomp_data
const BPF_K = 0x00; // the operand is the constant k
const BPF_JEQ = 0x10;
const BPF_JGT = 0x20;
const BPF_JGE = 0x30;
const BPF_JSET = 0x40; // jump if A & k is not zero
const BPF_AND = 0x50;

/** The kernel refuses a longer program (BPF_MAXINSNS). */
const BPF_MAXINSNS = 4096;
const MAX_JUMP = 255;

/** struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }:
 *  what the program reads. The accumulator A holds 32 bits, so a 64-bit argument is read as
 *  two halves; both of our ABIs are little-endian: the low half comes first. */
const NR = 0;
const ARCH = 4;
const argLow = (index: number) => 16 + 8 * index;
const argHigh = (index: number) => 16 + 8 * index + 4;
/** An x32 syscall comes with arch = AUDIT_ARCH_X86_64, and this bit set in its number. */
const X32_SYSCALL_BIT = 0x40000000;

/** A jump target while the program is being written: a number of instructions to skip, or
 *  the name of a label placed further down. */
type Target = number | string;
interface Op {
  code: number;
  k: number;
  jt: Target;
  jf: Target;
  note: string;
}
type Line = Op | { label: string };

const ld = (offset: number, note: string): Op => ({ code: BPF_LD | BPF_W | BPF_ABS, k: offset, jt: 0, jf: 0, note });
const and = (mask: number, note: string): Op => ({ code: BPF_ALU | BPF_AND | BPF_K, k: mask, jt: 0, jf: 0, note });
const jeq = (k: number, jt: Target, jf: Target, note: string): Op => ({ code: BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf, note });
const jgt = (k: number, jt: Target, jf: Target, note: string): Op => ({ code: BPF_JMP | BPF_JGT | BPF_K, k, jt, jf, note });
const jge = (k: number, jt: Target, jf: Target, note: string): Op => ({ code: BPF_JMP | BPF_JGE | BPF_K, k, jt, jf, note });
const jset = (k: number, jt: Target, jf: Target, note: string): Op => ({ code: BPF_JMP | BPF_JSET | BPF_K, k, jt, jf, note });
const ret = (k: number, note: string): Op => ({ code: BPF_RET | BPF_K, k, jt: 0, jf: 0, note });

/** Turn labels into relative jumps. A jump that would go backwards or skip more than 255
 *  instructions cannot be encoded: the program's layout is wrong, and we say so. */
export function assemble(lines: Line[]): Instruction[] {
  const at = new Map<string, number>();
  let count = 0;
  for (const line of lines) {
    if ('label' in line) at.set(line.label, count);
    else count++;
  }
  const program: Instruction[] = [];
  for (const line of lines) {
    if ('label' in line) continue;
    const index = program.length;
    const offset = (target: Target): number => {
      const skip = typeof target === 'number' ? target : (at.get(target) ?? NaN) - (index + 1);
      if (!(skip >= 0 && skip <= MAX_JUMP)) throw new Error(`seccomp: instruction ${index} ("${line.note}") cannot jump to ${target} (${skip} ahead; 0 to ${MAX_JUMP} can be encoded)`);
      return skip;
    };
    program.push({ code: line.code, k: line.k >>> 0, jt: offset(line.jt), jf: offset(line.jf), note: line.note });
  }
  if (program.length > BPF_MAXINSNS) throw new Error(`the filter has ${program.length} instructions; the kernel takes at most ${BPF_MAXINSNS}`);
  return program;
}

/** The program as the kernel reads it: 8 bytes per instruction (little-endian, as both ABIs are). */
export function encodeProgram(program: Instruction[]): Buffer {
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    bytes.writeUInt16LE(ins.code, i * 8);
    bytes.writeUInt8(ins.jt, i * 8 + 2);
    bytes.writeUInt8(ins.jf, i * 8 + 3);
    bytes.writeUInt32LE(ins.k, i * 8 + 4);
  });
  return bytes;
}

/** One instruction as text, in the notation of the kernel's bpf_dbg: `ld [4]`,
 *  `jeq #0xc000003e, 1, 0`, `ret ERRNO(1)`. */
export function disassemble(ins: Instruction): string {
  const constant = ins.k < 0x1000 ? String(ins.k) : `0x${ins.k.toString(16)}`;
  const jumps = `, ${ins.jt}, ${ins.jf}`;
  switch (ins.code) {
    case BPF_LD | BPF_W | BPF_ABS: return `ld [${ins.k}]`;
    case BPF_ALU | BPF_AND | BPF_K: return `and #${constant}`;
    case BPF_JMP | BPF_JEQ | BPF_K: return `jeq #${constant}${jumps}`;
    case BPF_JMP | BPF_JGT | BPF_K: return `jgt #${constant}${jumps}`;
    case BPF_JMP | BPF_JGE | BPF_K: return `jge #${constant}${jumps}`;
    case BPF_JMP | BPF_JSET | BPF_K: return `jset #${constant}${jumps}`;
    case BPF_RET | BPF_K: return `ret ${returnName(ins.k)}`;
    default: return `op 0x${ins.code.toString(16)} #${constant}${jumps}`;
  }
}

/** ALLOW, ERRNO(1), KILL_PROCESS…: a SECCOMP_RET_* value by name. */
export function returnName(value: number): string {
  const data = value & SECCOMP_RET_DATA;
  switch ((value & ~SECCOMP_RET_DATA) >>> 0) {
    case SECCOMP_RET_KILL_PROCESS: return 'KILL_PROCESS';
    case SECCOMP_RET_KILL_THREAD: return 'KILL_THREAD';
    case SECCOMP_RET_TRAP: return 'TRAP';
    case SECCOMP_RET_ERRNO: return `ERRNO(${data})`;
    case SECCOMP_RET_TRACE: return `TRACE(${data})`;
    case SECCOMP_RET_LOG: return 'LOG';
    case SECCOMP_RET_ALLOW: return 'ALLOW';
    default: return `0x${value.toString(16)}`;
  }
}

// ---- from a profile to a program -----------------------------------------------------------

/** One syscall of one rule, on this ABI: what the program tests, in the profile's order. */
interface Check {
  nr: number;
  name: string;
  ret: number;
  args: SyscallArg[];
  comment?: string;
}

export interface SeccompBuild {
  program: Instruction[];
  /** Names the filter leaves out, and why: not a syscall we know, or not one of this ABI. */
  skipped: { name: string; reason: string }[];
}

/** The SECCOMP_RET_* value of a docker action (EPERM when an ERRNO gives no errno, as runc does). */
function returnValue(action: SeccompAction, errnoRet: number | undefined): number {
  const data = action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE' ? (errnoRet ?? EPERM) : 0;
  return (ACTIONS[action] | data) >>> 0;
}

/** Whether a rule applies, as docker decides it: `includes` must all hold (every cap held,
 *  our arch among its arches, the kernel new enough); `excludes` drops it if any holds. */
function ruleApplies(rule: SyscallRule, abi: Abi, capabilities: readonly string[], kernel: [number, number]): boolean {
  const newEnough = (minKernel: string) => {
    const [major = 0, minor = 0] = minKernel.split('.').map(Number);
    return kernel[0] > major || (kernel[0] === major && kernel[1] >= minor);
  };
  const { includes, excludes } = rule;
  if (excludes?.arches?.includes(abi.dockerArch)) return false;
  if (excludes?.caps?.some((cap) => capabilities.includes(cap))) return false;
  if (excludes?.minKernel && newEnough(excludes.minKernel)) return false;
  if (includes?.arches && !includes.arches.includes(abi.dockerArch)) return false;
  if (includes?.caps && !includes.caps.every((cap) => capabilities.includes(cap))) return false;
  if (includes?.minKernel && !newEnough(includes.minKernel)) return false;
  return true;
}

function runningKernel(): [number, number] {
  const [major = 0, minor = 0] = release().split(/[.-]/).map(Number);
  return [major, minor];
}

export interface ProgramOptions {
  /** process.arch of the machine the filter is for. */
  arch?: string;
  /** The container's capabilities, for the rules' `includes`/`excludes` caps. */
  capabilities?: readonly string[];
  /** [major, minor] of the kernel, for `minKernel`. */
  kernel?: [number, number];
  /** Syscalls above this one answer ENOSYS. Default: for a profile whose default action
   *  refuses, the highest syscall it names (what runc does); none otherwise. */
  newestKnown?: string;
}

/** Compile a profile into a seccomp program for one ABI. */
export function seccompProgram(profile: DockerSeccompProfile, options: ProgramOptions = {}): SeccompBuild {
  const abi = abiOf(options.arch ?? process.arch);
  const capabilities = options.capabilities ?? DOCKER_DEFAULT_CAPABILITIES;
  const kernel = options.kernel ?? runningKernel();
  const skipped: SeccompBuild['skipped'] = [];
  const checks: Check[] = [];
  for (const rule of profile.syscalls) {
    if (!ruleApplies(rule, abi, capabilities, kernel)) continue;
    rule.names.forEach((name, i) => {
      const nr = Object.hasOwn(SYSCALLS, name) ? SYSCALLS[name]![abi.column] : undefined;
      if (nr === undefined) skipped.push({ name, reason: 'not a syscall this table knows (docker too skips names its kernel does not know)' });
      else if (nr === null) skipped.push({ name, reason: `no such syscall on ${abi.name}` });
      else checks.push({ nr, name, ret: returnValue(rule.action, rule.errnoRet), args: rule.args, comment: i === 0 ? rule.comment : undefined });
    });
  }
  const defaultRet = returnValue(profile.defaultAction, profile.defaultErrnoRet);
  const refusesByDefault = !['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(profile.defaultAction);
  const newestKnown = options.newestKnown !== undefined ? syscallNumber(options.newestKnown, options.arch) ?? undefined
    : refusesByDefault && checks.length > 0 ? Math.max(...checks.map((c) => c.nr)) : undefined;

  const lines: Line[] = [
    // 1. Which ABI: a syscall number means nothing until we know which table it indexes.
    ld(ARCH, 'arch'),
    jeq(abi.auditArch, 1, 0, `arch is ${abi.name}?`),
    ret(SECCOMP_RET_KILL_PROCESS, 'another ABI: its syscall numbers mean other calls'),
    ld(NR, 'nr: the syscall number'),
  ];
  if (abi.hasX32) {
    lines.push(
      jset(X32_SYSCALL_BIT, 0, 2, 'the x32 ABI (same arch, nr | 0x40000000)?'),
      jeq(0xffffffff, 1, 0, 'nr -1 (a tracer skipping the call)?'),
      ret(SECCOMP_RET_KILL_PROCESS, 'x32: a table of its own, which we do not filter'),
    );
  }
  if (newestKnown !== undefined) {
    lines.push(
      jgt(newestKnown, 0, 1, `newer than the profile knows (> ${newestKnown})?`),
      ret((SECCOMP_RET_ERRNO | ENOSYS) >>> 0, 'ENOSYS: "no such call", so that programs fall back to older ones'),
    );
  }
  // 2. The rules. A run of checks without arguments that end the same way shares one `ret`;
  // a run is at most 255 long, so that its first jeq can still jump over the rest.
  for (let i = 0; i < checks.length;) {
    const check = checks[i]!;
    if (check.args.length > 0) {
      lines.push(...argumentBlock(check, `r${i}`, i === checks.length - 1));
      i++;
      continue;
    }
    let end = i + 1;
    while (end < checks.length && end - i < MAX_JUMP && checks[end]!.args.length === 0 && checks[end]!.ret === check.ret) end++;
    const matched = `r${i}:matched`;
    const next = `r${i}:next`;
    for (let j = i; j < end; j++) {
      const { nr, name, comment } = checks[j]!;
      const note = `syscall ${name}?${comment ? ` (${comment})` : ''}`;
      // The last one jumps over the shared `ret` when it does not match.
      lines.push(j < end - 1 ? jeq(nr, matched, 0, note) : jeq(nr, 0, next, note));
    }
    lines.push({ label: matched }, ret(check.ret, verdict(check.ret)), { label: next });
    i = end;
  }
  // 3. Whatever no rule matched.
  lines.push(ret(defaultRet, `default: ${verdict(defaultRet)}`));
  return { program: assemble(lines), skipped };
}

function verdict(value: number): string {
  const name = returnName(value);
  if (name === 'ALLOW') return 'allow';
  if (name.startsWith('ERRNO(')) return `fail with ${errnoNameOf(value & SECCOMP_RET_DATA)}`;
  return name.toLowerCase().replace('_', ' ');
}

function errnoNameOf(errno: number): string {
  return Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
}

/** A rule with argument conditions, as one block:
 *      jeq #nr, 0, skip          this syscall?
 *      …one test per argument, any failure jumps to `reload`…
 *      ret ACTION
 *  reload:
 *      ld [0]                    A held an argument: the syscall number again, for the rules below
 *  skip:
 *  (The last rule needs no reload: only the default action comes after it.)                     */
function argumentBlock(check: Check, id: string, last: boolean): Line[] {
  const reload = `${id}:reload`;
  const skip = `${id}:skip`;
  const lines: Line[] = [jeq(check.nr, 0, skip, `syscall ${check.name}?${check.comment ? ` (${check.comment})` : ''}`)];
  check.args.forEach((arg, n) => lines.push(...argumentTest(arg, reload, `${id}:${n}`)));
  lines.push(ret(check.ret, verdict(check.ret)), { label: reload });
  if (!last) lines.push(ld(NR, 'nr again, for the rules below'));
  lines.push({ label: skip });
  return lines;
}

/** One 64-bit comparison made of 32-bit ones: the high halves first, then the low halves when
 *  the high ones do not decide. Falls through when the argument passes; jumps to `fail`. */
function argumentTest(arg: SyscallArg, fail: string, id: string): Line[] {
  const pass = `${id}:pass`;
  const high = Math.floor(arg.value / 2 ** 32);
  const low = arg.value % 2 ** 32;
  const name = `args[${arg.index}]`;
  const hex = (n: number) => `0x${n.toString(16)}`;
  const loadHigh = ld(argHigh(arg.index), `${name}, its high half`);
  const loadLow = ld(argLow(arg.index), `${name}, its low half`);
  switch (arg.op) {
    case 'SCMP_CMP_EQ':
      return [loadHigh, jeq(high, 0, fail, `high half == ${hex(high)}?`), loadLow, jeq(low, 0, fail, `${name} == ${hex(arg.value)}?`)];
    case 'SCMP_CMP_NE':
      return [loadHigh, jeq(high, 0, pass, `high half == ${hex(high)}? (if not, it differs)`), loadLow, jeq(low, fail, 0, `${name} != ${hex(arg.value)}?`), { label: pass }];
    case 'SCMP_CMP_MASKED_EQ': {
      const maskHigh = Math.floor(arg.value / 2 ** 32);
      const maskLow = arg.value % 2 ** 32;
      const wantHigh = Math.floor(arg.valueTwo / 2 ** 32);
      const wantLow = arg.valueTwo % 2 ** 32;
      const test = `${name} & ${hex(arg.value)} == ${hex(arg.valueTwo)}?`;
      // A mask with no high bits and a datum with none: the high half always passes.
      const highHalf: Line[] = maskHigh === 0 && wantHigh === 0 ? [] : [loadHigh, and(maskHigh, 'keep the masked bits'), jeq(wantHigh, 0, fail, `high half == ${hex(wantHigh)}?`)];
      return [...highHalf, loadLow, and(maskLow, 'keep the masked bits'), jeq(wantLow, 0, fail, test)];
    }
    // Unsigned order: a larger high half decides; an equal one leaves it to the low halves.
    case 'SCMP_CMP_GT':
      return [loadHigh, jgt(high, pass, 0, `high half > ${hex(high)}?`), jeq(high, 0, fail, `high half == ${hex(high)}? (if not, smaller)`), loadLow, jgt(low, 0, fail, `${name} > ${hex(arg.value)}?`), { label: pass }];
    case 'SCMP_CMP_GE':
      return [loadHigh, jgt(high, pass, 0, `high half > ${hex(high)}?`), jeq(high, 0, fail, `high half == ${hex(high)}? (if not, smaller)`), loadLow, jge(low, 0, fail, `${name} >= ${hex(arg.value)}?`), { label: pass }];
    case 'SCMP_CMP_LT':
      return [loadHigh, jgt(high, fail, 0, `high half > ${hex(high)}?`), jeq(high, 0, pass, `high half == ${hex(high)}? (if not, smaller)`), loadLow, jge(low, fail, 0, `${name} < ${hex(arg.value)}?`), { label: pass }];
    case 'SCMP_CMP_LE':
      return [loadHigh, jgt(high, fail, 0, `high half > ${hex(high)}?`), jeq(high, 0, pass, `high half == ${hex(high)}? (if not, smaller)`), loadLow, jgt(low, fail, 0, `${name} <= ${hex(arg.value)}?`), { label: pass }];
  }
}

// ---- loading it ----------------------------------------------------------------------------

/** The program for a setting, or null for 'unconfined'. */
export function programFor(setting: SeccompSetting, options: ProgramOptions = {}): SeccompBuild | null {
  if (setting === 'unconfined') return null;
  if (setting === 'default') return seccompProgram(DEFAULT_PROFILE, { newestKnown: NEWEST_IN_DOCKER_PROFILE, ...options });
  // Checked by parseSeccompProfile in the engine; it crossed to the child stage as JSON.
  return seccompProgram(setting.profile as DockerSeccompProfile, options);
}

/** Load the filter for `setting` into this thread (and so into the program execve starts).
 *
 *  The kernel loads a filter only for a thread that has no_new_privs set, or CAP_SYS_ADMIN
 *  in its effective set: otherwise a filter could make a set-user-ID program fail where it
 *  does not expect to (a setuid() refused), and so turn it against its owner. So the caller
 *  either sets no_new_privs first, or loads the filter while it still holds CAP_SYS_ADMIN,
 *  before dropping capabilities (runc does the latter unless no-new-privileges is asked).
 *  Every syscall after this one goes through the filter too: what the child stage still does
 *  before execve(2) (capset, setuid, close_range, execve itself) must be allowed.
 *
 *  A filter belongs to one thread and its future children. Node's other threads stay
 *  unfiltered, and that is fine: execve(2) ends them, and the program it starts has exactly
 *  this thread's filter. (SECCOMP_FILTER_FLAG_TSYNC, which would filter them all, is not
 *  needed.) The filter stays for good: it is inherited across fork and execve, and no
 *  syscall removes it. */
export function installSeccomp(setting: SeccompSetting, why: string, capabilities: readonly string[] = DOCKER_DEFAULT_CAPABILITIES): void {
  const build = programFor(setting, { capabilities });
  if (!build) {
    traceStep('seccomp: unconfined', 'no filter: the container may make every syscall');
    return;
  }
  const from = setting === 'default' ? "the default profile (docker's, as a deny-list)" : `the profile ${(setting as { source: string }).source}`;
  traceStep(`seccomp program: ${build.program.length} instructions`, `compiled from ${from}`);
  for (const { name, reason } of build.skipped) traceStep(`seccomp: skip ${name}`, reason);
  build.program.forEach((ins, i) => traceStep(`${String(i).padStart(4)}: ${disassemble(ins).padEnd(24)}`, ins.note));
  seccompSetModeFilter(encodeProgram(build.program), why);
}
