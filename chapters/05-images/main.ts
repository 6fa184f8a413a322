/** Chapter 05 · images: the mini-engine. Chapter 04's container, on the layers of an OCI image
 *  pulled from a real registry into a content-addressed store, running the image's process.
 *  New here: reference.ts (image names), registry.ts (the distribution protocol, over http.ts
 *  and auth.ts; platform.ts picks from an index), store.ts and layer.ts (blobs by digest,
 *  layers unpacked once and safely), image.ts (pull, and the image config turned into a
 *  process), and the `pull`, `images` and `rmi` verbs.
 *  Lesson: docs/05-images.md
 *  Run:    npm run chapter -- 05 pull 127.0.0.1:5000/busybox:latest
 *          npm run chapter -- 05 run --name box -e GREETING=hi 127.0.0.1:5000/busybox sh */
import { parseCommandLine } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import { containerInit, enterContainer, execInContainer, generateId, parseVolume, runContainer, startMonitor, type ContainerConfig } from './container.ts';
import { detectCgroups, type Limits } from './cgroups.ts';
import { pullImage, runSpec, type PullOptions } from './image.ts';
import { commitContainer, tagImage } from './commit.ts';
import { readChanges } from './overlay.ts';
import { pushImage } from './push.ts';
import { formatReference, parseReference } from './reference.ts';
import { parsePlatform } from './platform.ts';
import type { ImageConfig } from './registry.ts';
import { killContainer, listTable, printLogs, removeContainer, stopContainer } from './lifecycle.ts';
import { findRunning, readState } from './state.ts';
import { createContainerDirs, findContainerDirs, removeContainerDirs, type ContainerDirs } from './storage.ts';
import { statSync } from 'node:fs';
import { constants as os } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store } from './store.ts';
import { formatBytes, parseCpus, parseMemory, parsePidsLimit } from './units.ts';

const USAGE = `usage: chapter 05 [--trace] [--root DIR] <verb> ...
  pull [REGISTRY OPTIONS] [-q] <image>      fetch an image from its registry into the store
  images                                    list the images in the store
  rmi <image>                               remove an image (layers other images use stay)
  run [-d] [-i] [-t] [--rm] [--name N] [-v HOST:CTR[:ro]] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S]
      [--memory M] [--cpus C] [--pids-limit P] [--stats] [REGISTRY OPTIONS] <image> [command...]
                                            run the image (pulled first when it is not in the store)
  ps [-a]                                   running containers (-a: all of them)
  logs [-f] <ctr>                           what a detached container printed (-f: follow)
  exec [-i] [-t] <ctr> <command> [args...]  run a command inside a running container (-t: on a terminal)
  stats <ctr>                               what a running container uses
  stop [-t SECONDS] <ctr>                   SIGTERM, then SIGKILL after -t seconds (default 10)
  kill [-s SIGNAL] <ctr>                    send a signal (default SIGKILL)
  rm [-f] <ctr>                             delete a stopped container (-f: kill it first)
  diff <ctr>                                what the container added (A), changed (C) and deleted (D)
  commit [-m MSG] <ctr> <image>             make the container's changes a new image (one more layer)
  import <dir> <image>                      make an image of one layer from a root filesystem directory
  tag <image> <new name>                    give an image a second name
  push [REGISTRY OPTIONS] [-q] <image>      send an image to its registry
  inspect <image|ctr>                       everything known about an image or a container, as JSON
<ctr> is a container's name, its id, or a prefix of its id that no other container has.
REGISTRY OPTIONS: --platform OS/ARCH[/VARIANT] --username U --password P --credentials FILE
                  --insecure-registry HOST (plain HTTP; localhost and 127.0.0.1 always are)
The store and containers live under --root, or NUTSHELL_ROOT, default /var/lib/nutshell.`;

const REGISTRY_OPTIONS = {
  platform: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  credentials: { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
} as const;

const RUN_OPTIONS = {
  ...REGISTRY_OPTIONS,
  trace: { type: 'boolean' },
  env: { type: 'string', short: 'e', multiple: true },
  workdir: { type: 'string', short: 'w' },
  user: { type: 'string', short: 'u' },
  hostname: { type: 'string' },
  name: { type: 'string' },
  'stop-timeout': { type: 'string' },
  memory: { type: 'string', short: 'm' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  stats: { type: 'boolean' },
  detach: { type: 'boolean', short: 'd' },
  rm: { type: 'boolean' },
  interactive: { type: 'boolean', short: 'i' },
  tty: { type: 'boolean', short: 't' },
  volume: { type: 'string', short: 'v', multiple: true },
} as const;

/** --platform, credentials and insecure registries, as registry.ts takes them. */
function pullOptions(values: Record<string, unknown>): PullOptions {
  return {
    platform: values.platform === undefined ? undefined : parsePlatform(values.platform as string),
    username: values.username as string | undefined,
    password: values.password as string | undefined,
    credentialsFile: values.credentials as string | undefined,
    insecureRegistries: values['insecure-registry'] as string[] | undefined,
    quiet: values.quiet === true,
  };
}

/** --memory 64m --cpus 0.5 --pids-limit 50, checked before anything is created. */
function parseLimits(values: Record<string, unknown>): Limits {
  const text = (name: string) => values[name] as string | undefined;
  return {
    memoryBytes: text('memory') === undefined ? undefined : parseMemory(text('memory')!),
    cpus: text('cpus') === undefined ? undefined : parseCpus(text('cpus')!),
    pidsMax: text('pids-limit') === undefined ? undefined : parsePidsLimit(text('pids-limit')!),
  };
}

async function main(argv: string[]): Promise<number> {
  // Options for every verb, before it: --trace, and --root for the store and containers.
  while (argv[0] === '--trace' || argv[0] === '--root') {
    if (argv.shift() === '--trace') await enableTrace();
    else process.env.NUTSHELL_ROOT = argv.shift() ?? '';
  }
  const [verb, ...rest] = argv;
  // The child stages: this same program, re-executed by the engine (see container.ts).
  if (verb === '__init') return containerInit(JSON.parse(rest[0]!));
  if (verb === '__exec') return enterContainer(JSON.parse(rest[0]!));
  if (verb === '__monitor') return monitorContainer(JSON.parse(rest[0]!));

  switch (verb) {
    case 'pull': {
      const { values, positionals } = parseCommandLine(rest, { ...REGISTRY_OPTIONS, trace: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } }, 1);
      if (values.trace) await enableTrace();
      if (!positionals[0]) throw new UserError('pull needs an image: pull <image>');
      const store = await Store.open();
      try {
        const { name, digest } = await pullImage(store, positionals[0], pullOptions(values));
        process.stdout.write(values.quiet ? `${name}\n` : `Digest: ${digest}\nPulled ${name}\n`);
      } finally {
        store.close();
      }
      return 0;
    }
    case 'images': {
      const store = await Store.open();
      process.stdout.write('REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n');
      for (const image of store.listImages()) {
        const ref = parseReference(image.ref);
        const repository = `${ref.registry}/${ref.repository}`;
        process.stdout.write(`${repository}\t${ref.tag ?? ref.digest}\t${image.configDigest.slice(7, 19)}\t${image.created}\t${formatBytes(image.size)}\n`);
      }
      store.close();
      return 0;
    }
    case 'rmi': {
      const name = await nameOf(rest, 'rmi <image>');
      const store = await Store.open();
      try {
        const ref = formatReference(parseReference(name));
        if (!store.getImage(ref)) throw new UserError(`no image ${ref} in the store`);
        const removed = await store.removeImage(ref);
        process.stdout.write(`Untagged: ${ref}\nDeleted: ${removed.layers.length} layers, ${removed.blobs.length} blobs\n`);
      } finally {
        store.close();
      }
      return 0;
    }
    case 'run': {
      const { values, positionals, command } = parseCommandLine(rest, RUN_OPTIONS, 1);
      if (values.trace) await enableTrace();
      const [image] = positionals;
      if (!image) throw new UserError('run needs an image: run [options] <image> [command...]');
      const name = values.name as string | undefined;
      if (name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new UserError(`invalid container name "${name}": use letters, digits, _ . -`);
      const stopTimeout = values['stop-timeout'] === undefined ? undefined : Number(values['stop-timeout']);
      if (stopTimeout !== undefined && !(stopTimeout >= 0)) throw new UserError(`invalid --stop-timeout "${values['stop-timeout']}": give seconds, e.g. 10`);
      const id = generateId();
      const hostname = (values.hostname as string | undefined) ?? id;
      const limits = parseLimits(values);
      const volumes = ((values.volume as string[] | undefined) ?? []).map(parseVolume);
      if (values.detach && values.tty) throw new UserError('-d and -t together are not supported: a detached container has no terminal to attach');
      const store = await Store.open();
      let ref = formatReference(parseReference(image));
      let dirs: ContainerDirs;
      let config: ContainerConfig;
      try {
        // Not in the store: pull it first, with progress bars on a terminal, silently otherwise.
        if (!store.getImage(ref)) ref = (await pullImage(store, image, { ...pullOptions(values), quiet: !process.stderr.isTTY })).name;
        const imageConfig = store.readJSON<ImageConfig>(store.getImage(ref)!.configDigest);
        const spec = runSpec(imageConfig, command, { env: values.env as string[] | undefined, workdir: values.workdir as string | undefined, user: values.user as string | undefined });
        dirs = createContainerDirs({ id, name, image: ref, lowerDirs: store.layerDirs(ref), ...spec, hostname, created: new Date().toISOString() });
        const { upperDir, workDir } = dirs;
        config = { rootfs: dirs.mergedDir, layers: { lowerDirs: dirs.spec.lowerDirs, upperDir, workDir }, ...spec, hostname, stopTimeout, limits, stats: values.stats === true, detached: values.detach === true, tty: values.tty === true, volumes, autoRemove: values.rm === true };
      } finally {
        store.close();
      }
      if (values.detach) return runDetached(config, dirs);
      return runUntilExit(config, dirs);
    }
    case 'ps': {
      const { values } = parseCommandLine(rest, { all: { type: 'boolean', short: 'a' } }, 0);
      process.stdout.write(listTable(values.all === true));
      return 0;
    }
    case 'logs': {
      const { values, positionals } = parseCommandLine(rest, { follow: { type: 'boolean', short: 'f' } }, 1);
      if (!positionals[0]) throw new UserError('usage: logs [-f] <ctr>');
      await printLogs(findContainerDirs(positionals[0]), values.follow === true);
      return 0;
    }
    case 'stop': {
      const { values, positionals } = parseCommandLine(rest, { time: { type: 'string', short: 't' }, trace: { type: 'boolean' } }, 1);
      if (values.trace) await enableTrace();
      const seconds = values.time === undefined ? 10 : Number(values.time);
      if (!positionals[0]) throw new UserError('usage: stop [-t SECONDS] <ctr>');
      if (!(seconds >= 0)) throw new UserError(`invalid -t "${values.time}": give seconds, e.g. 10`);
      await stopContainer(findRunning(positionals[0]).dirs, seconds);
      process.stdout.write(`${positionals[0]}\n`);
      return 0;
    }
    case 'kill': {
      const { values, positionals } = parseCommandLine(rest, { signal: { type: 'string', short: 's' } }, 1);
      if (!positionals[0]) throw new UserError('usage: kill [-s SIGNAL] <ctr>');
      const signal = `SIG${String(values.signal ?? 'KILL').toUpperCase().replace(/^SIG/, '')}` as NodeJS.Signals;
      if (!(signal in os.signals)) throw new UserError(`unknown signal "${values.signal}"`);
      killContainer(findContainerDirs(positionals[0]), signal);
      process.stdout.write(`${positionals[0]}\n`);
      return 0;
    }
    case 'exec': {
      const { values, positionals, command } = parseCommandLine(rest, { trace: { type: 'boolean' }, interactive: { type: 'boolean', short: 'i' }, tty: { type: 'boolean', short: 't' } }, 1);
      if (values.trace) await enableTrace();
      const [ref] = positionals;
      if (!ref || command.length === 0) throw new UserError('exec needs a container and a command: exec <ctr> <command> [args...]');
      const { dirs, state } = findRunning(ref);
      const spec = { argv: command, env: dirs.spec.env, workdir: dirs.spec.workdir, user: dirs.spec.user };
      return execInContainer(state.pid, detectCgroups().open(state.cgroupId), spec, values.tty === true);
    }
    case 'stats': {
      const ref = await nameOf(rest, 'stats <ctr>');
      const usage = detectCgroups().open(findRunning(ref).state.cgroupId).usage();
      const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
      process.stdout.write(`NAME\tCPU TIME\tMEM PEAK\tMEM LIMIT\tPIDS\tOOM KILLED\n`);
      process.stdout.write(`${ref}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      return 0;
    }
    case 'diff': {
      const dirs = findContainerDirs(await nameOf(rest, 'diff <ctr>'));
      for (const change of readChanges(dirs.upperDir, dirs.spec.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
      return 0;
    }
    case 'commit': {
      const { values, positionals } = parseCommandLine(rest, { message: { type: 'string', short: 'm' }, trace: { type: 'boolean' } }, 2);
      if (values.trace) await enableTrace();
      const [ref, image] = positionals;
      if (!ref || !image) throw new UserError('commit needs a container and an image name: commit <ctr> <image>');
      const dirs = findContainerDirs(ref);
      const { name, manifestDigest } = await withStore((store) =>
        commitContainer(store, { upperDir: dirs.upperDir, baseRef: dirs.spec.image, newRef: image, comment: values.message as string | undefined }));
      process.stdout.write(`${name}\n${manifestDigest}\n`);
      return 0;
    }
    case 'import': {
      const { positionals } = parseCommandLine(rest, {}, 2);
      const [dir, image] = positionals;
      if (!dir || !image) throw new UserError('usage: import <rootfs dir> <image>');
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`not a directory: ${dir}`);
      const { name } = await withStore((store) => commitContainer(store, { upperDir: dir, newRef: image, comment: `imported from ${dir}` }));
      process.stdout.write(`${name}\n`);
      return 0;
    }
    case 'tag': {
      const { positionals } = parseCommandLine(rest, {}, 2);
      const [source, target] = positionals;
      if (!source || !target) throw new UserError('usage: tag <image> <new name>');
      process.stdout.write(`${await withStore((store) => tagImage(store, source, target))}\n`);
      return 0;
    }
    case 'push': {
      const { values, positionals } = parseCommandLine(rest, { ...REGISTRY_OPTIONS, trace: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } }, 1);
      if (values.trace) await enableTrace();
      if (!positionals[0]) throw new UserError('push needs an image: push <image>');
      const name = formatReference(parseReference(positionals[0]));
      const { digest } = await withStore((store) => pushImage(store, name, pullOptions(values)));
      process.stdout.write(`${name}: digest: ${digest}\n`);
      return 0;
    }
    case 'inspect': {
      const ref = await nameOf(rest, 'inspect <image|ctr>');
      let found: unknown;
      try {
        const dirs = findContainerDirs(ref);
        found = { ...dirs.spec, state: readState(dirs), dir: dirs.dir };
      } catch {
        found = await withStore((store) => {
          const name = formatReference(parseReference(ref));
          const image = store.getImage(name);
          if (!image) throw new UserError(`no container or image named "${ref}"`);
          return Promise.resolve({ name, ...image, config: store.readJSON(image.configDigest), manifest: store.readJSON(image.manifestDigest) });
        });
      }
      process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      return 0;
    }
    case 'rm': {
      const { values, positionals } = parseCommandLine(rest, { force: { type: 'boolean', short: 'f' } }, 1);
      if (!positionals[0]) throw new UserError('usage: rm [-f] <ctr>');
      await removeContainer(findContainerDirs(positionals[0]), values.force === true);
      process.stdout.write(`${positionals[0]}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return verb === undefined ? 2 : 0;
    default:
      throw new UserError(`unknown verb "${verb}" (try: pull, images, rmi, import, run, ps, logs, exec, stats, stop, kill, rm, diff, commit, tag, push, inspect, help)`);
  }
}

/** The one positional of `diff <name>`, `rm <name>` and `rmi <image>`. */
async function nameOf(args: string[], usage: string): Promise<string> {
  const { values, positionals } = parseCommandLine(args, { trace: { type: 'boolean' } }, 1);
  if (values.trace) await enableTrace();
  if (!positionals[0]) throw new UserError(`usage: ${usage}`);
  return positionals[0];
}

/** Open the store for one operation, and close it whatever happens. */
async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open();
  try {
    return await work(store);
  } finally {
    store.close();
  }
}

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

runMain(() => main(process.argv.slice(2)));
