/** Chapter 09 · capabilities: root's power, cut into some forty pieces (capabilities(7)), so
 *  that a container's root keeps only the few that docker gives it. The engine turns --cap-add,
 *  --cap-drop, --privileged and --security-opt into a SecurityConfig, with docker's rules; the
 *  child stage applies it to itself at the end of execCommand() (container.ts), on the main
 *  thread, since capabilities belong to a thread, not to a process.
 *
 *  What the program gets is decided at execve(2), which computes its sets afresh
 *  (capabilities(7), "Transformation of capabilities during execve()"):
 *      P'(permitted) = (P(inheritable) & F(inheritable)) | (F(permitted) & P(bounding)) | P'(ambient)
 *  For root the file's sets F count as full, so root's program gets P(bounding) | P(inheritable),
 *  all of it effective. Any other user, running a file that is neither set-user-ID root nor has
 *  file capabilities, gets P'(ambient): nothing, once ambient is empty. So the bounding set is
 *  the real limit, and inheritable and ambient must be empty. The thread's own permitted set
 *  does not carry over, with one exception: under no_new_privs, it caps what execve may give.
 *
 *  Hence the order, each step needing what a later one takes away:
 *    1. limitBoundingSet(): drop what is not kept from the bounding set (PR_CAPBSET_DROP takes
 *       CAP_SETPCAP, which we hold as the engine's root) and empty the ambient set;
 *    2. PR_SET_KEEPCAPS, then becomeUser(): setgroups, setgid and setuid take CAP_SETGID and
 *       CAP_SETUID, which step 3 may remove (--cap-drop ALL); KEEPCAPS keeps the permitted set
 *       across setuid(2) to another user, for step 5;
 *    3. setThreadCapabilities(): capset(2) — root keeps the set, anyone else nothing, and
 *       CAP_SYS_ADMIN stays until the seccomp filter is in, if no_new_privs is off;
 *    4. no_new_privs (--security-opt no-new-privileges);
 *    5. the seccomp filter, last (seccomp.ts): it takes no_new_privs or CAP_SYS_ADMIN;
 *    6. execve(2).                                                                            */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { parseSeccompProfile, type SeccompSetting } from './seccomp.ts';
import { capget, capset, clearAmbientCapabilities, dropFromBoundingSet, formatCapMask, inBoundingSet } from './syscalls.ts';

/** Capabilities by number (include/uapi/linux/capability.h): the number is the bit in every
 *  mask, in /proc/PID/status as in capget(2). Linux 5.9 added the last one we know. */
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', // 0-5
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', // 6-10
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', // 11-15
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', // 16-20
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', // 21-25
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', // 26-30
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', // 31-35
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE', // 36-40
] as const;

/** docker's default set (moby's oci/caps/defaults.go), which runc's example spec shares in
 *  part: what ordinary images need to set up files and users, run daemons that bind low ports,
 *  and ping. Left out, among others: CAP_SYS_ADMIN (mount, namespaces, half the kernel),
 *  CAP_NET_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_SYS_TIME, CAP_DAC_READ_SEARCH (open by
 *  handle: the "shocker" escape of 2014) and CAP_SYS_RAWIO. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** What limits the container's processes beyond namespaces, fixed at `run` and recorded with
 *  the container, so that `exec` applies the same (as docker exec does). */
export interface SecurityConfig {
  /** --privileged: every capability, no seccomp filter (and no masking of /proc, no device rules). */
  privileged: boolean;
  /** The capabilities kept, in the CAP_ form, in the order of their numbers. */
  capabilities: string[];
  /** --security-opt no-new-privileges: execve(2) grants nothing new (set-user-ID, file caps). */
  noNewPrivileges: boolean;
  seccomp: SeccompSetting;
}

/** docker's defaults: what a container gets without any of the flags. */
export function defaultSecurity(): SecurityConfig {
  return { privileged: false, capabilities: sortByNumber(DEFAULT_CAPABILITIES), noNewPrivileges: false, seccomp: 'default' };
}

/** The number of the host kernel's last capability: a kernel older than ours knows fewer. */
function lastCapability(): number {
  return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
}

/** Every capability this kernel has and we have a name for: what ALL and --privileged mean. */
function allCapabilities(): string[] {
  return CAPABILITIES.slice(0, lastCapability() + 1);
}

function sortByNumber(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => numberOf(a) - numberOf(b));
}

function numberOf(name: string): number {
  return (CAPABILITIES as readonly string[]).indexOf(name);
}

/** A mask with the bit of every capability named. */
export function capabilityMask(names: readonly string[]): bigint {
  return names.reduce((mask, name) => mask | (1n << BigInt(numberOf(name))), 0n);
}

/** "sys_admin", "CAP_SYS_ADMIN", "Sys_Admin" → CAP_SYS_ADMIN; "all" → ALL; as docker does
 *  (NormalizeLegacyCapabilities), unknown names are refused. */
function normalizeCapability(text: string, flag: string): string {
  const upper = text.toUpperCase();
  if (upper === 'ALL') return upper;
  const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  const number = numberOf(name);
  if (number === -1) throw new UserError(`invalid ${flag} "${text}": unknown capability (see capabilities(7); ALL means every one)`);
  if (number > lastCapability()) throw new UserError(`invalid ${flag} "${text}": this kernel has no ${name} (its last is ${CAPABILITIES[lastCapability()] ?? lastCapability()})`);
  return name;
}

/** The capabilities a container keeps, by docker's rules (moby's caps.TweakCapabilities):
 *  --privileged gives all of them; --cap-add ALL gives all but those dropped; --cap-drop ALL
 *  keeps only those added; otherwise the default set, minus the drops, plus the adds. Unlike
 *  docker, names are checked with --privileged too: a typo is never silently accepted. */
export function resolveCapabilities(add: string[], drop: string[], privileged: boolean): string[] {
  const adds = add.map((name) => normalizeCapability(name, '--cap-add'));
  const drops = drop.map((name) => normalizeCapability(name, '--cap-drop'));
  if (privileged) return allCapabilities();
  if (adds.includes('ALL')) return allCapabilities().filter((name) => !drops.includes(name));
  if (drops.includes('ALL')) return sortByNumber(adds);
  return sortByNumber([...DEFAULT_CAPABILITIES.filter((name) => !drops.includes(name)), ...adds]);
}

/** Go's strconv.ParseBool, which docker uses for no-new-privileges=VALUE. */
const BOOLEANS: Record<string, boolean> = { 1: true, t: true, T: true, true: true, TRUE: true, True: true, 0: false, f: false, F: false, false: false, FALSE: false, False: false };

/** The security flags of `run`, checked before anything is created. A seccomp profile is a
 *  file on the host: the engine reads it here, and the child stage, in the container's root,
 *  gets it parsed. */
export function parseSecurityOptions(values: { 'cap-add'?: string[]; 'cap-drop'?: string[]; privileged?: boolean; 'security-opt'?: string[] }): SecurityConfig {
  let noNewPrivileges = false;
  let seccomp: SeccompSetting = 'default';
  for (const option of values['security-opt'] ?? []) {
    if (option === 'no-new-privileges') {
      noNewPrivileges = true;
      continue;
    }
    // KEY=VALUE, or docker's older KEY:VALUE.
    const [, key, value = ''] = /^([^=:]*)[=:](.*)$/.exec(option) ?? [];
    if (key === 'no-new-privileges' && value in BOOLEANS) noNewPrivileges = BOOLEANS[value]!;
    else if (key === 'seccomp' && value !== '') seccomp = seccompSetting(value);
    else throw new UserError(`invalid --security-opt "${option}": use no-new-privileges[=true|false], seccomp=unconfined or seccomp=PROFILE.json`);
  }
  const privileged = values.privileged === true;
  const capabilities = resolveCapabilities(values['cap-add'] ?? [], values['cap-drop'] ?? [], privileged);
  // As docker: a privileged container has no filter, whatever --security-opt says.
  return { privileged, capabilities, noNewPrivileges, seccomp: privileged ? 'unconfined' : seccomp };
}

/** seccomp=unconfined, seccomp=builtin (docker's name for its default), or a profile's path. */
function seccompSetting(value: string): SeccompSetting {
  if (value === 'unconfined') return 'unconfined';
  if (value === 'builtin') return 'default';
  let json: string;
  try {
    json = readFileSync(value, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `seccomp profile not found: ${value}` : `cannot read seccomp profile ${value}: ${code ?? String(err)}`);
  }
  return parseSeccompProfile(json, resolve(value));
}

// ---------------------------------------------------------------- child stage, before execve

/** Step 1, while we are still the engine's root: drop from the bounding set every capability
 *  the container does not keep, and empty the ambient set. The bounding set is what root's
 *  program gets at execve(2), and once dropped no set-user-ID program or file capability can
 *  bring a capability back. Dropping takes CAP_SETPCAP, which the steps after may take away. */
export function limitBoundingSet(security: SecurityConfig): void {
  const kept = capabilityMask(security.capabilities);
  let bounding = 0n;
  // Every number the kernel knows, up to the first it calls invalid: ours may not all be its.
  for (let cap = 0; ; cap++) {
    const present = inBoundingSet(cap);
    if (present === null) break;
    if (!present) continue; // already gone (the engine's own bounding set lacked it)
    if (kept & (1n << BigInt(cap))) bounding |= 1n << BigInt(cap);
    else dropFromBoundingSet(cap, CAPABILITIES[cap] ?? String(cap), security.privileged ? 'not kept' : 'not in the container\'s set: no program it runs can ever have it');
  }
  traceStep(`bounding set now ${formatCapMask(bounding)}`, 'what root\'s program will get at execve(2): compare CapBnd in /proc/self/status');
  clearAmbientCapabilities('the ambient set would hand capabilities to a non-root program across execve(2)');
}

/** Step 3, after setuid(2): this thread's effective, permitted and inheritable sets.
 *  - Root keeps the container's set: under no_new_privs, execve(2) gives no more than the
 *    thread holds here (a file's capabilities included).
 *  - Another user keeps nothing (docker: "drop capabilities in the way execve does"); under
 *    no_new_privs that is also what a file's capabilities are then cut down to.
 *  - Inheritable is emptied: at execve, root's program would get it on top of the bounding set.
 *  One exception: loading a seccomp filter (the last step) takes no_new_privs, or CAP_SYS_ADMIN
 *  in the effective set (seccomp(2): else an unprivileged process could load a filter that
 *  fools a set-user-ID program it then runs, say by faking success for setuid). Without
 *  no_new_privs, docker's default, this thread keeps CAP_SYS_ADMIN for that one call; execve(2)
 *  right after computes the program's sets from the bounding set (root) or from nothing (any
 *  other user), so the program never has it. PR_SET_KEEPCAPS, set before setuid(2), is what
 *  left a non-root thread a permitted set to take it from. */
export function setThreadCapabilities(security: SecurityConfig, uid: number): void {
  const have = capget('what setuid(2) left this thread').permitted;
  const kept = uid === 0 ? capabilityMask(security.capabilities) : 0n;
  const forFilter = security.seccomp !== 'unconfined' && !security.noNewPrivileges ? 1n << BigInt(numberOf('CAP_SYS_ADMIN')) : 0n;
  // A capability the engine itself lacks cannot be given (capset(2) would refuse it).
  const permitted = (kept | forFilter) & have;
  const why = uid === 0 ? 'root keeps the container\'s set' : 'a non-root user keeps no capability';
  capset({ effective: permitted, permitted, inheritable: 0n }, forFilter & ~kept ? `${why}; CAP_SYS_ADMIN only until the seccomp filter is loaded: execve(2) drops it` : why);
}
