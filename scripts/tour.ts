/** Tooling: `npm start`, the guided tour. It builds the sample rootfs (offline, from
 *  busybox-static), then runs each chapter that exists on it, explaining what to look for. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import chalk from 'chalk';
import { buildRootfs, PROJECT_ROOT } from './build-rootfs.ts';
import { chapterCommand, chapterProgram, listChapters } from './chapters.ts';
import { startLocalRegistry } from './local-registry.ts';

interface Step {
  say: string;
  args: string[];
  /** Steps that push and pull run only when Debian's docker-registry is installed. */
  needsRegistry?: boolean;
  /** Run this step with another chapter's program (a later one that has the verb). */
  chapter?: string;
  /** The command as a learner types it, when `args` hold something long (an escape's script). */
  shown?: string;
  /** `args` is a program of the host (curl), not the chapter's. */
  onHost?: boolean;
  /** Runs in the background until the chapter's steps are done (chapter 11's daemon): the next
   *  step starts once SOCKET exists. */
  background?: boolean;
  /** `args` is the docker CLI: the step runs only when it is installed. */
  needsDocker?: boolean;
}

/** What each chapter shows. `ROOTFS` is replaced by the sample rootfs, `REGISTRY` by the
 *  address of a local registry the tour starts, `ELSEWHERE` by a second, empty store,
 *  `TOURDIR` by the tour's own directory, `SOCKET` by the socket of chapter 11's daemon, and an argument `ESCAPE_SCRIPT <demo>` by the script
 *  that chapter 09's `escape <demo> --print` gives. */
const TOUR: Record<string, { title: string; steps: Step[] }> = {
  '01-chroot': {
    title: 'chroot(2): a process with another "/"',
    steps: [
      { say: 'The command sees the rootfs as "/": busybox and a few directories, not the host.', args: ['run', 'ROOTFS', 'ls', '/'] },
      { say: 'But it still has the host\'s hostname: chroot changes paths, nothing else.', args: ['run', 'ROOTFS', 'hostname'] },
      { say: 'Every syscall, with its reason: --trace.', args: ['run', '--trace', 'ROOTFS', 'true'] },
      { say: 'And root walks straight out of a bare chroot. Chapter 02 closes this door.', args: ['escape', 'ROOTFS'] },
    ],
  },
  '02-namespaces': {
    title: 'namespaces and pivot_root(2): its own hostname, PIDs, mounts and network',
    steps: [
      { say: 'Its own hostname, and the command is PID 1: ps sees nothing of the host.', args: ['run', '--hostname', 'tour', 'ROOTFS', 'sh', '-c', 'hostname; ps'] },
      { say: 'Its own mount table (only what the container mounted) and network (only lo).', args: ['run', 'ROOTFS', 'sh', '-c', 'cat /proc/self/mountinfo | cut -d" " -f5,9 ; ls /sys/class/net'] },
      { say: 'The chapter 01 escape now ends where it started: pivot_root left no way up.', args: ['escape', 'ROOTFS'] },
    ],
  },
  '03-cgroups': {
    title: 'cgroups: limits on memory, CPU and processes',
    steps: [
      { say: 'A memory hog under --memory 32m: the kernel\'s OOM killer ends it at the limit (exit 137).', args: ['run', '--memory', '32m', 'ROOTFS', 'sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'] },
      { say: 'A fork bomb under --pids-limit 20: fork(2) fails inside, and the host does not notice.', args: ['run', '--pids-limit', '20', 'ROOTFS', 'sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 1'] },
      { say: '--stats: what the container used, read from its cgroup before the engine removes it.', args: ['run', '--stats', '--cpus', '0.5', 'ROOTFS', 'sh', '-c', 'timeout 1 sh -c "while :; do :; done"; echo spun for 1 s'] },
    ],
  },
  '04-unionfs': {
    title: 'overlayfs: read-only layers, and the writes kept apart',
    steps: [
      { say: 'The rootfs is now a read-only layer. The container deletes and writes freely...', args: ['run', '--name', 'tour-04', '--layer', 'ROOTFS', 'sh', '-c', 'rm /etc/os-release; echo hello > /etc/motd; ls /etc'] },
      { say: '...and diff shows what it changed, from its upper dir alone: the layer is untouched.', args: ['diff', 'tour-04'] },
      { say: 'commit turns those changes into an OCI layer tar: deletions become .wh. files.', args: ['commit', 'tour-04', 'build/tour-04.tar'] },
      { say: 'rm deletes the container and everything it wrote.', args: ['rm', 'tour-04'] },
    ],
  },
  '05-images': {
    title: 'images: pulled from a registry into a store, run with their own settings',
    steps: [
      { say: 'An image made from the sample rootfs (with chapter 08\'s import: chapter 05 only pulls): one layer, a config, a manifest, all named by digest.', args: ['import', 'ROOTFS', 'nutshell/busybox'], chapter: '08-distribution' },
      { say: 'The store lists it.', args: ['images'] },
      { say: 'Run it with docker\'s options: -e adds to the image\'s Env, -w sets the working directory, -u the user.', args: ['run', '--rm', '-e', 'GREETING=hello', '-w', '/tmp', '-u', 'nobody', 'nutshell/busybox', 'sh', '-c', 'echo $GREETING from $(pwd) as $(id -un)'] },
      { say: 'A named container keeps what it wrote, on top of the image\'s layers...', args: ['run', '--name', 'tour-05', 'nutshell/busybox', 'sh', '-c', 'echo "made in the tour" > /etc/motd'] },
      { say: '...diff shows it, and rm deletes it.', args: ['diff', 'tour-05'] },
      { say: 'rm', args: ['rm', 'tour-05'] },
      { say: 'Push the image to a real registry (Debian\'s docker-registry, on 127.0.0.1), with chapter 08...', args: ['tag', 'nutshell/busybox', 'REGISTRY/tour/busybox:v1'], chapter: '08-distribution', needsRegistry: true },
      { say: 'push', args: ['push', 'REGISTRY/tour/busybox:v1'], chapter: '08-distribution', needsRegistry: true },
      { say: '...and pull it into an empty store, as another machine would: digests checked, layers unpacked safely.', args: ['--root', 'ELSEWHERE', 'pull', 'REGISTRY/tour/busybox:v1'], needsRegistry: true },
    ],
  },
  '06-lifecycle': {
    title: 'the lifecycle: containers that run in the background and outlive the engine\'s command',
    steps: [
      { say: 'A detached container: run -d prints its id; a monitor waits for it in the background.', args: ['run', '-d', '--name', 'ticker', 'nutshell/busybox', 'sh', '-c', 'while sleep 1; do date; done'] },
      { say: 'ps lists it...', args: ['ps'] },
      { say: '...exec runs a command inside it, as PID 1 sees it...', args: ['exec', 'ticker', 'ps'] },
      { say: '...logs shows what it printed, and stop ends it (SIGTERM, then SIGKILL).', args: ['logs', 'ticker'] },
      { say: 'stop', args: ['stop', '-t', '1', 'ticker'] },
      { say: 'ps -a still lists stopped containers, until rm.', args: ['ps', '-a'] },
      { say: 'rm', args: ['rm', 'ticker'] },
    ],
  },
  '07-terminals': {
    title: 'terminals: a pseudo-terminal of the container\'s own',
    steps: [
      { say: 'With -t the command gets a terminal in the container\'s own devpts: tty names it, and it is the only one there.', args: ['run', '-t', '--rm', 'nutshell/busybox', 'sh', '-c', 'tty; ls /dev/pts'] },
      { say: 'Without -t, its stdout is a pipe or your terminal\'s file, not a terminal of its own.', args: ['run', '--rm', 'nutshell/busybox', 'sh', '-c', 'tty; true'] },
    ],
  },
  '08-distribution': {
    title: 'distribution: commit, tag and push',
    steps: [
      { say: 'A container changes a file...', args: ['run', '--name', 'tour-08', 'nutshell/busybox', 'sh', '-c', 'echo "made in the tour" > /etc/motd'] },
      { say: '...and commit makes those changes a new image: the same layer, plus one.', args: ['commit', '-m', 'a motd', 'tour-08', 'nutshell/busybox:motd'] },
      { say: 'Both images share their first layer in the store.', args: ['images'] },
      { say: 'Push the new image: the registry has the first layer already, so only the new one travels.', args: ['tag', 'nutshell/busybox:motd', 'REGISTRY/tour/busybox:motd'], needsRegistry: true },
      { say: 'push', args: ['push', 'REGISTRY/tour/busybox:motd'], needsRegistry: true },
      { say: 'Pulled into the second store, it runs there as it did here.', args: ['--root', 'ELSEWHERE', 'run', '--rm', 'REGISTRY/tour/busybox:motd', 'cat', '/etc/motd'], needsRegistry: true },
    ],
  },
  '09-security': {
    title: 'security: the container\'s root is no longer the host\'s root',
    steps: [
      {
        say: 'Chapter 08\'s container is root with every capability: it remounts its read-only volume read-write and writes into the host\'s directory.',
        args: ['run', '--rm', '-v', 'TOURDIR/volume:/data:ro', 'nutshell/busybox', 'sh', '-c', 'ESCAPE_SCRIPT ro-volume'],
        chapter: '08-distribution',
        shown: 'run --rm -v TOURDIR/volume:/data:ro nutshell/busybox sh -c "$(./nutshell 09 escape ro-volume --print)"',
      },
      { say: 'The same escape against chapter 09: mount(2) needs CAP_SYS_ADMIN, which it dropped, and its seccomp filter refuses mount(2) anyway.', args: ['escape', 'ro-volume', 'nutshell/busybox'] },
      { say: 'The other escapes it stops, and what stops each one.', args: ['escape', '--list'] },
    ],
  },
  '10-network': {
    title: 'network: a veth pair, a bridge, an address, NAT and a published port',
    steps: [
      { say: 'A web server in a container, its port 80 published on the host\'s port 8080.', args: ['run', '-d', '--name', 'tour-web', '-p', '8080:80', 'nutshell/busybox', 'sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www'] },
      { say: 'The host reaches it on 127.0.0.1:8080: an nftables rule sends the packets on to the container\'s address.', args: ['curl', '-s', '127.0.0.1:8080'], onHost: true },
      { say: 'Inside: eth0, made over rtnetlink with its own address, and a default route via the bridge.', args: ['exec', 'tour-web', 'sh', '-c', 'ip -4 addr show eth0 | grep inet; ip route'] },
      { say: 'ps shows the published port.', args: ['ps'] },
      { say: 'rm takes the veth, the address and the rule away; network prune the bridge and the NAT table.', args: ['rm', '-f', 'tour-web'] },
      { say: 'network prune', args: ['network', 'prune'] },
    ],
  },
  '11-daemon': {
    title: 'daemon: the Docker Engine API on a Unix socket, driven by the docker CLI',
    steps: [
      { say: 'The engine as a server: the daemon listens on a Unix socket, mode 0660 (whoever may open it is root here).', args: ['daemon', '--host', 'unix://SOCKET'], background: true },
      { say: 'The real docker CLI is only a client: it sends create, attach, wait and start to our daemon.', args: ['docker', '-H', 'unix://SOCKET', 'run', '--rm', '--network', 'none', 'nutshell/busybox', 'echo', 'hello from docker run'], onHost: true, needsDocker: true },
      { say: 'Our own CLI is a client too, with --host.', args: ['--host', 'unix://SOCKET', 'images'] },
    ],
  },
};

/** Chapter 10 changes the network it runs in (a bridge, IP forwarding, an nftables table): the
 *  tour gives it a network namespace of its own, so that your machine's stays as it was. */
const TOUR_NETNS = `nutshell-tour-${process.pid}`;
const NETWORK_CHAPTERS = ['10-network'];

function haveNetworkTools(): boolean {
  return ['ip', 'nft', 'curl'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0);
}

/** The script of one of chapter 09's escape demos, as `escape <demo> --print` gives it. */
function escapeScript(demo: string): string {
  const printed = spawnSync(process.execPath, [...chapterCommand(chapterProgram('09-security')).slice(1), 'escape', demo, '--print'], { encoding: 'utf8' });
  if (printed.status !== 0) throw new Error(`escape ${demo} --print failed: ${printed.stderr.trim()}`);
  return printed.stdout;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error(`${chalk.red('nutshell:')} the tour makes real containers and needs root: run it as root (sudo -i, then npm start)`);
    return 1;
  }
  console.log(chalk.bold('nutshell — a container engine built from scratch, one kernel mechanism per chapter\n'));
  let rootfs: string;
  try {
    rootfs = buildRootfs();
  } catch (err) {
    console.error(`${chalk.red('nutshell:')} ${(err as Error).message}`);
    return 1;
  }
  console.log(chalk.dim(`sample rootfs: ${relative(process.cwd(), rootfs)} (busybox-static and a few files)\n`));
  // The tour's containers and images live in build/, not in /var/lib/nutshell, and go at the end.
  const tourRoot = join(PROJECT_ROOT, 'build', 'tour');
  rmSync(tourRoot, { recursive: true, force: true });
  mkdirSync(join(tourRoot, 'volume'), { recursive: true }); // the host directory of chapter 09's escape
  const env = { ...process.env, NUTSHELL_ROOT: join(tourRoot, 'root'), NUTSHELL_STATE_DIR: join(tourRoot, 'run') };
  const registry = existsSync('/usr/bin/docker-registry') ? await startLocalRegistry() : undefined;
  // Chapter 11's daemon: an absolute path, since a socket's address is the path as given.
  const socket = join(tourRoot, 'docker.sock');
  const background: ChildProcess[] = [];
  const stopBackground = async () => {
    for (const child of background.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      await new Promise((ended) => child.once('exit', ended));
    }
  };
  const netns = haveNetworkTools() && spawnSync('ip', ['netns', 'add', TOUR_NETNS]).status === 0 ? TOUR_NETNS : undefined;
  if (netns) spawnSync('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
  try {
    for (const chapter of listChapters()) {
      const tour = TOUR[chapter];
      if (!tour) continue;
      console.log(chalk.bold.blue(`━━ Chapter ${chapter}: ${tour.title}`));
      const inOwnNetwork = NETWORK_CHAPTERS.includes(chapter);
      if (inOwnNetwork && !netns) {
        console.log(chalk.dim('\n  (skipped: this chapter needs the ip, nft and curl programs: apt-get install iproute2 nftables curl)\n'));
        continue;
      }
      if (inOwnNetwork) console.log(chalk.dim(`  (in a network namespace of the tour's own, ${netns}: your machine's network stays as it was)`));
      for (const step of tour.steps) {
        if (step.needsRegistry && !registry) {
          console.log(chalk.dim(`\n  (skipped: ${step.args[0]} needs Debian's docker-registry: apt-get install docker-registry)`));
          continue;
        }
        if (step.needsDocker && spawnSync('sh', ['-c', 'command -v docker'], { stdio: 'ignore' }).status !== 0) {
          console.log(chalk.dim('\n  (skipped: this step needs the docker CLI, a client only: apt-get install docker-cli)'));
          continue;
        }
        const expand = (a: string) => a.replace('ROOTFS', relative(process.cwd(), rootfs)).replace('REGISTRY', registry?.host ?? '')
          .replace('ELSEWHERE', relative(process.cwd(), join(tourRoot, 'elsewhere'))).replace('TOURDIR', relative(process.cwd(), tourRoot)).replace('SOCKET', socket);
        const args = step.args.map((a) => (a.startsWith('ESCAPE_SCRIPT ') ? escapeScript(a.slice('ESCAPE_SCRIPT '.length)) : expand(a)));
        if (step.say !== step.args[0]) console.log(`\n${chalk.yellow('▶')} ${step.say}`);
        const shown = step.shown ? expand(step.shown) : args.map((a) => (/[\s"$|;]/.test(a) ? `'${a}'` : a)).join(' ');
        const program = step.chapter ?? chapter;
        console.log(chalk.dim(step.onHost ? `  $ ${shown}` : `  $ ./nutshell ${program.slice(0, 2)} ${shown}`));
        const command = step.onHost ? args : [...chapterCommand(chapterProgram(program)), ...args];
        // nsenter, not `ip netns exec`, which would also mount a sysfs of its own over /sys and
        // hide /sys/fs/cgroup from the engine.
        const inNetns = inOwnNetwork ? ['nsenter', `--net=/run/netns/${netns}`, '--'] : [];
        const [file, ...rest] = [...inNetns, ...command];
        if (step.background) {
          background.push(spawn(file!, rest, { stdio: ['ignore', 'inherit', 'inherit'], cwd: process.cwd(), env }));
          for (let waited = 0; !existsSync(socket) && waited < 10_000; waited += 100) await sleep(100);
          continue;
        }
        const result = spawnSync(file!, rest, { stdio: 'inherit', cwd: process.cwd(), env });
        if (result.status !== 0) console.log(chalk.dim(`  (exit code ${result.status ?? result.signal})`));
      }
      await stopBackground();
      console.log('');
    }
  } finally {
    await stopBackground();
    const last = listChapters().at(-1)!;
    for (const name of ['ticker', 'tour-08']) spawnSync(process.execPath, [...chapterCommand(chapterProgram(last)).slice(1), 'rm', '-f', name], { stdio: 'ignore', env });
    if (netns) {
      spawnSync('nsenter', [`--net=/run/netns/${netns}`, '--', ...chapterCommand(chapterProgram('10-network')), 'rm', '-f', 'tour-web'], { stdio: 'ignore', env });
      spawnSync('ip', ['netns', 'del', netns]); // the bridge and the NAT table go with it
    }
    await registry?.stop();
    rmSync(tourRoot, { recursive: true, force: true });
  }
  console.log(chalk.bold('Read the lessons in docs/, one per chapter, and the code in chapters/.'));
  return 0;
}

process.exitCode = await main();
