/** Chapter 05 · images: chapter 04's container, on the layers of an OCI image pulled from a
 *  real registry into a content-addressed store, running the image's own process.
 *  New here: reference.ts (image names), http.ts, auth.ts, platform.ts and registry.ts (the
 *  distribution protocol), store.ts and layer.ts (blobs by digest, layers unpacked once and
 *  safely), image.ts (pull, and the image config turned into a process), -e, -w, -u and --rm,
 *  and the `pull`, `images` and `rmi` verbs.
 *  Lesson: docs/05-images.md
 *  Run:    ./nutshell 05 pull 127.0.0.1:5000/busybox:latest
 *          ./nutshell 05 run --name box -e GREETING=hi 127.0.0.1:5000/busybox sh */
import { runProgram, verb, type ValuesOf } from '../../lib/cli.ts';
import { runMain, UserError } from '../../lib/errors.ts';
import { enableTrace } from '../../lib/trace.ts';
import { containerInit, enterContainer, execInContainer, generateId, runContainer } from './container.ts';
import { detectCgroups, type Limits } from './cgroups.ts';
// The store, the registry client and what makes and sends images are imported by the verbs
// that use them (`await import`), not here: the child stage is this same program, and it would
// otherwise load an HTTP and TLS client, tar and gzip at every start, only to use none of them.
import type { PullOptions } from './image.ts';
import { readChanges, writeLayerTar } from './overlay.ts';
import { formatReference, parseReference } from './reference.ts';
import { parsePlatform } from './platform.ts';
import type { ImageConfig } from './registry.ts';
import { claimName, findContainer } from './state.ts';
import { findContainerDirs, prepareContainerDirs, removeContainerDirs } from './storage.ts';
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
} as const;

/** --entrypoint as runSpec takes it: one word, as docker's (its arguments are the command's),
 *  and "" for no entrypoint at all. */
function entrypointOf(values: { entrypoint?: string }): string[] | undefined {
  throw new Error('TODO (chapter 05): write entrypointOf(), as the comment above it says');
}

/** --platform, credentials and insecure registries, as the registry client takes them. */
function pullOptions(values: ValuesOf<typeof REGISTRY_OPTIONS> & { quiet?: boolean }): PullOptions {
  throw new Error('TODO (chapter 05): write pullOptions(), as the comment above it says');
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
  throw new Error('TODO (chapter 05): withStore() changes in this chapter: write it again, as the comment above it says');
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
    args: '[--rm] [--name N] [--entrypoint CMD] [-e K=V] [-w DIR] [-u USER] [--hostname H] [--stop-timeout S] [--memory M] [--cpus C] [--pids-limit P] [--stats] [REGISTRY OPTIONS] <image> [command...]',
    about: 'run the image (pulled first when it is not in the store)',
    options: RUN_OPTIONS,
    positionals: ['image'],
    command: 'optional',
    run: async ({ values, positionals: { image }, command }) => {
      const name = values.name;
      if (name) claimName(name);
      const stopTimeout = parseStopTimeout(values['stop-timeout']);
      const id = generateId(); // an unnamed container's hostname and directory
      const hostname = values.hostname ?? name ?? id;
      const limits = parseLimits(values);
      const { spec, lowerDirs } = await withStore(async (store) => {
        const { pullMissingImage, runSpec } = await import('./image.ts');
        let ref = formatReference(parseReference(image));
        // Not in the store: pull it first, with progress bars on a terminal, silently otherwise.
        if (!store.getImage(ref)) ref = await pullMissingImage(store, image, { ...pullOptions(values), quiet: !process.stderr.isTTY });
        const imageConfig = store.readJSON<ImageConfig>(store.getImage(ref)!.configDigest);
        const spec = runSpec(imageConfig, command, { entrypoint: entrypointOf(values), env: values.env, workdir: values.workdir, user: values.user });
        return { spec, lowerDirs: store.layerDirs(ref) };
      });
      const dirs = prepareContainerDirs(name ?? id, lowerDirs);
      // An unnamed container's writes go with it; --rm takes a named one's too. Such an upper
      // dir needs no syncing, not even when the overlay is unmounted (overlay.ts, mountVolatile).
      const thrownAway = !name || values.rm === true;
      try {
        const { upperDir, workDir } = dirs;
        return await runContainer({ rootfs: dirs.mergedDir, layers: { lowerDirs, upperDir, workDir, volatile: thrownAway }, ...spec, hostname, name, stopTimeout, limits, stats: values.stats === true });
      } finally {
        if (thrownAway) removeContainerDirs(dirs);
      }
    },
  }),
  exec: verb({
    args: '<name> <command> [args...]',
    about: 'run a command inside the running container <name>, as its process runs',
    options: {},
    positionals: ['name'],
    command: 'required',
    run: ({ positionals: { name }, command }) => {
      const container = findContainer(name);
      const spec = { argv: command, env: container.env, workdir: container.workdir, user: container.user };
      return execInContainer(container.pid, detectCgroups().open(container.cgroupId), spec);
    },
  }),
  stats: verb({
    args: '<name>',
    about: 'what the running container <name> uses',
    options: {},
    positionals: ['name'],
    run: ({ positionals: { name } }) => {
      const usage = detectCgroups().open(findContainer(name).cgroupId).usage();
      const bytes = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
      process.stdout.write(`NAME\tCPU TIME\tMEM PEAK\tMEM LIMIT\tPIDS\tOOM KILLED\n`);
      process.stdout.write(`${name}\t${(usage.cpuNanos / 1e9).toFixed(2)} s\t${bytes(usage.memoryPeakBytes)}\t${bytes(usage.memoryLimitBytes)}\t${usage.pids ?? '-'}\t${usage.oomKilled ? 'yes' : 'no'}\n`);
      return 0;
    },
  }),
  diff: verb({
    args: '<name>',
    about: 'what container <name> added (A), changed (C) and deleted (D)',
    options: {},
    positionals: ['name'],
    run: ({ positionals: { name } }) => {
      const dirs = findContainerDirs(name);
      for (const change of readChanges(dirs.upperDir, dirs.lowerDirs)) process.stdout.write(`${change.kind} ${change.path}\n`);
      return 0;
    },
  }),
  commit: verb({
    args: '<name> <out.tar>',
    about: 'write the changes of <name> as an OCI layer tar',
    options: {},
    positionals: ['name', 'out'],
    run: ({ positionals: { name, out } }) => {
      process.stdout.write(`${writeLayerTar(findContainerDirs(name).upperDir, out)}\n`);
      return 0;
    },
  }),
  rm: verb({
    args: '<name>',
    about: 'delete a stopped container and everything it wrote',
    options: {},
    positionals: ['name'],
    run: ({ positionals: { name } }) => {
      const dirs = findContainerDirs(name);
      if (isRunning(name)) throw new UserError(`container "${name}" is running: stop it first`);
      removeContainerDirs(dirs);
      return 0;
    },
  }),
};

function isRunning(name: string): boolean {
  try {
    findContainer(name);
    return true;
  } catch {
    return false;
  }
}

runMain(() =>
  runProgram({
    name: 'chapter 05',
    verbs: VERBS,
    globalOptions: {
      root: { type: 'string', shown: '--root DIR', apply: (dir) => void (process.env.NUTSHELL_ROOT = String(dir)) },
    },
    // The child stages: this same program, re-executed by the engine (see container.ts).
    stages: { init: containerInit, exec: enterContainer },
    footer: `REGISTRY OPTIONS: --platform OS/ARCH[/VARIANT] --username U --password P --credentials FILE
                  --insecure-registry HOST (plain HTTP; localhost and 127.0.0.1 always are)
The store and containers live under --root, or NUTSHELL_ROOT, default /var/lib/nutshell.`,
  }, process.argv.slice(2), enableTrace));
