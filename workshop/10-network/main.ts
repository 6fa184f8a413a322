/** Chapter 10 · network: chapter 09's engine, whose containers get a network: a veth pair into
 *  a bridge, an address, a default route, NAT to the outside and published ports (-p).
 *  New here: netlink.ts (links, addresses and routes as rtnetlink messages), network.ts
 *  (addresses, ports, the nftables NAT table, /etc/hosts and resolv.conf), --network and -p on
 *  `run`, PORTS in `ps`, and the `network prune` verb.
 *  Lesson: docs/10-network.md
 *  Run:    ./nutshell 10 run -d -p 8080:80 127.0.0.1:5000/nutshell/busybox httpd -f -p 80 -h /etc
 *          curl -s 127.0.0.1:8080/hostname */
import { statSync } from 'node:fs';
import { hostname as hostHostname, constants as os } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { runProgram, verb, type ValuesOf } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import { containerInit, enterContainer, execInContainer, generateId, parseVolume, runContainer, startMonitor, type ContainerConfig } from './container.ts';
import { parseSecurityOptions } from './capabilities.ts';
import { detectCgroups, type Limits } from './cgroups.ts';
// The store, the registry client and what makes and sends images are imported by the verbs
// that use them (`await import`), not here: the child stage is this same program, and it would
// otherwise load an HTTP and TLS client, tar and gzip at every start, only to use none of them.
import type { PullOptions } from './image.ts';
import { escapeCommand } from './escapes.ts';
import { parseNetworkMode, parsePublish, prepareHostNetwork, pruneNetwork, type NetworkSpec } from './network.ts';
import { readChanges } from './overlay.ts';
import { formatReference, parseReference } from './reference.ts';
import { parsePlatform } from './platform.ts';
import type { ImageConfig } from './registry.ts';
import { killContainer, listTable, printLogs, removeContainer, stopContainer } from './lifecycle.ts';
import { findRunning, readState } from './state.ts';
import { createContainerDirs, findContainerDirs, removeContainerDirs, type ContainerDirs } from './storage.ts';
import type { Store } from './store.ts';
import { formatBytes, parseCpus, parseMemory, parsePidsLimit } from './units.ts';

const REGISTRY_OPTIONS = {
  platform: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  credentials: { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
} as const;

const LIMIT_OPTIONS = {
  memory: { type: 'string', short: 'm' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  stats: { type: 'boolean' },
} as const;

const SECURITY_OPTIONS = {
  'cap-add': { type: 'string', multiple: true },
  'cap-drop': { type: 'string', multiple: true },
  privileged: { type: 'boolean' },
  'security-opt': { type: 'string', multiple: true },
} as const;

const RUN_OPTIONS = {
  ...REGISTRY_OPTIONS,
  entrypoint: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  workdir: { type: 'string', short: 'w' },
  user: { type: 'string', short: 'u' },
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
  rm: { type: 'boolean' },
  ...LIMIT_OPTIONS,
  detach: { type: 'boolean', short: 'd' },
  volume: { type: 'string', short: 'v', multiple: true },
  interactive: { type: 'boolean', short: 'i' },
  tty: { type: 'boolean', short: 't' },
  ...SECURITY_OPTIONS,
  network: { type: 'string' },
  publish: { type: 'string', short: 'p', multiple: true },
} as const;

/** `escape` takes the options of `run`, to try a demo with a defence turned off (--privileged,
 *  say), and names, runs and removes its container itself: those options are not among them. */
const { detach: _detach, name: _name, rm: _rm, interactive: _interactive, tty: _tty, ...ESCAPE_RUN_OPTIONS } = RUN_OPTIONS;
const ESCAPE_OPTIONS = {
  ...ESCAPE_RUN_OPTIONS,
  list: { type: 'boolean' },
  print: { type: 'boolean' },
  'host-dir': { type: 'string' },
} as const;

/** --entrypoint as runSpec takes it: one word, as docker's (its arguments are the command's),
 *  and "" for no entrypoint at all. */
function entrypointOf(values: { entrypoint?: string }): string[] | undefined {
  return values.entrypoint === undefined ? undefined : [values.entrypoint];
}

/** --platform, credentials and insecure registries, as the registry client takes them. */
function pullOptions(values: ValuesOf<typeof REGISTRY_OPTIONS> & { quiet?: boolean }): PullOptions {
  return {
    platform: values.platform === undefined ? undefined : parsePlatform(values.platform),
    username: values.username,
    password: values.password,
    credentialsFile: values.credentials,
    insecureRegistries: values['insecure-registry'],
    quiet: values.quiet === true,
  };
}

/** --stop-timeout S: how long a container has to end after SIGTERM, checked before anything runs. */
function parseStopTimeout(text: string | undefined): number | undefined {
  const seconds = text === undefined ? undefined : Number(text);
  if (seconds !== undefined && !(seconds >= 0)) throw new UserError(`invalid --stop-timeout "${text}": give seconds, e.g. 10`);
  return seconds;
}

/** --memory 64m --cpus 0.5 --pids-limit 50, checked before anything is created. */
function parseLimits(values: ValuesOf<typeof LIMIT_OPTIONS>): Limits {
  return {
    memoryBytes: values.memory === undefined ? undefined : parseMemory(values.memory),
    cpus: values.cpus === undefined ? undefined : parseCpus(values.cpus),
    pidsMax: values['pids-limit'] === undefined ? undefined : parsePidsLimit(values['pids-limit']),
  };
}

/** Open the store for one operation, and close it whatever happens. */
async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
  const { Store } = await import('./store.ts');
  const store = await Store.open();
  try {
    return await work(store);
  } finally {
    store.close();
  }
}

/** The verbs: each one's usage line, options and code. The usage text is made from this table. */
const VERBS = {
  pull: verb({
    args: '[REGISTRY OPTIONS] [-q] <image>',
    about: 'fetch an image from its registry into the store',
    options: { ...REGISTRY_OPTIONS, quiet: { type: 'boolean', short: 'q' } },
    positionals: ['image'],
    run: async ({ values, positionals: { image } }) => {
      const { pullImage } = await import('./image.ts');
      const { name, digest } = await withStore((store) => pullImage(store, image, pullOptions(values)));
      process.stdout.write(values.quiet ? `${name}\n` : `Digest: ${digest}\nPulled ${name}\n`);
      return 0;
    },
  }),
  images: verb({
    args: '',
    about: 'list the images in the store',
    options: {},
    positionals: [],
    run: () => withStore(async (store) => {
      process.stdout.write('REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n');
      for (const image of store.listImages()) {
        const ref = parseReference(image.ref);
        const repository = `${ref.registry}/${ref.repository}`;
        process.stdout.write(`${repository}\t${ref.tag ?? ref.digest}\t${image.configDigest.slice(7, 19)}\t${image.created}\t${formatBytes(image.size)}\n`);
      }
      return 0;
    }),
  }),
  rmi: verb({
    args: '<image>',
    about: 'remove an image (layers other images use stay)',
    options: {},
    positionals: ['image'],
    run: ({ positionals: { image } }) => withStore(async (store) => {
      const ref = formatReference(parseReference(image));
      if (!store.getImage(ref)) throw new UserError(`no image ${ref} in the store`);
      const removed = await store.removeImage(ref);
      process.stdout.write(`Untagged: ${ref}\nDeleted: ${removed.layers.length} layers, ${removed.blobs.length} blobs\n`);
      return 0;
    }),
  }),
  run: verb({
    args: '[-d] [-i] [-t] [--rm] [--name N] [-v HOST:CTR[:ro]] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [--cap-add CAP] [--cap-drop CAP] [--privileged] [--security-opt OPT] [--network bridge|none|host] [-p [IP:]HOST:CTR[/udp]] [REGISTRY OPTIONS] <image> [command...]',
    about: 'run the image (pulled first when it is not in the store)',
    options: RUN_OPTIONS,
    positionals: ['image'],
    command: 'optional',
    run: async ({ values, positionals: { image }, command }) => {
      const name = values.name;
      if (name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new UserError(`invalid container name "${name}": use letters, digits, _ . -`);
      const stopTimeout = parseStopTimeout(values['stop-timeout']);
      const id = generateId();
      const network: NetworkSpec = { mode: parseNetworkMode(values.network), ports: (values.publish ?? []).map(parsePublish) };
      if (network.ports.length > 0 && network.mode !== 'bridge') throw new UserError(`-p needs --network bridge: with --network ${network.mode} there is no container address to send the port to`);
      if (network.mode === 'bridge') await prepareHostNetwork(network.ports);
      // --network host shares the host's network, and docker gives it the host's name too.
      const hostname = values.hostname ?? (network.mode === 'host' ? hostHostname() : id);
      const limits = parseLimits(values);
      const volumes = (values.volume ?? []).map(parseVolume);
      const security = parseSecurityOptions(values);
      if (values.detach && values.tty) throw new UserError('-d and -t together are not supported: a detached container has no terminal to attach');
      const { config, dirs } = await withStore(async (store) => {
        const { pullMissingImage, runSpec } = await import('./image.ts');
        let ref = formatReference(parseReference(image));
        // Not in the store: pull it first, with progress bars on a terminal, silently otherwise.
        if (!store.getImage(ref)) ref = await pullMissingImage(store, image, { ...pullOptions(values), quiet: !process.stderr.isTTY });
        const imageConfig = store.readJSON<ImageConfig>(store.getImage(ref)!.configDigest);
        const spec = runSpec(imageConfig, command, { entrypoint: entrypointOf(values), env: values.env, workdir: values.workdir, user: values.user });
        spec.security = security; // recorded in the container's config.json with the rest: `exec` applies it too
        spec.network = network;
        const dirs = createContainerDirs({ id, name, image: ref, lowerDirs: store.layerDirs(ref), ...spec, hostname, created: new Date().toISOString() });
        const { upperDir, workDir } = dirs;
        // --rm: the upper dir goes when the container ends, so it needs no syncing, not even
        // when the overlay is unmounted (overlay.ts, mountVolatile).
        const volatile = values.rm === true;
        const config: ContainerConfig = { rootfs: dirs.mergedDir, layers: { lowerDirs: dirs.spec.lowerDirs, upperDir, workDir, volatile }, ...spec, hostname, stopTimeout, limits, stats: values.stats === true, detached: values.detach === true, tty: values.tty === true, volumes, autoRemove: values.rm === true };
        return { config, dirs };
      });
      return values.detach ? runDetached(config, dirs) : runUntilExit(config, dirs);
    },
  }),
  ps: verb({
    args: '[-a]',
    about: 'running containers (-a: all of them)',
    options: { all: { type: 'boolean', short: 'a' } },
    positionals: [],
    run: ({ values }) => {
      process.stdout.write(listTable(values.all === true));
      return 0;
    },
  }),
  logs: verb({
    args: '[-f] <ctr>',
    about: 'what a detached container printed (-f: follow)',
    options: { follow: { type: 'boolean', short: 'f' } },
    positionals: ['container'],
    run: async ({ values, positionals: { container } }) => {
      await printLogs(findContainerDirs(container), values.follow === true);
      return 0;
    },
  }),
  exec: verb({
    args: '[-i] [-t] <ctr> <command> [args...]',
    about: 'run a command inside a running container (-t: on a terminal)',
    options: { interactive: { type: 'boolean', short: 'i' }, tty: { type: 'boolean', short: 't' } },
    positionals: ['container'],
    command: 'required',
    run: ({ values, positionals: { container }, command }) => {
      const { dirs, state } = findRunning(container);
      // The container's capabilities, no_new_privs and seccomp filter, as docker exec does: a
      // process entering the container gets no more than the one it started with.
      const spec = { argv: command, env: dirs.spec.env, workdir: dirs.spec.workdir, user: dirs.spec.user, security: dirs.spec.security };
      return execInContainer(state.pid, detectCgroups().open(state.cgroupId), spec, values.tty === true);
    },
  }),
  stats: verb({
    args: '<ctr>',
    about: 'what a running container uses',
    options: {},
    positionals: ['container'],
    run: ({ positionals: { container } }) => {
      const usage = detectCgroups().open(findRunning(container).state.cgroupId).usage();
      const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
      process.stdout.write(`NAME\tCPU TIME\tMEM PEAK\tMEM LIMIT\tPIDS\tOOM KILLED\n`);
      process.stdout.write(`${container}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      return 0;
    },
  }),
  stop: verb({
    args: '[-t SECONDS] <ctr>',
    about: 'SIGTERM, then SIGKILL after -t seconds (default 10)',
    options: { time: { type: 'string', short: 't' } },
    positionals: ['container'],
    run: async ({ values, positionals: { container } }) => {
      const seconds = values.time === undefined ? 10 : Number(values.time);
      if (!(seconds >= 0)) throw new UserError(`invalid -t "${values.time}": give seconds, e.g. 10`);
      await stopContainer(findRunning(container).dirs, seconds);
      process.stdout.write(`${container}\n`);
      return 0;
    },
  }),
  kill: verb({
    args: '[-s SIGNAL] <ctr>',
    about: 'send a signal (default SIGKILL)',
    options: { signal: { type: 'string', short: 's' } },
    positionals: ['container'],
    run: ({ values, positionals: { container } }) => {
      const signal = `SIG${(values.signal ?? 'KILL').toUpperCase().replace(/^SIG/, '')}` as NodeJS.Signals;
      if (!(signal in os.signals)) throw new UserError(`unknown signal "${values.signal}"`);
      killContainer(findContainerDirs(container), signal);
      process.stdout.write(`${container}\n`);
      return 0;
    },
  }),
  diff: verb({
    args: '<ctr>',
    about: 'what the container added (A), changed (C) and deleted (D)',
    options: {},
    positionals: ['container'],
    run: ({ positionals: { container } }) => {
      const dirs = findContainerDirs(container);
      for (const change of readChanges(dirs.upperDir, dirs.spec.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
      return 0;
    },
  }),
  commit: verb({
    args: '[-m MSG] [--pause=false] <ctr> <image>',
    about: 'make the container\'s changes a new image (one more layer), pausing it meanwhile',
    // docker's spelling, --pause=false: a string, since a boolean option takes no "=false".
    options: { message: { type: 'string', short: 'm' }, pause: { type: 'string' } },
    positionals: ['container', 'image'],
    run: async ({ values, positionals: { container, image } }) => {
      if (values.pause !== undefined && values.pause !== 'true' && values.pause !== 'false') {
        throw new UserError(`invalid --pause "${values.pause}": use --pause=false to commit without pausing the container`);
      }
      const dirs = findContainerDirs(container);
      const state = readState(dirs);
      // A running container is frozen while its upper dir is read (its cgroup, made by run).
      const pause = values.pause !== 'false' && state.status === 'running' ? detectCgroups().open(state.cgroupId!) : undefined;
      const { commitContainer } = await import('./commit.ts');
      const { name, manifestDigest } = await withStore((store) =>
        commitContainer(store, { upperDir: dirs.upperDir, baseRef: dirs.spec.image, newRef: image, comment: values.message, pause }));
      process.stdout.write(`${name}\n${manifestDigest}\n`);
      return 0;
    },
  }),
  import: verb({
    args: '<dir> <image>',
    about: 'make an image of one layer from a root filesystem directory',
    options: {},
    positionals: ['dir', 'image'],
    run: async ({ positionals: { dir, image } }) => {
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`not a directory: ${dir}`);
      const { commitContainer } = await import('./commit.ts');
      const { name } = await withStore((store) => commitContainer(store, { upperDir: dir, newRef: image, comment: `imported from ${dir}` }));
      process.stdout.write(`${name}\n`);
      return 0;
    },
  }),
  tag: verb({
    args: '<image> <new name>',
    about: 'give an image a second name',
    options: {},
    positionals: ['image', 'newName'],
    run: async ({ positionals: { image, newName } }) => {
      const { tagImage } = await import('./commit.ts');
      process.stdout.write(`${await withStore((store) => tagImage(store, image, newName))}\n`);
      return 0;
    },
  }),
  push: verb({
    args: '[REGISTRY OPTIONS] [-q] <image>',
    about: 'send an image to its registry',
    options: { ...REGISTRY_OPTIONS, quiet: { type: 'boolean', short: 'q' } },
    positionals: ['image'],
    run: async ({ values, positionals: { image } }) => {
      const name = formatReference(parseReference(image));
      const { pushImage } = await import('./push.ts');
      const { digest } = await withStore((store) => pushImage(store, name, pullOptions(values)));
      process.stdout.write(`${name}: digest: ${digest}\n`);
      return 0;
    },
  }),
  rm: verb({
    args: '[-f] <ctr>',
    about: 'delete a stopped container (-f: kill it first)',
    options: { force: { type: 'boolean', short: 'f' } },
    positionals: ['container'],
    run: async ({ values, positionals: { container } }) => {
      await removeContainer(findContainerDirs(container), values.force === true);
      process.stdout.write(`${container}\n`);
      return 0;
    },
  }),
  inspect: verb({
    args: '<image|ctr>',
    about: 'everything known about an image or a container, as JSON',
    options: {},
    positionals: ['target'],
    run: async ({ positionals: { target } }) => {
      let found: unknown;
      try {
        const dirs = findContainerDirs(target);
        found = { ...dirs.spec, state: readState(dirs), dir: dirs.dir };
      } catch {
        found = await withStore(async (store) => {
          const name = formatReference(parseReference(target));
          const image = store.getImage(name);
          if (!image) throw new UserError(`no container or image named "${target}"`);
          return { name, ...image, config: store.readJSON(image.configDigest), manifest: store.readJSON(image.manifestDigest) };
        });
      }
      process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      return 0;
    },
  }),
  network: verb({
    args: 'prune',
    about: 'remove the bridge and the NAT table when no container uses them, and what killed engines left',
    options: {},
    positionals: ['action'],
    run: async ({ positionals: { action } }) => {
      if (action !== 'prune') throw new UserError(`unknown network action "${action}": the one action is prune`);
      const removed = await pruneNetwork();
      process.stdout.write(removed.length > 0 ? removed.map((what) => `removed ${what}\n`).join('') : 'nothing to remove\n');
      return 0;
    },
  }),
  escape: verb({
    args: '[--list] [--print] [--host-dir DIR] [RUN OPTIONS] <demo> <image>',
    about: 'try an escape that works against chapter 08 (--list: which; --print: its script)',
    options: ESCAPE_OPTIONS,
    // <demo> and <image> are read by escapeCommand: --list needs neither, --print no image.
    positionals: [],
    command: 'optional',
    run: ({ values, command }) => escapeCommand(ESCAPE_OPTIONS, values, command),
  }),
};

/** `run -d`: start the monitor, wait until the container runs, print its id and return. */
async function runDetached(config: ContainerConfig, dirs: ContainerDirs): Promise<number> {
  const monitor = startMonitor(config, dirs);
  let monitorEnded = false;
  monitor.once('exit', () => (monitorEnded = true));
  while (readState(dirs).status === 'created' && !monitorEnded) await sleep(20);
  if (readState(dirs).status === 'created') {
    // The set-up failed before the command started: its one-line reason is in the log.
    const { readFileSync } = await import('node:fs');
    const reason = readFileSync(dirs.logFile, 'utf8').trim().split('\n').pop() ?? 'unknown error';
    removeContainerDirs(dirs);
    throw new UserError(reason.replace(/^nutshell: /, ''));
  }
  process.stdout.write(`${dirs.spec.id}\n`);
  return 0;
}

/** The monitor of a detached container: the engine of `run`, in the background. */
async function monitorContainer(arg: { config: ContainerConfig; id: string }): Promise<number> {
  return runUntilExit(arg.config, findContainerDirs(arg.id));
}

/** Run the container to its end; with --rm, remove it then. */
async function runUntilExit(config: ContainerConfig, dirs: ContainerDirs): Promise<number> {
  try {
    return await runContainer(config, dirs);
  } finally {
    if (config.autoRemove) removeContainerDirs(dirs);
  }
}

runMain(() =>
  runProgram({
    name: 'chapter 10',
    verbs: VERBS,
    globalOptions: {
      root: { type: 'string', shown: '--root DIR', apply: (dir) => void (process.env.NUTSHELL_ROOT = String(dir)) },
    },
    // The child stages: this same program, re-executed by the engine (see container.ts).
    stages: { init: containerInit, exec: enterContainer, monitor: monitorContainer },
    footer: `<ctr> is a container's name, its id, or a prefix of its id that no other container has.
REGISTRY OPTIONS: --platform OS/ARCH[/VARIANT] --username U --password P --credentials FILE
                  --insecure-registry HOST (plain HTTP; localhost and 127.0.0.1 always are)
The store and containers live under --root, or NUTSHELL_ROOT, default /var/lib/nutshell.`,
  }, process.argv.slice(2), enableTrace));
