/** Tooling: `npm run reset`, to give a workshop machine back clean. It removes what the
 *  engine of every chapter leaves behind, and says what it removed, one line per thing:
 *    - the containers of the configured roots, running or not, and their engines: a chapter's
 *      `run` in another terminal, a monitor of `run -d` (chapter 06 on);
 *    - their cgroups (`nutshell/<id>`), any mount left on the host below the roots;
 *    - the records in the state dir (chapters 02–05) and the root's containers and image store;
 *    - the registries that `npm run registry` started, and the lessons' temporary directories
 *      (`/tmp/nutshell-doc-*`, whose containers it stops first, like those of the roots).
 *  The roots are `--root DIR` (or NUTSHELL_ROOT, default /var/lib/nutshell) and NUTSHELL_STATE_DIR
 *  (default /run/nutshell), as the engine reads them. It never touches anything else: an engine
 *  is ours only when its own root or state dir is one of these, and in a root only the names
 *  the engine writes are removed.
 *    npm run -s reset [-- --root DIR]                                                        */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { listRecordedRegistries, stopRecordedRegistry } from './local-registry.ts';

/** The engine's cgroups are `<hierarchy>/nutshell/<id>`, in every hierarchy (chapter 03's
 *  DEFAULT_SUBTREE). */
const CGROUP_SUBTREE = 'nutshell';
/** An empty cgroup younger than this may belong to an engine that has not moved its container
 *  in yet: the engine's own rule for removing stale ones (cgroups.ts, STALE_MIN_AGE_MS). */
const STALE_CGROUP_AGE_MS = 60_000;
/** What the engine writes in its root (storage.ts, store.ts): only these go. */
const ROOT_ENTRIES = ['containers', 'blobs', 'layers', 'tmp', 'images.json', 'images.lock', 'store.lock'];
/** How long an engine gets to clean up after its container was killed, before it is killed too. */
const ENGINE_GRACE_MS = 10_000;

// ---------------------------------------------------------------- what to reset

interface Targets {
  root: string;
  stateDir: string;
  /** The lessons' temporary directories: roots, state dirs and rootfs copies of their own. */
  docDirs: string[];
}

function readTargets(argv: string[]): Targets {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string' } }, strict: true });
  const docDirs = readdirSync(tmpdir()).filter((name) => name.startsWith('nutshell-doc-')).map((name) => join(tmpdir(), name));
  return {
    root: resolve(values.root || process.env.NUTSHELL_ROOT || '/var/lib/nutshell'),
    stateDir: resolve(process.env.NUTSHELL_STATE_DIR || '/run/nutshell'),
    docDirs,
  };
}

/** The path is one of the roots, or inside a lesson's directory. */
function isOurs(path: string, targets: Targets): boolean {
  return path === targets.root || path === targets.stateDir || targets.docDirs.some((dir) => path === dir || path.startsWith(`${dir}/`));
}

let said = 0;
function say(line: string): void {
  console.log(line);
  said++;
}

// ---------------------------------------------------------------- processes

interface Proc {
  pid: number;
  ppid: number;
  args: string[];
}

/** Every process that runs (zombies excluded: they are over, and only wait to be reaped). */
function processTable(): Map<number, Proc> {
  const table = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').slice(0, -1);
      table.set(Number(name), { pid: Number(name), ppid: Number(fields[1]), args });
    } catch {
      // it exited while we looked
    }
  }
  return table;
}

const running = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
};

const checkouts = new Map<string, boolean>();
/** A directory holding a checkout of this project (its package.json names it nutshell). */
function isCheckout(dir: string): boolean {
  if (!checkouts.has(dir)) {
    let name: unknown;
    try {
      name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name;
    } catch {
      name = undefined;
    }
    checkouts.set(dir, name === 'nutshell');
  }
  return checkouts.get(dir)!;
}

/** An engine process: Node running a chapter's program (`<checkout>/<x>/<y>/main.ts`: a chapter,
 *  a starter copy, a learner's copy), `./nutshell` or `npm run chapter` (scripts/chapter.mjs), or
 *  a child stage or monitor, which re-run the program's bundle (`<checkout>/build/js/<key>/main.js`).
 *  Returns the root and state dir it works in. */
function engineOf(proc: Proc): { root: string; stateDir: string } | undefined {
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${proc.pid}/cwd`);
  } catch {
    return undefined;
  }
  const isProgram = proc.args.some((arg) => {
    const path = resolve(cwd, arg);
    if (basename(path) === 'main.ts') return isCheckout(resolve(dirname(path), '../..'));
    if (/\/build\/js\/[0-9a-f]+\/main\.js$/.test(path)) return isCheckout(resolve(dirname(path), '../../..'));
    return path.endsWith('/scripts/chapter.mjs') && isCheckout(resolve(dirname(path), '..'));
  });
  if (!isProgram) return undefined;
  let environ: string[] = [];
  try {
    environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8').split('\0');
  } catch {
    // gone: it no longer matters where it worked
  }
  const env = (name: string) => environ.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
  // --root is handled by the program itself, after it started: it is on the command line, and
  // only the stages it starts later have it in their environment.
  const at = proc.args.findIndex((arg) => arg === '--root' || arg.startsWith('--root='));
  const rootArg = at < 0 ? undefined : proc.args[at]!.startsWith('--root=') ? proc.args[at]!.slice('--root='.length) : proc.args[at + 1];
  return {
    root: resolve(cwd, rootArg || env('NUTSHELL_ROOT') || '/var/lib/nutshell'),
    stateDir: resolve(cwd, env('NUTSHELL_STATE_DIR') || '/run/nutshell'),
  };
}

/** A process sees another "/" (chroot, chapter 01) or PID namespace (chapter 02 on) than the
 *  engine that started it: it is a container's. (The engine's other children are its helpers,
 *  like esbuild when a bundle is made, which end with it.) */
function isContainedFrom(pid: number, engine: number): boolean {
  const view = (p: number) => {
    try {
      return `${readlinkSync(`/proc/${p}/root`)} ${readlinkSync(`/proc/${p}/ns/pid`)}`;
    } catch {
      return undefined;
    }
  };
  const own = view(pid);
  return own !== undefined && own !== view(engine);
}

/** The engine's cgroup id of a process, from /proc/PID/cgroup ("4:memory:/nutshell/<id>"). */
function cgroupIdOf(pid: number): string | undefined {
  try {
    const match = readFileSync(`/proc/${pid}/cgroup`, 'utf8').match(new RegExp(`:/${CGROUP_SUBTREE}/([^/\\n]+)`));
    return match?.[1];
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- the records

/** What the roots record: the processes and cgroups of their containers. */
interface Recorded {
  pids: Map<number, string>;
  cgroupIds: Set<string>;
}

function readJSON(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const listDir = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

/** A recorded PID is only ours if its start time is the recorded one (a PID is reused). */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readRecords(targets: Targets): Recorded {
  const recorded: Recorded = { pids: new Map(), cgroupIds: new Set() };
  const note = (record: Record<string, unknown> | undefined, label: string) => {
    if (typeof record?.cgroupId === 'string') recorded.cgroupIds.add(record.cgroupId);
    if (typeof record?.pid === 'number' && startTimeOf(record.pid) === record.startTime) recorded.pids.set(record.pid, label);
  };
  // Chapters 02–05: <state dir>/<name>.json for a named running container.
  for (const file of listDir(targets.stateDir).filter((f) => f.endsWith('.json'))) {
    note(readJSON(join(targets.stateDir, file)), file.slice(0, -'.json'.length));
  }
  // Chapter 06 on: <root>/containers/<id>/state.json.
  const containers = join(targets.root, 'containers');
  for (const id of listDir(containers)) {
    const name = readJSON(join(containers, id, 'config.json'))?.name;
    note(readJSON(join(containers, id, 'state.json')), typeof name === 'string' ? `${id} (${name})` : id);
  }
  return recorded;
}

// ---------------------------------------------------------------- cgroups

/** Where each cgroup hierarchy is mounted (v1: one per controller; v2: one). */
function cgroupMounts(): string[] {
  const mounts: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [mount = '', filesystem = ''] = line.split(' - ');
    const type = filesystem.split(' ')[0];
    if ((type === 'cgroup' || type === 'cgroup2') && mount.split(' ')[3] === '/') mounts.push(unescapeMountPath(mount.split(' ')[4]!));
  }
  return [...new Set(mounts)];
}

/** mountinfo writes a space as "\040" (man 5 proc_pid_mountinfo). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The names of the cgroups right below `dir`. */
function childCgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** A cgroup and every cgroup below it (a container may make its own), parents first. */
function cgroupTree(dir: string): string[] {
  return existsSync(dir) ? [dir, ...childCgroups(dir).flatMap((name) => cgroupTree(join(dir, name)))] : [];
}

/** The directories of cgroup `id`, one per hierarchy it is in. */
const cgroupDirs = (id: string) => cgroupMounts().map((mount) => join(mount, CGROUP_SUBTREE, id)).filter((dir) => existsSync(dir));

function processesIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A frozen process acts on no signal, SIGKILL included, until thawed: a `commit` whose engine
 *  was killed half-way leaves its container frozen (chapter 08 on). */
function thaw(id: string): void {
  for (const dir of cgroupDirs(id)) {
    for (const [file, value] of [['freezer.state', 'THAWED'], ['cgroup.freeze', '0']] as const) {
      if (existsSync(join(dir, file))) writeFileSync(join(dir, file), value);
    }
  }
}

/** rmdir(2) the cgroup's trees, deepest first. The kernel lets go of a killed process's cgroup
 *  a moment after it was reaped (EBUSY until then): try again for a few seconds. */
async function removeCgroup(id: string): Promise<boolean> {
  const trees = cgroupDirs(id).map(cgroupTree);
  if (trees.length === 0) return false;
  const deadline = Date.now() + 5_000;
  for (const dir of trees.flatMap((tree) => tree.reverse())) {
    for (;;) {
      try {
        rmdirSync(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`cannot remove cgroup ${dir}: ${code}`);
        await sleep(50);
      }
    }
  }
  return true;
}

/** Empty cgroups of the engine older than a minute: left by engines killed before they could
 *  remove them, whose root nobody can tell any more. Every chapter's `run` removes these too,
 *  by the same rule. */
async function removeStaleCgroups(): Promise<string[]> {
  const ids = new Set(cgroupMounts().flatMap((mount) => childCgroups(join(mount, CGROUP_SUBTREE))));
  const removed: string[] = [];
  for (const id of ids) {
    const dirs = cgroupDirs(id);
    const stale = dirs.length > 0 && dirs.every((dir) => Date.now() - Math.floor(statSync(dir).mtimeMs) >= STALE_CGROUP_AGE_MS && cgroupTree(dir).every((below) => processesIn(below).length === 0));
    if (stale && (await removeCgroup(id))) removed.push(id);
  }
  return removed;
}

// ---------------------------------------------------------------- the steps

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntilGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter(running);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(running);
  }
  return left;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Stop every container of the roots and every engine working in them. Containers first, from
 *  the host with SIGKILL (a PID 1 ignores what it has no handler for); their engines then see
 *  them end and clean up as they always do (records, cgroup), and get ENGINE_GRACE_MS for it. */
async function stopContainers(targets: Targets, recorded: Recorded): Promise<Set<string>> {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const proc of table.values()) children.set(proc.ppid, [...(children.get(proc.ppid) ?? []), proc.pid]);
  const descendants = (pid: number): number[] => (children.get(pid) ?? []).flatMap((child) => [child, ...descendants(child)]);

  const engines = new Set<number>();
  for (const proc of table.values()) {
    const engine = engineOf(proc);
    if (engine && (isOurs(engine.root, targets) || isOurs(engine.stateDir, targets))) engines.add(proc.pid);
  }
  // What the containers are: the engines' other descendants, the recorded PIDs, and whatever
  // runs in a recorded cgroup (processes a container started, `exec`s into it).
  const containers = new Map<number, string>(recorded.pids);
  for (const engine of engines) {
    for (const pid of descendants(engine)) if (!containers.has(pid) && isContainedFrom(pid, engine)) containers.set(pid, '');
  }
  for (const id of recorded.cgroupIds) for (const dir of cgroupDirs(id).flatMap(cgroupTree)) for (const pid of processesIn(dir)) if (!containers.has(pid)) containers.set(pid, '');

  const cgroupIds = new Set(recorded.cgroupIds);
  for (const pid of containers.keys()) {
    const id = cgroupIdOf(pid);
    if (id) cgroupIds.add(id);
  }
  for (const id of cgroupIds) thaw(id);
  // A container's own processes are listed once: its first one, with what it runs.
  const topmost = [...containers.keys()].filter((pid) => !containers.has(table.get(pid)?.ppid ?? 0));
  const labels = topmost.map((pid) => {
    const label = containers.get(pid) || cgroupIdOf(pid);
    const command = table.get(pid)?.args.join(' ').slice(0, 40) ?? '';
    return `stopped container ${label ? `${label} ` : ''}(pid ${pid}: ${command})`;
  });
  for (const pid of containers.keys()) kill(pid);
  labels.forEach(say);
  const left = await waitUntilGone([...containers.keys()], 10_000);
  if (left.length) throw new Error(`processes ${left.join(', ')} did not end after SIGKILL (stuck in the kernel?)`);

  const stubborn = await waitUntilGone([...engines], containers.size > 0 ? ENGINE_GRACE_MS : 0);
  for (const pid of stubborn) kill(pid);
  for (const pid of stubborn) say(`stopped engine (pid ${pid}: ${table.get(pid)?.args.slice(-6).join(' ') ?? ''})`);
  const still = await waitUntilGone(stubborn, 10_000);
  if (still.length) throw new Error(`engine processes ${still.join(', ')} did not end after SIGKILL`);
  return cgroupIds;
}

/** Mounts on the host below a root: none when all went well, since a container mounts in a
 *  mount namespace of its own. Deepest first; lazily, so that a busy one still goes. */
function unmountLeftovers(targets: Targets): void {
  const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => unescapeMountPath(line.split(' ')[4]!));
  const ours = mountPoints.filter((path) => [targets.root, targets.stateDir, ...targets.docDirs].some((dir) => path === dir || path.startsWith(`${dir}/`)));
  for (const path of ours.sort((a, b) => b.length - a.length)) {
    execFileSync('umount', ['--lazy', path]);
    say(`unmounted ${path}`);
  }
}

function removeState(stateDir: string): void {
  for (const file of listDir(stateDir)) {
    if (!file.endsWith('.json') && !file.endsWith('.tmp')) continue;
    rmSync(join(stateDir, file), { force: true });
    if (file.endsWith('.json')) say(`removed the record of container ${file.slice(0, -'.json'.length)} (${stateDir})`);
  }
  removeIfEmpty(stateDir);
}

function removeRoot(root: string): void {
  const containers = join(root, 'containers');
  for (const id of listDir(containers)) {
    const name = readJSON(join(containers, id, 'config.json'))?.name;
    rmSync(join(containers, id), { recursive: true, force: true });
    say(`removed container ${id}${typeof name === 'string' ? ` (${name})` : ''} (${containers})`);
  }
  const hasStore = ROOT_ENTRIES.some((entry) => entry !== 'containers' && existsSync(join(root, entry)));
  const images = Object.keys(readJSON(join(root, 'images.json')) ?? {}).length;
  const layers = listDir(join(root, 'layers', 'sha256')).length;
  for (const entry of ROOT_ENTRIES) rmSync(join(root, entry), { recursive: true, force: true });
  if (hasStore) say(`removed the image store in ${root} (${images} image${images === 1 ? '' : 's'}, ${layers} layer${layers === 1 ? '' : 's'})`);
  removeIfEmpty(root);
}

/** A root or state dir goes once the engine's files are out of it; anything else keeps it. */
function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or not there
  }
}

async function main(): Promise<void> {
  const targets = readTargets(process.argv.slice(2));
  const cgroupIds = await stopContainers(targets, readRecords(targets));
  for (const id of cgroupIds) if (await removeCgroup(id)) say(`removed cgroup ${CGROUP_SUBTREE}/${id}`);
  unmountLeftovers(targets);
  removeState(targets.stateDir);
  removeRoot(targets.root);
  for (const registry of listRecordedRegistries()) {
    await stopRecordedRegistry(registry);
    say(`stopped registry ${registry.host}`);
  }
  for (const dir of targets.docDirs) {
    rmSync(dir, { recursive: true, force: true });
    say(`removed ${dir}`);
  }
  for (const id of await removeStaleCgroups()) say(`removed cgroup ${CGROUP_SUBTREE}/${id} (empty, left by an engine that was killed)`);
  if (said === 0) console.log('nothing to remove');
}

try {
  await main();
} catch (err) {
  console.error(`nutshell: ${(err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, '')}`);
  process.exitCode = 2;
}
