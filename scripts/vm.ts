/** Tooling: `npm run -s vm -- [--timeout SECONDS] COMMAND…` runs COMMAND in a small virtual
 *  machine whose kernel mounts cgroup v2 only, and exits with its exit code. It is how the
 *  cgroup chapters meet a real cgroup2 kernel on machines that mount cgroup v1 (these ones).
 *
 *  The guest is Debian's kernel (linux-image-amd64) under qemu (qemu-system-x86), emulated
 *  (`-accel tcg`: a KVM guest hangs early in boot on these nested machines), with 2 vCPUs and
 *  2 GiB. Its root is the host's root, shared read-only over 9p, so Node, the project and its
 *  node_modules need no copying; the guest has its own tmpfs on /tmp, /run and /var/tmp (a working directory in one of them is bound back in), its
 *  own /proc, /sys and /dev, and cgroup2 alone on /sys/fs/cgroup (with nsdelegate, as systemd mounts it). The command runs as root in
 *  the current directory with PATH, HOME, TERM and the NUTSHELL_* variables of the caller;
 *  its standard input is empty, and its stdout and stderr are pipes.
 *
 *  How the pieces travel:
 *    - a small initramfs (busybox-static, the virtio and 9p modules, /init below) is built once
 *      under build/vm/ and again when the kernel, its modules or busybox change; each run adds
 *      a second archive with its own job script (the kernel unpacks archives laid end to end);
 *    - three serial ports, each a Unix socket on this side: ttyS0 is the command's stdout,
 *      ttyS1 its stderr, ttyS2 the status line (`exit N`, or `error MESSAGE` when the guest
 *      could not run the command). The status has a port of its own, so nothing the command
 *      prints can be taken for it. The kernel's own console is on none of them.
 *  Exit codes: the command's; 124 when it ran out of time; 125 when the VM itself failed
 *  (qemu or the kernel missing, the guest stopped without a status), with one line
 *  `nutshell vm: …` on stderr. NUTSHELL_VM_DEBUG=1 sends the kernel's messages to stderr.  */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './project.mjs';

const QEMU = 'qemu-system-x86_64';
const MEMORY = '2G';
const CPUS = 2;
const DEFAULT_TIMEOUT_SECONDS = 3600;
const CACHE_DIR = join(PROJECT_ROOT, 'build', 'vm');
const BUSYBOX = '/bin/busybox';
/** The modules that mount the host's root: virtio over PCI, and 9p over virtio. Their own
 *  dependencies (virtio_ring, netfs, fscache, …) come from the kernel's modules.dep. */
const ROOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p'];
/** The variables the command gets from the caller, besides NUTSHELL_*. */
const PASSED_ENV = ['PATH', 'HOME', 'TERM'];

/** A failure of the VM itself (not of the command): one line, exit code 125. */
class VmError extends Error {}

// ---------------------------------------------------------------- the guest's two stages

/** Stage 1, the initramfs's /init (busybox sh): load the modules, mount the host's root
 *  read-only with the guest's own filesystems on it, and switch_root into it to run the job.
 *  Any failure is reported on the status port, and the machine powers off. */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
stty -F /dev/ttyS2 raw -echo 2>/dev/null
fail() { echo "error $*" >/dev/ttyS2; poweroff -f; sleep 60; }
while read -r module; do
  insmod "/modules/$module" || fail "insmod $module failed"
done </modules/order
mkdir -p /newroot
# cache=loose: the share is read-only for the guest, and caching its pages makes Node's many
# small reads of node_modules affordable under emulation.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 host0 /newroot || fail "mount of the host's root over 9p failed"
mount -t tmpfs -o mode=1777 tmp /newroot/tmp || fail "mount of tmpfs on /tmp failed"
mount -t tmpfs -o mode=1777 vartmp /newroot/var/tmp || fail "mount of tmpfs on /var/tmp failed"
mount -t tmpfs -o mode=755 run /newroot/run || fail "mount of tmpfs on /run failed"
mount --move /dev /newroot/dev || fail "moving /dev failed"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t proc proc /newroot/proc || fail "mount of /proc failed"
mount -t sysfs sysfs /newroot/sys || fail "mount of /sys failed"
# nsdelegate, as systemd mounts it on Debian, Ubuntu and Fedora: a cgroup namespace is a
# delegation boundary, so a process inside one may not write its namespace root's limits.
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "mount of cgroup2 on /sys/fs/cgroup failed"
# The job's working directory may be in the host's /tmp, /var/tmp or /run, which the tmpfs above
# hide: bind it back at its own path, read-only like the rest (a plain bind of the share does not
# carry the mounts made on it since).
workdir=$(cat /workdir)
case "$workdir" in
  /tmp/*|/var/tmp/*|/run/*)
    mkdir -p /host "/newroot$workdir"
    mount --bind /newroot /host && mount --bind "/host$workdir" "/newroot$workdir" || fail "binding the working directory $workdir failed"
    ;;
esac
mkdir -p /newroot/run/nutshell-vm
cp /job.sh /newroot/run/nutshell-vm/job.sh || fail "copying the job failed"
exec switch_root /newroot /bin/sh /run/nutshell-vm/job.sh
fail "switch_root failed"
`;

/** Single quotes for the shell: the word exactly as given. */
const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** Stage 2, the job (run by the host's /bin/sh as PID 1 of the guest): the command with only
 *  the variables passed, its output on the ports, then its status, then power off. The command
 *  writes to pipes that `cat` copies to the ports, not to the ports themselves: a serial port is
 *  a terminal, and a program that sees one behaves otherwise (chalk colours its output, as it
 *  would not under a test runner on the host). Both copies end before the status is written,
 *  and a serial port's last close waits until its bytes are sent, so the status comes after
 *  the last byte of output. */
function jobScript(argv: string[], cwd: string, env: Record<string, string>): string {
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${quote(value)}`);
  return `stty -F /dev/ttyS0 raw -echo; stty -F /dev/ttyS1 raw -echo; stty -F /dev/ttyS2 raw -echo
report() { echo "$*" >/dev/ttyS2; echo o >/proc/sysrq-trigger; sleep 60; }
cd ${quote(cwd)} 2>/dev/null || report "error the working directory ${cwd.replaceAll('"', '')} cannot be entered in the guest"
# The device nodes whose first open loads a module (/dev/loop-control, /dev/net/tun, /dev/fuse…),
# as a distribution's boot makes them (kmod static-nodes, for systemd-tmpfiles): the kernel
# loads such a module when its node is opened, and no udev runs here. modules.devname lists
# them, one per line: "loop loop-control c10:237".
devnames=/lib/modules/$(uname -r)/modules.devname
[ -r "$devnames" ] && while read -r module name numbers; do
  case "$module" in ''|'#'*) continue ;; esac
  type=$(printf %.1s "$numbers"); numbers=\${numbers#?}
  [ -e "/dev/$name" ] && continue
  mkdir -p "$(dirname "/dev/$name")" && mknod -m 600 "/dev/$name" "$type" "\${numbers%:*}" "\${numbers#*:}"
done <"$devnames"
pipes=/run/nutshell-vm
mkfifo $pipes/stdout $pipes/stderr || report "error mkfifo failed in the guest"
cat $pipes/stdout >/dev/ttyS0 & stdout_copy=$!
cat $pipes/stderr >/dev/ttyS1 & stderr_copy=$!
env -i ${assignments.join(' ')} ${argv.map(quote).join(' ')} </dev/null >$pipes/stdout 2>$pipes/stderr
status=$?
wait $stdout_copy $stderr_copy
report "exit $status"
`;
}

// ---------------------------------------------------------------- the initramfs

interface CpioEntry {
  name: string;
  mode: number; // type and permission bits, as in stat(2)
  data?: Buffer;
  rdev?: [number, number];
}

/** The "newc" cpio format, the one the kernel unpacks: per entry a 110-byte ASCII header,
 *  the name with its NUL, the data, each padded to 4 bytes; a last entry named TRAILER!!!. */
function cpio(entries: CpioEntry[]): Buffer {
  const pad = (length: number) => Buffer.alloc((4 - (length % 4)) % 4);
  const parts: Buffer[] = [];
  let ino = 1;
  for (const entry of [...entries, { name: 'TRAILER!!!', mode: 0 }] as CpioEntry[]) {
    const data = entry.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${entry.name}\0`);
    const fields = [ino++, entry.mode, 0, 0, 1, 0, data.length, 0, 0, entry.rdev?.[0] ?? 0, entry.rdev?.[1] ?? 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

const DIR = 0o040755;
const FILE = 0o100644;
const EXECUTABLE = 0o100755;
const CHAR_DEVICE = 0o020600;

interface Kernel {
  version: string;
  image: string;
  modules: string; // /lib/modules/<version>
}

/** The newest kernel image under /boot that has its modules installed, or the one that
 *  NUTSHELL_VM_KERNEL names (modules from /lib/modules/<the version in its name>). */
function findKernel(): Kernel {
  const wanted = process.env.NUTSHELL_VM_KERNEL;
  const images = wanted ? [wanted] : readdirSync('/boot').filter((name) => name.startsWith('vmlinuz-')).map((name) => join('/boot', name)).sort().reverse();
  for (const image of images) {
    const version = image.replace(/^.*vmlinuz-/, '');
    const modules = join('/lib/modules', version);
    if (existsSync(image) && existsSync(join(modules, 'modules.dep'))) return { version, image, modules };
  }
  throw new VmError(wanted
    ? `no kernel at ${wanted} with its modules under /lib/modules (NUTSHELL_VM_KERNEL)`
    : 'no kernel in /boot with its modules under /lib/modules: apt-get install linux-image-amd64');
}

/** The module files for ROOT_MODULES, each after the ones it depends on (modules.dep). */
function modulesInOrder(kernel: Kernel): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(kernel.modules, 'modules.dep'), 'utf8').split('\n')) {
    const [file, rest] = line.split(':');
    if (file && rest !== undefined) deps.set(file, rest.split(' ').filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((file) => [file.replace(/^.*\//, '').replace(/\.ko(\..*)?$/, ''), file]));
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    for (const dep of deps.get(file) ?? []) visit(dep);
    order.push(file);
  };
  for (const name of ROOT_MODULES) {
    const file = byName.get(name) ?? byName.get(name.replaceAll('_', '-'));
    if (!file) throw new VmError(`the kernel ${kernel.version} has no module ${name} (built in kernels are not supported)`);
    visit(file);
  }
  return order;
}

/** The cached initramfs for this kernel, built when missing or when its inputs changed. */
function initramfs(kernel: Kernel): string {
  if (!existsSync(BUSYBOX)) throw new VmError(`no ${BUSYBOX}: apt-get install busybox-static`);
  const modules = modulesInOrder(kernel);
  const inputs = [kernel.image, BUSYBOX, ...modules.map((file) => join(kernel.modules, file))];
  const key = createHash('sha256')
    .update(INIT)
    .update(JSON.stringify(inputs.map((path) => [path, statSync(path).size, statSync(path).mtimeMs])))
    .digest('hex')
    .slice(0, 16);
  const path = join(CACHE_DIR, `initramfs-${kernel.version}-${key}.cpio`);
  if (existsSync(path)) return path;

  const moduleNames = modules.map((file) => file.replace(/^.*\//, ''));
  const archive = cpio([
    { name: 'bin', mode: DIR },
    { name: 'bin/busybox', mode: EXECUTABLE, data: readFileSync(BUSYBOX) },
    { name: 'dev', mode: DIR },
    { name: 'dev/console', mode: CHAR_DEVICE, rdev: [5, 1] },
    { name: 'proc', mode: DIR },
    { name: 'sys', mode: DIR },
    { name: 'init', mode: EXECUTABLE, data: Buffer.from(INIT) },
    { name: 'modules', mode: DIR },
    { name: 'modules/order', mode: FILE, data: Buffer.from(moduleNames.map((name) => `${name}\n`).join('')) },
    ...modules.map((file, i) => ({ name: `modules/${moduleNames[i]}`, mode: FILE, data: readFileSync(join(kernel.modules, file)) })),
  ]);
  mkdirSync(CACHE_DIR, { recursive: true });
  for (const old of readdirSync(CACHE_DIR)) if (old.startsWith('initramfs-')) rmSync(join(CACHE_DIR, old), { force: true });
  writeFileSync(`${path}.${process.pid}.tmp`, archive);
  renameSync(`${path}.${process.pid}.tmp`, path);
  return path;
}

/** The kernel uncompressed, when it can be: an x86 kernel with a PVH entry point
 *  (CONFIG_PVH) boots straight from its ELF image, which saves the guest about 8 s of
 *  decompressing itself under emulation. Debian's bzImage holds an xz stream; `xz` unpacks it
 *  once (cached). Otherwise the compressed image boots as it is. */
function bootableKernel(kernel: Kernel): string {
  const config = join('/boot', `config-${kernel.version}`);
  const pvh = existsSync(config) && /^CONFIG_PVH=y$/m.test(readFileSync(config, 'utf8'));
  const { size, mtimeMs } = statSync(kernel.image);
  const key = createHash('sha256').update(JSON.stringify([kernel.image, size, mtimeMs])).digest('hex').slice(0, 16);
  const path = join(CACHE_DIR, `vmlinux-${kernel.version}-${key}`);
  if (!pvh) return kernel.image;
  if (existsSync(path)) return path;
  const image = readFileSync(kernel.image);
  const start = image.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])); // xz's magic
  if (start < 0) return kernel.image;
  const unpacked = spawnSync('xz', ['-dc', '--single-stream'], { input: image.subarray(start), maxBuffer: 1 << 30 });
  if (unpacked.status !== 0 || !unpacked.stdout.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) return kernel.image;
  mkdirSync(CACHE_DIR, { recursive: true });
  for (const old of readdirSync(CACHE_DIR)) if (old.startsWith('vmlinux-')) rmSync(join(CACHE_DIR, old), { force: true });
  writeFileSync(`${path}.${process.pid}.tmp`, unpacked.stdout);
  renameSync(`${path}.${process.pid}.tmp`, path);
  return path;
}

// ---------------------------------------------------------------- the run

interface Options {
  timeoutSeconds: number;
  argv: string[];
}

const USAGE = 'usage: npm run -s vm -- [--timeout SECONDS] COMMAND [ARG…]';

/** Options come before the command; everything from the command on is the command's. */
function parseArguments(args: string[]): Options {
  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const arg = args[i]!;
    if (arg === '--') { i++; break; }
    const value = arg.startsWith('--timeout=') ? arg.slice('--timeout='.length) : arg === '--timeout' ? args[++i] : undefined;
    if (value === undefined) throw new VmError(`unknown option ${arg} (${USAGE})`);
    timeoutSeconds = Number(value);
    if (!(timeoutSeconds > 0)) throw new VmError(`--timeout wants a number of seconds, not ${value}`);
  }
  const argv = args.slice(i);
  if (argv.length === 0) throw new VmError(USAGE);
  return { timeoutSeconds, argv };
}

function findQemu(): void {
  const found = spawnSync(QEMU, ['--version'], { stdio: 'ignore' });
  if (found.error) throw new VmError(`${QEMU} not found on PATH: apt-get install qemu-system-x86`);
}

/** A Unix socket that qemu connects a serial port to; `onData` gets what the guest writes. */
function serialSocket(path: string, onData: (chunk: Buffer) => void): { server: Server; closed: Promise<void> } {
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const server = createServer((socket: Socket) => {
    socket.on('data', onData);
    socket.on('close', () => resolveClosed());
    socket.on('error', () => resolveClosed());
  });
  server.listen(path);
  return { server, closed };
}

async function runInVm(options: Options): Promise<number> {
  findQemu();
  const kernel = findKernel();
  const base = initramfs(kernel);
  const image = bootableKernel(kernel);

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && (PASSED_ENV.includes(name) || name.startsWith('NUTSHELL_'))) env[name] = value;
  }
  const dir = mkdtempSync(join(tmpdir(), 'nutshell-vm-'));
  try {
    const job = cpio([
      { name: 'job.sh', mode: FILE, data: Buffer.from(jobScript(options.argv, process.cwd(), env)) },
      { name: 'workdir', mode: FILE, data: Buffer.from(process.cwd()) },
    ]);
    const initrd = join(dir, 'initrd');
    writeFileSync(initrd, Buffer.concat([readFileSync(base), job]));

    let status = '';
    const ports = [
      serialSocket(join(dir, 'stdout'), (chunk) => process.stdout.write(chunk)),
      serialSocket(join(dir, 'stderr'), (chunk) => process.stderr.write(chunk)),
      serialSocket(join(dir, 'status'), (chunk) => (status += chunk.toString())),
    ];
    await Promise.all(ports.map(({ server }) => new Promise((resolve) => server.once('listening', resolve))));

    const debug = process.env.NUTSHELL_VM_DEBUG === '1';
    // No console= at all: the kernel's console is not on any of our ports (only in debug).
    const cmdline = debug ? 'console=ttyS1 loglevel=7 panic=-1' : 'quiet loglevel=0 panic=-1';
    const qemu = spawn(QEMU, [
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-accel', 'tcg', '-cpu', 'max', '-smp', String(CPUS), '-m', MEMORY,
      '-kernel', image, '-initrd', initrd, '-append', cmdline,
      // multidevs=remap: the host's root spans several filesystems; their inode numbers are
      // remapped so that they do not collide in the guest (and qemu does not warn about it).
      '-virtfs', 'local,path=/,mount_tag=host0,security_model=passthrough,readonly=on,multidevs=remap',
      ...['stdout', 'stderr', 'status'].flatMap((name) => ['-chardev', `socket,id=${name},path=${join(dir, name)}`, '-serial', `chardev:${name}`]),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let qemuOutput = '';
    qemu.stdout.on('data', (chunk) => (qemuOutput += chunk));
    qemu.stderr.on('data', (chunk) => (qemuOutput += chunk));

    let timedOut = false;
    let interrupted = false;
    const stop = () => qemu.kill('SIGKILL');
    const timer = setTimeout(() => { timedOut = true; stop(); }, options.timeoutSeconds * 1000);
    const interrupt = () => { interrupted = true; stop(); };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    const qemuExit = await new Promise<number | null>((resolve) => {
      qemu.on('error', () => resolve(null));
      qemu.on('close', (code) => resolve(code));
    });
    clearTimeout(timer);
    // The sockets end when qemu does; what they still hold is the end of the output.
    await Promise.race([Promise.all(ports.map(({ closed }) => closed)), new Promise((resolve) => setTimeout(resolve, 2000))]);
    for (const { server } of ports) server.close();

    if (interrupted) return 130;
    if (timedOut) {
      process.stderr.write(`nutshell vm: the command did not finish within ${options.timeoutSeconds} s (--timeout)\n`);
      return 124;
    }
    const line = status.replaceAll('\r', '').split('\n').find((l) => /^(exit \d+|error .*)$/.test(l));
    if (line?.startsWith('exit ')) return Number(line.slice(5));
    if (line?.startsWith('error ')) throw new VmError(line.slice(6));
    const said = qemuOutput.trim().split('\n').pop();
    throw new VmError(`the guest stopped without reporting an exit code (qemu exited with ${qemuExit}${said ? `: ${said}` : ''}; NUTSHELL_VM_DEBUG=1 shows the kernel's messages)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = await runInVm(parseArguments(process.argv.slice(2)));
} catch (err) {
  if (!(err instanceof VmError)) throw err;
  process.stderr.write(`nutshell vm: ${err.message}\n`);
  process.exitCode = 125;
}
