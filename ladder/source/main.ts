//> ..chroot
//| /** Chapter 01 · chroot: run a command with another directory as its "/".
//|  *  New here: chroot(2), chdir(2), execve(2), and the re-exec of a child stage.
//|  *  Lesson: docs/01-chroot.md
//|  *  Run:    ./nutshell 01 run build/rootfs /bin/sh
//|  *          ./nutshell 01 escape build/rootfs       (why chroot is not enough) */
//< ..chroot
//> namespaces..namespaces
//| /** Chapter 02 · namespaces: run a command with its own hostname, PIDs, mounts, IPC and
//|  *  network, in a root it cannot walk out of.
//|  *  New here: unshare(2), setns(2), sethostname(2), mount(2), pivot_root(2), umount2(2),
//|  *  mknod(2), ioctl(SIOCSIFFLAGS), a sync pipe between the stages, and the `exec` verb.
//|  *  Lesson: docs/02-namespaces.md
//|  *  Run:    ./nutshell 02 run --name box build/rootfs /bin/sh
//|  *          ./nutshell 02 exec box ps          (from another terminal)
//|  *          ./nutshell 02 escape build/rootfs   (the chapter 01 escape, now failing) */
//< namespaces..namespaces
//> cgroups..cgroups
//| /** Chapter 03 · cgroups: chapter 02's container, with limits on memory, CPU and processes.
//|  *  New here: cgroups.ts (cgroup v1 and v2 behind one interface), units.ts (docker's units),
//|  *  the --memory, --cpus, --pids-limit and --stats options, and the `stats` verb.
//|  *  Lesson: docs/03-cgroups.md
//|  *  Run:    ./nutshell 03 run --memory 32m --cpus 0.5 --pids-limit 50 build/rootfs /bin/sh
//|  *          ./nutshell 03 stats box             (for a container started with --name box) */
//< cgroups..cgroups
//> unionfs..unionfs
//| /** Chapter 04 · union filesystems: chapter 03's container on read-only layers, with its
//|  *  writes kept apart in an upper directory by overlayfs.
//|  *  New here: overlay.ts (mount, diff, layer tar), storage.ts (each container's upper dir),
//|  *  --layer instead of a rootfs, and the `diff`, `commit` and `rm` verbs.
//|  *  Lesson: docs/04-unionfs.md
//|  *  Run:    ./nutshell 04 run --name box --layer build/rootfs /bin/sh
//|  *          ./nutshell 04 diff box    then    commit box box.tar    then    rm box */
//< unionfs..unionfs
//> ..unionfs
//| import { statSync } from 'node:fs';
//< ..unionfs
//> ..namespaces
//| import { runProgram, verb } from '../../lib/cli.ts';
//< ..namespaces
//> ..chroot
//| import { runMain } from '../../lib/errors.ts';
//< ..chroot
//> images..images
//| /** Chapter 05 · images: chapter 04's container, on the layers of an OCI image pulled from a
//|  *  real registry into a content-addressed store, running the image's own process.
//|  *  New here: reference.ts (image names), http.ts, auth.ts, platform.ts and registry.ts (the
//|  *  distribution protocol), store.ts and layer.ts (blobs by digest, layers unpacked once and
//|  *  safely), image.ts (pull, and the image config turned into a process), -e, -w, -u and --rm,
//|  *  and the `pull`, `images` and `rmi` verbs.
//|  *  Lesson: docs/05-images.md
//|  *  Run:    ./nutshell 05 pull 127.0.0.1:5000/busybox:latest
//|  *          ./nutshell 05 run --name box -e GREETING=hi 127.0.0.1:5000/busybox sh */
//< images..images
//> lifecycle..lifecycle
//| /** Chapter 06 · lifecycle: chapter 05's containers, kept from `run` until `rm` under an id and
//|  *  an optional name, and able to run in the background while the engine is gone.
//|  *  New here: storage.ts (containers/<id>), state.ts (running or exited, checked against the
//|  *  kernel), lifecycle.ts (stop, kill, rm, ps, logs), `run -d` with its monitor, -v volumes, and
//|  *  the `ps`, `logs`, `stop`, `kill` and `inspect` verbs.
//|  *  Lesson: docs/06-lifecycle.md
//|  *  Run:    ./nutshell 06 run -d --name web 127.0.0.1:5000/nutshell/busybox sh -c 'while sleep 1; do date; done'
//|  *          ./nutshell 06 ps;  ./nutshell 06 logs -f web;  ./nutshell 06 stop web */
//< lifecycle..lifecycle
//> terminals..terminals
//| /** Chapter 07 · terminals: chapter 06's engine, with a pseudo-terminal for `run -it` and
//|  *  `exec -it`, so that shells, editors and Ctrl-C inside a container work as on a console.
//|  *  New here: tty.ts (the pty pair, raw mode, window size), and -i and -t on `run` and `exec`.
//|  *  Lesson: docs/07-terminals.md
//|  *  Run:    ./nutshell 07 run -it --rm 127.0.0.1:5000/nutshell/busybox sh
//|  *          ./nutshell 07 exec -it web sh        (for a container started with -d --name web) */
//< terminals..terminals
//> distribution..distribution
//| /** Chapter 08 · distribution: chapter 07's engine, which now also makes images and sends them.
//|  *  New here: commit.ts (a container's changes, or a directory, as a new image layer; a running
//|  *  container frozen meanwhile), push.ts (the push side of the registry protocol), and the
//|  *  `commit`, `import`, `tag` and `push` verbs.
//|  *  Lesson: docs/08-distribution.md
//|  *  Run:    ./nutshell 08 import build/rootfs 127.0.0.1:5000/nutshell/busybox
//|  *          ./nutshell 08 push 127.0.0.1:5000/nutshell/busybox */
//< distribution..distribution
//> security..security
//| /** Chapter 09 · security: chapter 08's engine, whose containers' root may no longer do what
//|  *  the host's root does: fewer capabilities, no new privileges, a seccomp filter, masked /proc
//|  *  and /sys, device control, and an `exec` the container cannot reach through.
//|  *  Lesson: docs/09-security.md
//|  *  Run:    ./nutshell 09 run --rm 127.0.0.1:5000/nutshell/busybox grep Cap /proc/self/status */
//< security..security
//> network..network
//| /** Chapter 10 · network: chapter 09's engine, whose containers get a network: a veth pair into
//|  *  a bridge, an address, a default route, NAT to the outside and published ports (-p).
//|  *  New here: netlink.ts (links, addresses and routes as rtnetlink messages), network.ts
//|  *  (addresses, ports, the nftables NAT table, /etc/hosts and resolv.conf), --network and -p on
//|  *  `run`, PORTS in `ps`, and the `network prune` verb.
//|  *  Lesson: docs/10-network.md
//|  *  Run:    ./nutshell 10 run -d -p 8080:80 127.0.0.1:5000/nutshell/busybox httpd -f -p 80 -h /etc
//|  *          curl -s 127.0.0.1:8080/hostname */
//< network..network
//> daemon..
/** Chapter 11 · daemon: chapter 10's engine split in two, as docker is. `daemon` serves the
 *  Docker Engine API over HTTP on a Unix socket, and the real `docker` CLI drives it; each
 *  container runs under a small process of its own (chapter 06's monitor), so the daemon can
 *  restart without killing containers. With --host (or NUTSHELL_HOST) our own verbs are a
 *  client of it too.
 *  New here: daemon.ts (the socket, the HTTP server, version negotiation, errors),
 *  containers-api.ts and images-api.ts (the endpoints), create.ts (a container made apart from
 *  started), console.ts (following output, attaching, exec with streams; the monitor serves
 *  its terminal or stdin on console.sock, tty.ts), client.ts (our CLI as a client).
 *  Lesson: docs/11-daemon.md
 *  Run:    ./nutshell 11 daemon --host unix:///tmp/nutshell.sock &
 *          docker -H unix:///tmp/nutshell.sock run --rm 127.0.0.1:5000/nutshell/busybox echo hi */
//< daemon..
//> distribution..
import { statSync } from 'node:fs';
//< distribution..
//> lifecycle..security
//| import { constants as os } from 'node:os';
//< lifecycle..security
//> network..
import { hostname as hostHostname, constants as os } from 'node:os';
//< network..
//> lifecycle..
import { setTimeout as sleep } from 'node:timers/promises';
//< lifecycle..
//> cgroups..
//> ..network
//| import { runProgram, verb, type ValuesOf } from '../../lib/cli.ts';
//< ..network
//> daemon..
import { runProgram, verb, type ValuesOf, type Verb } from '../../lib/cli.ts';
//< daemon..
//< cgroups..
//> namespaces..
import { runMain, UserError } from '../../lib/errors.ts';
//< namespaces..
import { enableTrace } from '../../lib/trace.ts';
//> ..chroot
//| import { checkRootfs, containerInit, exitCodeOf, prepareContainer, runContainer, startChildStage } from './container.ts';
//< ..chroot
//> namespaces..unionfs
//| import {
  //> ..cgroups
  //| checkRootfs, containerInit, enterContainer, execInContainer, exitCodeOf, generateId, prepareContainer, runContainer, startChildStage,
  //< ..cgroups
  //> unionfs..
  //| checkLayer, containerInit, enterContainer, execInContainer, exitCodeOf, generateId, prepareContainer, runContainer, startChildStage,
  //< unionfs..
//| } from './container.ts';
//< namespaces..unionfs
//> ..unionfs
//| import { tryEscape, type EscapeConfig } from './escape.ts';
//< ..unionfs
//> images..images
//| import { containerInit, enterContainer, execInContainer, generateId, runContainer } from './container.ts';
//< images..images
//> lifecycle..
import { containerInit, enterContainer, execInContainer, generateId, parseVolume, runContainer, startMonitor, type ContainerConfig } from './container.ts';
//< lifecycle..
//> security..
import { parseSecurityOptions } from './capabilities.ts';
//< security..
//> cgroups..
import { detectCgroups, type Limits } from './cgroups.ts';
//< cgroups..
//> images..
// The store, the registry client and what makes and sends images are imported by the verbs
// that use them (`await import`), not here: the child stage is this same program, and it would
// otherwise load an HTTP and TLS client, tar and gzip at every start, only to use none of them.
import type { PullOptions } from './image.ts';
//< images..
//> security..
import { escapeCommand } from './escapes.ts';
//< security..
//> network..
import { parseNetworkMode, parsePublish, prepareHostNetwork, pruneNetwork, type NetworkSpec } from './network.ts';
//< network..
//> unionfs..terminals
//| import { readChanges, writeLayerTar } from './overlay.ts';
//< unionfs..terminals
//> distribution..
import { readChanges } from './overlay.ts';
//< distribution..
//> images..
import { formatReference, parseReference } from './reference.ts';
import { parsePlatform } from './platform.ts';
import type { ImageConfig } from './registry.ts';
//< images..
//> namespaces..images
//| import { claimName, findContainer } from './state.ts';
//< namespaces..images
//> unionfs..images
//| import { findContainerDirs, prepareContainerDirs, removeContainerDirs } from './storage.ts';
//< unionfs..images
//> namespaces..unionfs
//| import { CLONE, unshare } from './syscalls.ts';
//< namespaces..unionfs
//> lifecycle..
import { killContainer, listTable, printLogs, removeContainer, stopContainer } from './lifecycle.ts';
import { findRunning, readState } from './state.ts';
import { createContainerDirs, findContainerDirs, removeContainerDirs, type ContainerDirs } from './storage.ts';
//< lifecycle..
//> images..
import type { Store } from './store.ts';
//< images..
//> cgroups..
import { formatBytes, parseCpus, parseMemory, parsePidsLimit } from './units.ts';
//< cgroups..

//> images..
const REGISTRY_OPTIONS = {
  platform: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  credentials: { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
} as const;

//< images..
//> cgroups..
const LIMIT_OPTIONS = {
  memory: { type: 'string', short: 'm' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  stats: { type: 'boolean' },
} as const;

//< cgroups..
//> security..
const SECURITY_OPTIONS = {
  'cap-add': { type: 'string', multiple: true },
  'cap-drop': { type: 'string', multiple: true },
  privileged: { type: 'boolean' },
  'security-opt': { type: 'string', multiple: true },
} as const;

//< security..
//> unionfs..unionfs
//| const LAYER_OPTIONS = {
//|   layer: { type: 'string', multiple: true },
//| } as const;
//|
//< unionfs..unionfs
//> namespaces..
const RUN_OPTIONS = {
  //> unionfs..unionfs
  //| ...LAYER_OPTIONS,
  //< unionfs..unionfs
  //> images..
  ...REGISTRY_OPTIONS,
  entrypoint: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  workdir: { type: 'string', short: 'w' },
  user: { type: 'string', short: 'u' },
  //< images..
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
  //> images..
  rm: { type: 'boolean' },
  //< images..
  //> cgroups..
  ...LIMIT_OPTIONS,
  //< cgroups..
  //> lifecycle..
  detach: { type: 'boolean', short: 'd' },
  volume: { type: 'string', short: 'v', multiple: true },
  //< lifecycle..
  //> terminals..
  interactive: { type: 'boolean', short: 'i' },
  tty: { type: 'boolean', short: 't' },
  //< terminals..
  //> security..
  ...SECURITY_OPTIONS,
  //< security..
  //> network..
  network: { type: 'string' },
  publish: { type: 'string', short: 'p', multiple: true },
  //< network..
} as const;

//> security..
/** `escape` takes the options of `run`, to try a demo with a defence turned off (--privileged,
 *  say), and names, runs and removes its container itself: those options are not among them. */
const { detach: _detach, name: _name, rm: _rm, interactive: _interactive, tty: _tty, ...ESCAPE_RUN_OPTIONS } = RUN_OPTIONS;
const ESCAPE_OPTIONS = {
  ...ESCAPE_RUN_OPTIONS,
  list: { type: 'boolean' },
  print: { type: 'boolean' },
  'host-dir': { type: 'string' },
} as const;

//< security..
//> images..
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

//< images..
/** --stop-timeout S: how long a container has to end after SIGTERM, checked before anything runs. */
function parseStopTimeout(text: string | undefined): number | undefined {
  const seconds = text === undefined ? undefined : Number(text);
  if (seconds !== undefined && !(seconds >= 0)) throw new UserError(`invalid --stop-timeout "${text}": give seconds, e.g. 10`);
  return seconds;
}

//< namespaces..
//> cgroups..
/** --memory 64m --cpus 0.5 --pids-limit 50, checked before anything is created. */
function parseLimits(values: ValuesOf<typeof LIMIT_OPTIONS>): Limits {
  return {
    memoryBytes: values.memory === undefined ? undefined : parseMemory(values.memory),
    cpus: values.cpus === undefined ? undefined : parseCpus(values.cpus),
    pidsMax: values['pids-limit'] === undefined ? undefined : parsePidsLimit(values['pids-limit']),
  };
}

//< cgroups..
//> unionfs..unionfs
//| /** --layer <dir> [--layer <dir>...]: at least one, each an existing directory. */
//| function parseLayers(values: ValuesOf<typeof LAYER_OPTIONS>, usage: string): string[] {
//|   const layers = (values.layer ?? []).map(checkLayer);
//|   if (layers.length === 0) throw new UserError(`usage: ${usage}`);
//|   return layers;
//< unionfs..unionfs
//> images..network
//| /** Open the store for one operation, and close it whatever happens. */
//| async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
//|   const { Store } = await import('./store.ts');
//|   const store = await Store.open();
//|   try {
//|     return await work(store);
//|   } finally {
//|     store.close();
//|   }
//< images..network
//> unionfs..
//> ..network
//| }
//< ..network
//> daemon..
/** Open the store for one operation (store.ts: the daemon's endpoints open it the same way). */
async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
  return (await import('./store.ts')).withStore(work);
}
//< daemon..

//< unionfs..
/** The verbs: each one's usage line, options and code. The usage text is made from this table. */
const VERBS = {
  //> images..
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
  //< images..
  run: verb({
    //> ..chroot
    //| args: '<rootfs> <command> [args...]',
    //| about: 'run a command chrooted into <rootfs>',
    //| options: {},
    //< ..chroot
    //> namespaces..namespaces
    //| args: '[--hostname H] [--name N] [--stop-timeout S] <rootfs> <command> [args...]',
    //| about: 'run a command in new namespaces, rooted at <rootfs>',
    //< namespaces..namespaces
    //> cgroups..cgroups
    //| args: '[--hostname H] [--name N] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] <rootfs> <command> [args...]',
    //| about: 'run a command in new namespaces and a cgroup, rooted at <rootfs>',
    //< cgroups..cgroups
    //> unionfs..unionfs
    //| args: '[--hostname H] [--name N] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] --layer <dir> [--layer <dir>...] <command> [args...]',
    //| about: 'run a command on layers (the first --layer is the bottom one)',
    //< unionfs..unionfs
    //> images..images
    //| args: '[--rm] [--name N] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [REGISTRY OPTIONS] <image> [command...]',
    //< images..images
    //> lifecycle..lifecycle
    //| args: '[-d] [--rm] [--name N] [-v HOST:CTR[:ro]] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [REGISTRY OPTIONS] <image> [command...]',
    //< lifecycle..lifecycle
    //> terminals..distribution
    //| args: '[-d] [-i] [-t] [--rm] [--name N] [-v HOST:CTR[:ro]] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [REGISTRY OPTIONS] <image> [command...]',
    //< terminals..distribution
    //> security..security
    //| args: '[-d] [-i] [-t] [--rm] [--name N] [-v HOST:CTR[:ro]] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [--cap-add CAP] [--cap-drop CAP] [--privileged] [--security-opt OPT] [REGISTRY OPTIONS] <image> [command...]',
    //< security..security
    //> network..
    args: '[-d] [-i] [-t] [--rm] [--name N] [-v HOST:CTR[:ro]] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [--cap-add CAP] [--cap-drop CAP] [--privileged] [--security-opt OPT] [--network bridge|none|host] [-p [IP:]HOST:CTR[/udp]] [REGISTRY OPTIONS] <image> [command...]',
    //< network..
    //> images..
    about: 'run the image (pulled first when it is not in the store)',
    //< images..
    //> namespaces..
    options: RUN_OPTIONS,
    //< namespaces..
    //> ..cgroups
    //| positionals: ['rootfs'],
    //< ..cgroups
    //> unionfs..unionfs
    //| positionals: [],
    //< unionfs..unionfs
    //> ..unionfs
    //| command: 'required',
    //< ..unionfs
    //> ..chroot
    //| run: ({ positionals: { rootfs }, command }) => runContainer({ rootfs, argv: command }),
    //< ..chroot
    //> namespaces..cgroups
    //| run: ({ values, positionals: { rootfs }, command }) => {
    //< namespaces..cgroups
    //> unionfs..unionfs
    //| run: async ({ values, command }) => {
    //|   const layers = parseLayers(values, 'run [options] --layer <dir> [--layer <dir>...] <command> [args...]');
    //< unionfs..unionfs
    //> images..
    positionals: ['image'],
    command: 'optional',
    run: async ({ values, positionals: { image }, command }) => {
    //< images..
    //> namespaces..
      const name = values.name;
      //> ..images
      //| if (name) claimName(name);
      //< ..images
      //> lifecycle..network
      //| if (name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new UserError(`invalid container name "${name}": use letters, digits, _ . -`);
      //< lifecycle..network
      const stopTimeout = parseStopTimeout(values['stop-timeout']);
      //> ..cgroups
      //| const hostname = values.hostname ?? name ?? generateId();
      //< ..cgroups
      //> ..namespaces
      //| return runContainer({ rootfs, argv: command, hostname, name, stopTimeout });
      //< ..namespaces
      //> unionfs..images
      //| const id = generateId(); // an unnamed container's hostname and directory
      //| const hostname = values.hostname ?? name ?? id;
      //< unionfs..images
      //> lifecycle..network
      //| const id = generateId();
      //< lifecycle..network
      //> lifecycle..security
      //| const hostname = values.hostname ?? id;
      //< lifecycle..security
      //> network..
      const network: NetworkSpec = { mode: parseNetworkMode(values.network), ports: (values.publish ?? []).map(parsePublish) };
      //> network..network
      //| if (network.ports.length > 0 && network.mode !== 'bridge') throw new UserError(`-p needs --network bridge: with --network ${network.mode} there is no container address to send the port to`);
      //| if (network.mode === 'bridge') await prepareHostNetwork(network.ports);
      //| // --network host shares the host's network, and docker gives it the host's name too.
      //| const hostname = values.hostname ?? (network.mode === 'host' ? hostHostname() : id);
      //< network..network
      //< network..
      //> cgroups..
      const limits = parseLimits(values);
      //< cgroups..
      //> cgroups..cgroups
      //| return runContainer({ rootfs, argv: command, hostname, name, stopTimeout, limits, stats: values.stats === true });
      //< cgroups..cgroups
      //> unionfs..unionfs
      //| const dirs = prepareContainerDirs(name ?? id, layers);
      //< unionfs..unionfs
      //> images..images
      //| const { spec, lowerDirs } = await withStore(async (store) => {
      //< images..images
      //> lifecycle..
      const volumes = (values.volume ?? []).map(parseVolume);
      //> security..
      const security = parseSecurityOptions(values);
      //< security..
      //> terminals..network
      //| if (values.detach && values.tty) throw new UserError('-d and -t together are not supported: a detached container has no terminal to attach');
      //< terminals..network
      //> ..network
      //| const { config, dirs } = await withStore(async (store) => {
      //< ..network
      //< lifecycle..
      //> ..network
        //> images..
        //| const { pullMissingImage, runSpec } = await import('./image.ts');
        //| let ref = formatReference(parseReference(image));
        //| // Not in the store: pull it first, with progress bars on a terminal, silently otherwise.
        //| if (!store.getImage(ref)) ref = await pullMissingImage(store, image, { ...pullOptions(values), quiet: !process.stderr.isTTY });
        //| const imageConfig = store.readJSON<ImageConfig>(store.getImage(ref)!.configDigest);
        //| const spec = runSpec(imageConfig, command, { entrypoint: entrypointOf(values), env: values.env, workdir: values.workdir, user: values.user });
        //< images..
        //> security..
        //| spec.security = security; // recorded in the container's config.json with the rest: `exec` applies it too
        //< security..
        //> network..
        //| spec.network = network;
        //< network..
      //> images..images
      //|   return { spec, lowerDirs: store.layerDirs(ref) };
      //| });
      //| const dirs = prepareContainerDirs(name ?? id, lowerDirs);
      //| // An unnamed container's writes go with it; --rm takes a named one's too. Such an upper
      //| // dir needs no syncing, not even when the overlay is unmounted (overlay.ts, mountVolatile).
      //| const thrownAway = !name || values.rm === true;
      //< images..images
      //> unionfs..images
      //| try {
      //< unionfs..images
        //> unionfs..unionfs
        //| const { lowerDirs, upperDir, workDir } = dirs;
        //| return await runContainer({ rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir }, argv: command, hostname, name, stopTimeout, limits, stats: values.stats === true });
        //< unionfs..unionfs
        //> lifecycle..
        //| const dirs = createContainerDirs({ id, name, image: ref, lowerDirs: store.layerDirs(ref), ...spec, hostname, created: new Date().toISOString() });
        //< lifecycle..
        //> images..
        //| const { upperDir, workDir } = dirs;
        //< images..
        //> images..images
        //| return await runContainer({ rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir, volatile: thrownAway }, ...spec, hostname, name, stopTimeout, limits, stats: values.stats === true });
        //< images..images
      //> unionfs..images
      //| } finally {
        //> ..unionfs
        //| if (!name) removeContainerDirs(dirs); // an unnamed container's writes go with it
        //< ..unionfs
        //> images..
        //| if (thrownAway) removeContainerDirs(dirs);
        //< images..
      //| }
      //< unionfs..images
        //> lifecycle..
        //| // --rm: the upper dir goes when the container ends, so it needs no syncing, not even
        //| // when the overlay is unmounted (overlay.ts, mountVolatile).
        //| const volatile = values.rm === true;
        //< lifecycle..
        //> lifecycle..lifecycle
        //| const config: ContainerConfig = { rootfs: dirs.mergedDir, layers: { lowerDirs: dirs.spec.lowerDirs, upperDir, workDir, volatile }, ...spec, hostname, stopTimeout, limits, stats: values.stats === true, detached: values.detach === true, volumes, autoRemove: values.rm === true };
        //< lifecycle..lifecycle
        //> terminals..
        //| const config: ContainerConfig = { rootfs: dirs.mergedDir, layers: { lowerDirs: dirs.spec.lowerDirs, upperDir, workDir, volatile }, ...spec, hostname, stopTimeout, limits, stats: values.stats === true, detached: values.detach === true, tty: values.tty === true, volumes, autoRemove: values.rm === true };
        //< terminals..
      //< ..network
      //> lifecycle..
      //> ..network
        //| return { config, dirs };
      //| });
      //< ..network
      //> daemon..
      const { createContainer } = await import('./create.ts');
      const { config, dirs } = await createContainer({ image, command, name, entrypoint: entrypointOf(values), env: values.env, workdir: values.workdir, user: values.user, hostname: values.hostname, stopTimeout, limits, stats: values.stats === true, volumes, security, network, autoRemove: values.rm === true, detached: values.detach === true, tty: values.tty === true, interactive: values.interactive === true, pull: pullOptions(values) });
      //< daemon..
      return values.detach ? runDetached(config, dirs) : runUntilExit(config, dirs);
      //< lifecycle..
    },
    //< namespaces..
  }),
  //> lifecycle..
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
  //< lifecycle..
  //> namespaces..
  exec: verb({
    //> ..images
    //| args: '<name> <command> [args...]',
    //< ..images
    //> ..unionfs
    //| about: 'run a command inside the running container <name>',
    //< ..unionfs
    //> images..images
    //| about: 'run a command inside the running container <name>, as its process runs',
    //< images..images
    //> lifecycle..lifecycle
    //| args: '<ctr> <command> [args...]',
    //| about: 'run a command inside a running container',
    //< lifecycle..lifecycle
    //> ..lifecycle
    //| options: {},
    //< ..lifecycle
    //> ..images
    //| positionals: ['name'],
    //< ..images
    //> terminals..
    args: '[-i] [-t] <ctr> <command> [args...]',
    about: 'run a command inside a running container (-t: on a terminal)',
    options: { interactive: { type: 'boolean', short: 'i' }, tty: { type: 'boolean', short: 't' } },
    //< terminals..
    //> lifecycle..
    positionals: ['container'],
    //< lifecycle..
    command: 'required',
    //> ..namespaces
    //| run: ({ positionals: { name }, command }) => execInContainer(findContainer(name).pid, command),
    //< ..namespaces
    //> cgroups..images
    //| run: ({ positionals: { name }, command }) => {
    //|   const container = findContainer(name);
    //< cgroups..images
      //> cgroups..unionfs
      //| return execInContainer(container.pid, detectCgroups().open(container.cgroupId), command);
      //< cgroups..unionfs
      //> images..images
      //| const spec = { argv: command, env: container.env, workdir: container.workdir, user: container.user };
      //| return execInContainer(container.pid, detectCgroups().open(container.cgroupId), spec);
      //< images..images
    //> lifecycle..lifecycle
    //| run: ({ positionals: { container }, command }) => {
    //< lifecycle..lifecycle
    //> terminals..
    run: ({ values, positionals: { container }, command }) => {
    //< terminals..
      //> lifecycle..
      const { dirs, state } = findRunning(container);
      //> lifecycle..distribution
      //| const spec = { argv: command, env: dirs.spec.env, workdir: dirs.spec.workdir, user: dirs.spec.user };
      //< lifecycle..distribution
      //> security..
      // The container's capabilities, no_new_privs and seccomp filter, as docker exec does: a
      // process entering the container gets no more than the one it started with.
      const spec = { argv: command, env: dirs.spec.env, workdir: dirs.spec.workdir, user: dirs.spec.user, security: dirs.spec.security };
      //< security..
      //< lifecycle..
      //> lifecycle..lifecycle
      //| return execInContainer(state.pid, detectCgroups().open(state.cgroupId), spec);
      //< lifecycle..lifecycle
      //> terminals..
      return execInContainer(state.pid, detectCgroups().open(state.cgroupId), spec, values.tty === true);
      //< terminals..
    //> cgroups..
    },
    //< cgroups..
  }),
  //< namespaces..
  //> cgroups..
  stats: verb({
    //> ..images
    //| args: '<name>',
    //| about: 'what the running container <name> uses',
    //< ..images
    //> lifecycle..
    args: '<ctr>',
    about: 'what a running container uses',
    //< lifecycle..
    options: {},
    //> ..images
    //| positionals: ['name'],
    //| run: ({ positionals: { name } }) => {
    //|   const usage = detectCgroups().open(findContainer(name).cgroupId).usage();
    //< ..images
    //> lifecycle..
    positionals: ['container'],
    run: ({ positionals: { container } }) => {
      const usage = detectCgroups().open(findRunning(container).state.cgroupId).usage();
    //< lifecycle..
      const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
      process.stdout.write(`NAME\tCPU TIME\tMEM PEAK\tMEM LIMIT\tPIDS\tOOM KILLED\n`);
      //> ..images
      //| process.stdout.write(`${name}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      //< ..images
      //> lifecycle..
      process.stdout.write(`${container}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      //< lifecycle..
      return 0;
    },
  }),
  //< cgroups..
  //> lifecycle..
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
  //< lifecycle..
  //> unionfs..
  diff: verb({
  //< unionfs..
    //> unionfs..images
    //| args: '<name>',
    //| about: 'what container <name> added (A), changed (C) and deleted (D)',
    //< unionfs..images
    //> lifecycle..
    args: '<ctr>',
    about: 'what the container added (A), changed (C) and deleted (D)',
    //< lifecycle..
    //> unionfs..
    options: {},
    //< unionfs..
    //> unionfs..images
    //| positionals: ['name'],
    //| run: ({ positionals: { name } }) => {
    //|   const dirs = findContainerDirs(name);
    //|   for (const change of readChanges(dirs.upperDir, dirs.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
    //< unionfs..images
    //> lifecycle..
    positionals: ['container'],
    run: ({ positionals: { container } }) => {
      const dirs = findContainerDirs(container);
      for (const change of readChanges(dirs.upperDir, dirs.spec.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
    //< lifecycle..
  //> unionfs..
      return 0;
    },
  }),
  commit: verb({
  //< unionfs..
    //> unionfs..images
    //| args: '<name> <out.tar>',
    //| about: 'write the changes of <name> as an OCI layer tar',
    //< unionfs..images
    //> lifecycle..terminals
    //| args: '<ctr> <out.tar>',
    //| about: 'write the changes of the container as an OCI layer tar',
    //< lifecycle..terminals
  //> distribution..
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
  //< distribution..
    //> unionfs..
    options: {},
    //< unionfs..
    //> unionfs..images
    //| positionals: ['name', 'out'],
    //| run: ({ positionals: { name, out } }) => {
    //|   process.stdout.write(`${writeLayerTar(findContainerDirs(name).upperDir, out)}\n`);
    //< unionfs..images
    //> lifecycle..terminals
    //| positionals: ['container', 'out'],
    //| run: ({ positionals: { container, out } }) => {
    //|   process.stdout.write(`${writeLayerTar(findContainerDirs(container).upperDir, out)}\n`);
    //< lifecycle..terminals
    //> distribution..
    positionals: ['dir', 'image'],
    run: async ({ positionals: { dir, image } }) => {
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`not a directory: ${dir}`);
      const { commitContainer } = await import('./commit.ts');
      const { name } = await withStore((store) => commitContainer(store, { upperDir: dir, newRef: image, comment: `imported from ${dir}` }));
      process.stdout.write(`${name}\n`);
    //< distribution..
  //> unionfs..
      return 0;
    },
  }),
  //< unionfs..
  //> distribution..
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
  //< distribution..
  //> unionfs..
  rm: verb({
    //> ..images
    //| args: '<name>',
    //| about: 'delete a stopped container and everything it wrote',
    //< ..images
  //> lifecycle..
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
  //< lifecycle..
    options: {},
    //> ..images
    //| positionals: ['name'],
    //| run: ({ positionals: { name } }) => {
    //|   const dirs = findContainerDirs(name);
    //|   if (isRunning(name)) throw new UserError(`container "${name}" is running: stop it first`);
    //|   removeContainerDirs(dirs);
    //< ..images
    //> lifecycle..
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
    //< lifecycle..
      return 0;
    },
  }),
  //> network..
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
  //< network..
  //< unionfs..
  //> ..unionfs
  //| escape: verb({
    //> ..cgroups
    //| args: '<rootfs>',
    //< ..cgroups
    //> ..chroot
    //| about: 'show how root breaks out of a bare chroot',
    //< ..chroot
    //> unionfs..
    //| args: '--layer <dir> [--layer <dir>...]',
    //< unionfs..
    //> namespaces..
    //| about: 'try chapter 01\'s chroot escape from inside a container',
    //< namespaces..
    //> ..cgroups
    //| options: {},
    //| positionals: ['rootfs'],
    //| run: ({ positionals: { rootfs } }) => {
    //< ..cgroups
    //> unionfs..
    //| options: LAYER_OPTIONS,
    //| positionals: [],
    //| run: async ({ values }) => {
    //|   const layers = parseLayers(values, 'escape --layer <dir> [--layer <dir>...]');
    //|   const dirs = prepareContainerDirs(generateId(), layers);
    //< unionfs..
  //|     const { dev, ino } = statSync('/');
      //> ..chroot
      //| const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostRoot: { dev, ino } };
      //< ..chroot
      //> namespaces..namespaces
      //| const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostname: generateId(), hostRoot: { dev, ino } };
      //< namespaces..namespaces
      //> cgroups..cgroups
      //| const config: EscapeConfig = { rootfs: checkRootfs(rootfs), argv: [], hostname: generateId(), hostRoot: { dev, ino }, limits: {} };
      //< cgroups..cgroups
      //> unionfs..
      //| const { lowerDirs, upperDir, workDir } = dirs;
      //| const config: EscapeConfig = { rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir }, argv: [], hostname: generateId(), hostRoot: { dev, ino }, limits: {} };
      //< unionfs..
      //> namespaces..
      //| unshare(CLONE.CLONE_NEWPID, 'the escape stage is PID 1 of its own PID namespace, as in run');
      //< namespaces..
      //> ..cgroups
      //| return exitCodeOf(startChildStage('escape', config));
      //< ..cgroups
      //> unionfs..
      //| try {
      //|   return await exitCodeOf(startChildStage('escape', config));
      //| } finally {
      //|   removeContainerDirs(dirs);
      //| }
      //< unionfs..
  //|   },
  //| }),
  //< ..unionfs
  //> security..
  //> daemon..
  daemon: verb({
    args: '[--host unix:///PATH] [--spares N]',
    about: 'serve the Docker Engine API on a Unix socket: docker -H unix:///PATH drives this engine; --spares: monitors kept booted for the next containers (default 2)',
    options: { host: { type: 'string', short: 'H' }, spares: { type: 'string' } },
    positionals: [],
    run: async ({ values }) => {
      const { DEFAULT_HOST, serveApi } = await import('./daemon.ts');
      const { aboutEngine, containerRoutes, removeEndedAutoRemoveContainers } = await import('./containers-api.ts');
      const { imageRoutes } = await import('./images-api.ts');
      const { keepSpares, stopSpares } = await import('./spares.ts');
      // --rm containers that ended while no daemon ran; then now and then, for those whose
      // client went away before their end.
      removeEndedAutoRemoveContainers();
      setInterval(removeEndedAutoRemoveContainers, 1000).unref();
      keepSpares(values.spares === undefined ? 2 : Number(values.spares));
      try {
        return await serveApi({ host: values.host ?? process.env.NUTSHELL_HOST ?? DEFAULT_HOST, routes: [...containerRoutes, ...imageRoutes], about: aboutEngine });
      } finally {
        stopSpares();
      }
    },
  }),
  //< daemon..
  escape: verb({
    args: '[--list] [--print] [--host-dir DIR] [RUN OPTIONS] <demo> <image>',
    about: 'try an escape that works against chapter 08 (--list: which; --print: its script)',
    options: ESCAPE_OPTIONS,
    // <demo> and <image> are read by escapeCommand: --list needs neither, --print no image.
    positionals: [],
    command: 'optional',
    run: ({ values, command }) => escapeCommand(ESCAPE_OPTIONS, values, command),
  }),
  //< security..
};

//> unionfs..images
//| function isRunning(name: string): boolean {
//< unionfs..images
//> lifecycle..
/** `run -d`: start the monitor, wait until the container runs, print its id and return. */
async function runDetached(config: ContainerConfig, dirs: ContainerDirs): Promise<number> {
  const monitor = startMonitor(config, dirs);
  let monitorEnded = false;
  monitor.once('exit', () => (monitorEnded = true));
  while (readState(dirs).status === 'created' && !monitorEnded) await sleep(20);
  if (readState(dirs).status === 'created') {
    // The set-up failed before the command started: its one-line reason is in the log.
    const { readFileSync } = await import('node:fs');
    //> ..network
    //| const reason = readFileSync(dirs.logFile, 'utf8').trim().split('\n').pop() ?? 'unknown error';
    //< ..network
    //> daemon..
    const reason = readFileSync(dirs.errorLogFile, 'utf8').trim().split('\n').pop() ?? 'unknown error'; // the log of stderr
    //< daemon..
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
//< lifecycle..
//> unionfs..
  try {
  //> ..images
  //|   findContainer(name);
  //|   return true;
  //| } catch {
  //|   return false;
  //< ..images
  //> lifecycle..
    return await runContainer(config, dirs);
  } finally {
    if (config.autoRemove) removeContainerDirs(dirs);
  //< lifecycle..
  }
}

//< unionfs..
//> ..unionfs
//| /** The escape demo's child stage: enter the container exactly as `run` does, then break out. */
//| function enterAndEscape(config: EscapeConfig): number {
//|   prepareContainer(config);
//|   return tryEscape(config);
//| }
//|
//< ..unionfs
//> daemon..
/** The verbs that, given a daemon (--host unix:///PATH, or NUTSHELL_HOST), are requests to it
 *  (client.ts) instead of work done here. The other verbs stay local. */
const CLIENT_VERBS = ['run', 'ps', 'logs', 'stop', 'kill', 'rm', 'images', 'pull', 'exec', 'inspect'] as const;

/** The table of verbs, in which each of CLIENT_VERBS first looks for a daemon to send itself to. */
function withDaemonClient(verbs: Record<string, Verb>): Record<string, Verb> {
  const routed = { ...verbs };
  for (const name of CLIENT_VERBS) {
    const local = verbs[name]!;
    routed[name] = {
      ...local,
      // client.ts is loaded only then: a verb done here needs no HTTP client.
      run: async (line) => (process.env.NUTSHELL_HOST ? (await import('./client.ts'))[name](line as never) : local.run(line)),
    };
  }
  return routed;
}

//< daemon..
runMain(() =>
  runProgram({
    //> ..chroot
    //| name: 'chapter 01',
    //< ..chroot
    //> namespaces..namespaces
    //| name: 'chapter 02',
    //< namespaces..namespaces
    //> cgroups..cgroups
    //| name: 'chapter 03',
    //< cgroups..cgroups
    //> unionfs..unionfs
    //| name: 'chapter 04',
    //< unionfs..unionfs
    //> images..images
    //| name: 'chapter 05',
    //< images..images
    //> lifecycle..lifecycle
    //| name: 'chapter 06',
    //< lifecycle..lifecycle
    //> terminals..terminals
    //| name: 'chapter 07',
    //< terminals..terminals
    //> distribution..distribution
    //| name: 'chapter 08',
    //< distribution..distribution
    //> security..security
    //| name: 'chapter 09',
    //< security..security
    //> network..network
    //| name: 'chapter 10',
    //< network..network
    //> daemon..
    name: 'chapter 11',
    //< daemon..
    //> ..network
    //| verbs: VERBS,
    //< ..network
    //> daemon..
    verbs: withDaemonClient(VERBS),
    //< daemon..
    //> images..
    globalOptions: {
      root: { type: 'string', shown: '--root DIR', apply: (dir) => void (process.env.NUTSHELL_ROOT = String(dir)) },
      //> daemon..
      host: { type: 'string', shown: '--host unix:///PATH', apply: (host) => void (process.env.NUTSHELL_HOST = String(host)) },
      //< daemon..
    },
    //< images..
    // The child stages: this same program, re-executed by the engine (see container.ts).
    //> ..chroot
    //| stages: { init: containerInit, escape: enterAndEscape },
    //< ..chroot
    //> namespaces..unionfs
    //| stages: { init: containerInit, escape: enterAndEscape, exec: enterContainer },
    //< namespaces..unionfs
//> images..images
//|     stages: { init: containerInit, exec: enterContainer },
//|     footer: `REGISTRY OPTIONS: --platform OS/ARCH[/VARIANT] --username U --password P --credentials FILE
//|                   --insecure-registry HOST (plain HTTP; localhost and 127.0.0.1 always are)
//| The store and containers live under --root, or NUTSHELL_ROOT, default /var/lib/nutshell.`,
//< images..images
//> lifecycle..
//> ..network
//|     stages: { init: containerInit, exec: enterContainer, monitor: monitorContainer },
//< ..network
//> daemon..
    stages: { init: containerInit, exec: enterContainer, monitor: monitorContainer, spare: async () => (await import('./spares.ts')).spareMonitor() },
//< daemon..
//> ..network
//|     footer: `<ctr> is a container's name, its id, or a prefix of its id that no other container has.
//| REGISTRY OPTIONS: --platform OS/ARCH[/VARIANT] --username U --password P --credentials FILE
//|                   --insecure-registry HOST (plain HTTP; localhost and 127.0.0.1 always are)
//| The store and containers live under --root, or NUTSHELL_ROOT, default /var/lib/nutshell.`,
//< ..network
//> daemon..
    footer: `<ctr> is a container's name, its id, or a prefix of its id that no other container has.
REGISTRY OPTIONS: --platform OS/ARCH[/VARIANT] --username U --password P --credentials FILE
                  --insecure-registry HOST (plain HTTP; localhost and 127.0.0.1 always are)
The store and containers live under --root, or NUTSHELL_ROOT, default /var/lib/nutshell.
With --host unix:///PATH, or NUTSHELL_HOST, ${CLIENT_VERBS.join(', ')} are sent to the daemon there.`,
//< daemon..
//< lifecycle..
  }, process.argv.slice(2), enableTrace));
