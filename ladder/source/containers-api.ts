//@ daemon..
/** Chapter 11 · the container endpoints of the Docker Engine API. Each is a verb of chapter 10
 *  reached over HTTP: `docker run` is create, attach, wait and start, four requests; `docker ps`
 *  is GET /containers/json. The daemon holds no container itself: a container runs under its
 *  monitor (chapter 06), which writes its state, its output and, with a terminal, holds it
 *  (console.ts). So every endpoint reads the container's files and the kernel, as chapter 06's
 *  verbs do, and a daemon that was killed and started again finds everything where it was. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as os } from 'node:os';
import { UserError } from '../../lib/errors.ts';
import { parseSecurityOptions } from './capabilities.ts';
import { detectCgroups } from './cgroups.ts';
import { parseVolume, type ContainerConfig } from './container.ts';
import { connectConsole, execWithStreams, followOutput, resizeTerminal, watchContainer } from './console.ts';
import { createContainer } from './create.ts';
import { ApiError, API_VERSION, frame, MIN_API_VERSION, sendJSON, type ApiRequest, type Route } from './daemon.ts';
import { describe as describeState, killContainer, removeContainer, stopContainer } from './lifecycle.ts';
import { parseNetworkMode, parsePublish, type PublishedPort } from './network.ts';
import { refillSpares, startContainerMonitor } from './spares.ts';
import { isAlive, readState, type ContainerState } from './state.ts';
import { engineRoot, findContainerDirs, listContainers, removeContainerDirs, type ContainerDirs } from './storage.ts';
import { withStore } from './store.ts';

/** The part of `POST /containers/create`'s body we read (the docker CLI sends much more). */
interface CreateBody {
  Image?: string;
  Cmd?: string[] | null;
  Entrypoint?: string[] | string | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Hostname?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  StopTimeout?: number | null;
  HostConfig?: {
    AutoRemove?: boolean;
    Memory?: number;
    NanoCpus?: number;
    PidsLimit?: number | null;
    CapAdd?: string[] | null;
    CapDrop?: string[] | null;
    Privileged?: boolean;
    SecurityOpt?: string[] | null;
    Binds?: string[] | null;
    NetworkMode?: string;
    PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
  };
}

/** What `create` keeps next to the container for `start`: the configuration its monitor runs,
 *  and whether the daemon removes it when it ends (--rm). Only root may read it: -e values. */
interface StartFile {
  config: ContainerConfig;
  autoRemove: boolean;
  openStdin: boolean;
  /** The image and capabilities in the client's words, for ps and inspect (as dockerd shows them). */
  image?: string;
  capAdd?: string[];
  capDrop?: string[];
}

function startFilePath(dirs: ContainerDirs): string {
  return join(dirs.dir, 'start.json');
}

function readStartFile(dirs: ContainerDirs): StartFile | undefined {
  try {
    return JSON.parse(readFileSync(startFilePath(dirs), 'utf8')) as StartFile;
  } catch {
    return undefined; // made by the command line's `run`, not by the API
  }
}

/** The container a path names (its name, id or id prefix), or docker's 404. */
function lookUp(ref: string): ContainerDirs {
  try {
    return findContainerDirs(ref);
  } catch (err) {
    if (err instanceof UserError && /^no container/.test(err.message)) throw new ApiError(404, `No such container: ${ref}`);
    throw err;
  }
}

/** docker's -p, as the CLI sends it ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}), in our
 *  own text form, so that parsePublish() checks it as it checks the command line's. */
function publishedPorts(bindings: NonNullable<CreateBody['HostConfig']>['PortBindings']): PublishedPort[] {
  const ports: PublishedPort[] = [];
  for (const [containerPort, hosts] of Object.entries(bindings ?? {})) {
    const [port, protocol = 'tcp'] = containerPort.split('/');
    for (const host of hosts ?? []) {
      if (!host.HostPort) throw new ApiError(400, `-p ${containerPort} without a host port is not supported: give HOST:CONTAINER`);
      ports.push(parsePublish(`${host.HostIp ? `${host.HostIp}:` : ''}${host.HostPort}:${port}/${protocol}`));
    }
  }
  return ports;
}

/** POST /containers/create: the same checks and the same container as our `run`, not started. */
async function create({ query, json, response }: ApiRequest): Promise<void> {
  const body = await json<CreateBody>();
  const host = body.HostConfig ?? {};
  if (!body.Image) throw new ApiError(400, 'no image given');
  const network = { mode: parseNetworkMode(!host.NetworkMode || host.NetworkMode === 'default' ? undefined : host.NetworkMode), ports: publishedPorts(host.PortBindings) };
  const { config, dirs } = await createContainer({
    image: body.Image,
    command: body.Cmd ?? [],
    // The docker CLI sends `--entrypoint X` as ["X"], and `--entrypoint ""` as [""].
    entrypoint: typeof body.Entrypoint === 'string' ? [body.Entrypoint] : body.Entrypoint?.length ? body.Entrypoint : undefined,
    name: query.get('name') || undefined,
    env: body.Env ?? undefined,
    workdir: body.WorkingDir || undefined,
    user: body.User || undefined,
    hostname: body.Hostname || undefined,
    stopTimeout: body.StopTimeout ?? undefined,
    limits: { memoryBytes: host.Memory || undefined, cpus: host.NanoCpus ? host.NanoCpus / 1e9 : undefined, pidsMax: host.PidsLimit && host.PidsLimit > 0 ? host.PidsLimit : undefined },
    volumes: (host.Binds ?? []).map(parseVolume),
    security: parseSecurityOptions({ 'cap-add': host.CapAdd ?? undefined, 'cap-drop': host.CapDrop ?? undefined, privileged: host.Privileged, 'security-opt': host.SecurityOpt ?? undefined }),
    network,
    // The monitor never removes it: the daemon does, once it has read the exit code (wait).
    autoRemove: false,
    detached: true,
    tty: body.Tty === true,
    interactive: body.OpenStdin === true,
  });
  const start: StartFile = { config, autoRemove: host.AutoRemove === true, openStdin: body.OpenStdin === true, image: body.Image, capAdd: host.CapAdd ?? undefined, capDrop: host.CapDrop ?? undefined };
  writeFileSync(startFilePath(dirs), JSON.stringify(start), { mode: 0o600 });
  sendJSON(response, 201, { Id: dirs.spec.id, Warnings: [] });
}

/** POST /containers/{id}/start: hand the container to a monitor of its own, and answer once it
 *  runs (or say why it could not start: the monitor's last line). */
async function start({ params: [ref], response }: ApiRequest): Promise<void> {
  const dirs = lookUp(ref);
  if (readState(dirs).status === 'running') return void response.writeHead(304).end();
  const file = readStartFile(dirs);
  if (!file) throw new ApiError(409, `container ${ref} was not made by the daemon: start it with our command line's run`);
  if (readState(dirs).status === 'exited') throw new ApiError(409, `container ${ref} has run and ended: nutshell starts a container once (docker run makes a new one)`);
  const monitor = await startContainerMonitor(file.config, dirs); // a spare one if there is (spares.ts)
  let monitorEnded = false;
  monitor.once('exit', () => (monitorEnded = true));
  const changes = watchContainer(dirs); // wakes us as the monitor records the container running
  try {
    while (readState(dirs).status === 'created' && !monitorEnded) await changes.next(50);
  } finally {
    changes.close();
  }
  refillSpares(); // now: a spare that booted during the start would have slowed it down
  if (readState(dirs).status === 'created') {
    const reason = lastLine(dirs);
    if (file.autoRemove) removeContainerDirs(dirs);
    // The CLI makes 126 and 127 of these words, as with dockerd: cannot execute, not found.
    throw new ApiError(/not found|ENOENT/.test(reason) ? 404 : 500, reason);
  }
  response.writeHead(204).end();
}

/** The one-line reason a failed start left in the container's output. */
function lastLine(dirs: ContainerDirs): string {
  const files = [dirs.errorLogFile, dirs.logFile].filter((file) => existsSync(file));
  const lines = files.flatMap((file) => readFileSync(file, 'utf8').trim().split('\n')).filter(Boolean);
  return (lines.pop() ?? 'the container could not start').replace(/^nutshell: /, '');
}

/** Exit codes of --rm containers the daemon has removed, for a `wait` that comes late. */
const removedExitCodes = new Map<string, number>();

/** When each container was first seen ended without an exit code. */
const endedWithoutCode = new Map<string, number>();

/** Has the end of the container been recorded for good? Its process can be gone a moment
 *  before its monitor writes the exit code down: only if no code comes within 2 s did it die
 *  unwatched (its monitor killed too), and its code is unknown for good. */
function endSettled(dirs: ContainerDirs, state: ContainerState): boolean {
  if (state.status !== 'exited') return false;
  if (state.exitCode !== undefined) return true;
  const since = endedWithoutCode.get(dirs.spec.id) ?? Date.now();
  endedWithoutCode.set(dirs.spec.id, since);
  return Date.now() - since > 2000;
}

/** The container's end: its exit code, once it has one. Removes a --rm container then. */
async function awaitExit(dirs: ContainerDirs, stopWaiting: () => boolean): Promise<number | undefined> {
  const id = dirs.spec.id;
  const changes = watchContainer(dirs); // wakes us as its monitor records the end
  try {
    for (;;) {
      if (!existsSync(dirs.dir)) return removedExitCodes.get(id);
      const state = readState(dirs);
      if (endSettled(dirs, state)) return await reapIfAutoRemove(dirs, state);
      if (stopWaiting()) return undefined;
      await changes.next(100);
    }
  } finally {
    changes.close();
  }
}

/** How many clients are reading each container's output now (attach, logs). */
const readers = new Map<string, number>();

/** A --rm container that has ended goes now, once its readers have read its last output (it
 *  is in the files that go with it); its exit code stays for `wait`. */
async function reapIfAutoRemove(dirs: ContainerDirs, state: ContainerState): Promise<number> {
  const code = state.exitCode ?? 137;
  const deadline = Date.now() + 10_000;
  while ((readers.get(dirs.spec.id) ?? 0) > 0 && Date.now() < deadline) await sleep(10);
  if (readStartFile(dirs)?.autoRemove && existsSync(dirs.dir)) {
    removedExitCodes.set(dirs.spec.id, code);
    await removeContainer(dirs, false);
  }
  return code;
}

/** POST /containers/{id}/wait: answers when the container ends, with its exit code. The CLI
 *  sends it before `start`, and reads the answer after the container's output. */
async function wait({ params: [ref], response, clientGone }: ApiRequest): Promise<void> {
  const dirs = lookUp(ref);
  // The headers go now, the body at the end: the CLI starts the container only once it has
  // seen them, so that not even a container that ends at once can end unseen.
  response.writeHead(200, { 'Content-Type': 'application/json' });
  response.flushHeaders();
  const code = await awaitExit(dirs, clientGone);
  response.end(JSON.stringify({ StatusCode: code ?? 137, Error: null }));
}

/** POST /containers/{id}/attach: the connection becomes the container's stdio. With a terminal
 *  it is the terminal, both ways (console.ts); without, the output comes in frames. */
async function attach(request: ApiRequest): Promise<void> {
  const { params: [ref], query } = request;
  const dirs = lookUp(ref);
  const file = readStartFile(dirs);
  const wantsStdin = query.get('stdin') === '1' || query.get('stdin') === 'true';
  if (file?.config.tty || (wantsStdin && file?.openStdin)) {
    const socket = request.hijack();
    const console = await connectConsole(dirs);
    if (wantsStdin) socket.pipe(console);
    console.pipe(socket);
    socket.on('close', () => console.destroy());
    console.on('close', () => socket.end());
    if (!file.config.tty) await streamOutput(dirs, socket, 'start', query);
    return;
  }
  const socket = request.hijack();
  await streamOutput(dirs, socket, readState(dirs).status === 'created' ? 'start' : 'end', query);
}

/** The container's output into a stream, in frames, following it until the container ends
 *  (or the client goes). */
async function streamOutput(dirs: ContainerDirs, out: NodeJS.WritableStream & { destroyed?: boolean }, from: 'start' | 'end', query: URLSearchParams, follow = true): Promise<void> {
  const wanted = (name: string) => query.get(name) === '1' || query.get(name) === 'true';
  const abort = new AbortController();
  out.on('close', () => abort.abort());
  const id = dirs.spec.id;
  readers.set(id, (readers.get(id) ?? 0) + 1);
  try {
    await followOutput(dirs, {
      from,
      follow,
      signal: abort.signal,
      onChunk: (stream, chunk) => {
        if ((stream === 1 && wanted('stdout')) || (stream === 2 && wanted('stderr'))) out.write(frame(stream, chunk));
      },
    });
  } finally {
    readers.set(id, (readers.get(id) ?? 1) - 1);
  }
  out.end();
}

/** GET /containers/{id}/logs: what the container printed, in frames (raw with a terminal). */
async function logs(request: ApiRequest): Promise<void> {
  const { params: [ref], query, response } = request;
  const dirs = lookUp(ref);
  const tty = readStartFile(dirs)?.config.tty === true;
  response.on('error', () => undefined); // a client that stops reading (logs -f, then Ctrl-C)
  response.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  const follow = query.get('follow') === '1' || query.get('follow') === 'true';
  if (!tty) return streamOutput(dirs, response, 'start', query, follow);
  const abort = new AbortController();
  response.on('close', () => abort.abort());
  await followOutput(dirs, { from: 'start', follow, signal: abort.signal, onChunk: (_stream, chunk) => void response.write(chunk) });
  response.end();
}

/** "running" etc., and since when, as docker shows them. */
function stateOf(dirs: ContainerDirs) {
  const state = readState(dirs);
  return {
    Status: state.status,
    Running: state.status === 'running',
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: state.status === 'running' ? state.pid ?? 0 : 0,
    ExitCode: state.exitCode ?? 0,
    Error: '',
    StartedAt: state.startedAt ?? '0001-01-01T00:00:00Z',
    FinishedAt: state.finishedAt ?? '0001-01-01T00:00:00Z',
  };
}

/** The ports as the API lists them: one entry per published port. */
function portsOf(dirs: ContainerDirs) {
  return (dirs.spec.network?.ports ?? []).map((p) => ({ IP: p.hostIp, PrivatePort: Number(p.containerPort), PublicPort: Number(p.hostPort), Type: p.protocol }));
}

/** GET /containers/json: `docker ps`, with -a (all=1) and --filter status=, name=, id=. */
function list({ query, response }: ApiRequest): void {
  const all = query.get('all') === '1' || query.get('all') === 'true';
  const filters = JSON.parse(query.get('filters') || '{}') as Record<string, string[] | Record<string, boolean>>;
  const values = (key: string) => (Array.isArray(filters[key]) ? filters[key] : Object.keys(filters[key] ?? {}));
  const rows = [];
  for (const dirs of listContainers()) {
    const state = readState(dirs);
    const name = dirs.spec.name ?? dirs.spec.id;
    if (!all && state.status !== 'running' && values('status').length === 0) continue;
    if (values('status').length > 0 && !values('status').includes(state.status)) continue;
    if (values('name').length > 0 && !values('name').some((n) => name.includes(n))) continue;
    if (values('id').length > 0 && !values('id').some((id) => dirs.spec.id.startsWith(id))) continue;
    rows.push({
      Id: dirs.spec.id,
      Names: [`/${name}`],
      Image: readStartFile(dirs)?.image ?? dirs.spec.image,
      ImageID: '',
      Command: dirs.spec.argv.join(' '),
      Created: Math.floor(Date.parse(dirs.spec.created) / 1000),
      State: state.status,
      Status: describeState(state),
      Ports: portsOf(dirs),
      Labels: {},
      HostConfig: { NetworkMode: dirs.spec.network?.mode ?? 'bridge' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    });
  }
  sendJSON(response, 200, rows);
}

/** GET /containers/{id}/json: `docker inspect`, with the fields templates ask for most. */
function inspect({ params: [ref], response }: ApiRequest): void {
  const dirs = lookUp(ref);
  const file = readStartFile(dirs);
  const state = readState(dirs);
  const lease = state.network;
  sendJSON(response, 200, {
    Id: dirs.spec.id,
    Created: dirs.spec.created,
    Path: dirs.spec.argv[0],
    Args: dirs.spec.argv.slice(1),
    State: stateOf(dirs),
    Image: dirs.spec.image,
    Name: `/${dirs.spec.name ?? dirs.spec.id}`,
    RestartCount: 0,
    Driver: 'overlay',
    Platform: 'linux',
    LogPath: dirs.logFile,
    HostConfig: {
      AutoRemove: file?.autoRemove ?? false,
      NetworkMode: dirs.spec.network?.mode ?? 'bridge',
      Memory: file?.config.limits.memoryBytes ?? 0,
      NanoCpus: Math.round((file?.config.limits.cpus ?? 0) * 1e9),
      PidsLimit: file?.config.limits.pidsMax ?? null,
      Privileged: dirs.spec.security?.privileged === true,
      CapAdd: file?.capAdd ?? null,
      CapDrop: file?.capDrop ?? null,
      Binds: (file?.config.volumes ?? []).map((v) => `${v.hostPath}:${v.containerPath}${v.readOnly ? ':ro' : ''}`),
    },
    GraphDriver: { Name: 'overlay', Data: { LowerDir: dirs.spec.lowerDirs.join(':'), UpperDir: dirs.upperDir, WorkDir: dirs.workDir, MergedDir: dirs.mergedDir } },
    Mounts: [],
    Config: {
      Hostname: dirs.spec.hostname,
      User: dirs.spec.user ?? '',
      Env: dirs.spec.env,
      Cmd: dirs.spec.argv,
      Image: file?.image ?? dirs.spec.image,
      WorkingDir: dirs.spec.workdir,
      StopTimeout: file?.config.stopTimeout,
      Tty: file?.config.tty === true,
      OpenStdin: file?.openStdin === true,
      Labels: {},
    },
    NetworkSettings: {
      IPAddress: lease?.ipAddress ?? '',
      IPPrefixLen: lease?.prefixLength ?? 0,
      Gateway: lease?.gateway ?? '',
      Ports: Object.fromEntries(portsOf(dirs).map((p) => [`${p.PrivatePort}/${p.Type}`, [{ HostIp: p.IP, HostPort: String(p.PublicPort) }]])),
      Networks: lease ? { bridge: { IPAddress: lease.ipAddress, IPPrefixLen: lease.prefixLength, Gateway: lease.gateway } } : {},
    },
  });
}

/** POST /containers/{id}/stop?t=N: SIGTERM, then SIGKILL, as our `stop`. */
async function stop({ params: [ref], query, response }: ApiRequest): Promise<void> {
  const dirs = lookUp(ref);
  if (readState(dirs).status !== 'running') return void response.writeHead(304).end();
  const seconds = query.has('t') ? Number(query.get('t')) : readStartFile(dirs)?.config.stopTimeout ?? 10;
  await stopContainer(dirs, seconds);
  await reapIfAutoRemove(dirs, readState(dirs));
  response.writeHead(204).end();
}

/** POST /containers/{id}/kill?signal=S: as our `kill`. */
function kill({ params: [ref], query, response }: ApiRequest): void {
  const dirs = lookUp(ref);
  const name = (query.get('signal') || 'KILL').toUpperCase().replace(/^SIG/, '');
  const signal = (/^\d+$/.test(name) ? Object.entries(os.signals).find(([, n]) => n === Number(name))?.[0] : `SIG${name}`) as NodeJS.Signals | undefined;
  if (!signal || !(signal in os.signals)) throw new ApiError(400, `invalid signal: ${query.get('signal')}`);
  if (readState(dirs).status !== 'running') throw new ApiError(409, `cannot kill container: ${ref}: container ${dirs.spec.id} is not running`);
  killContainer(dirs, signal);
  response.writeHead(204).end();
}

/** DELETE /containers/{id}?force=1: as our `rm [-f]`. */
async function remove({ params: [ref], query, response }: ApiRequest): Promise<void> {
  const dirs = lookUp(ref);
  const force = query.get('force') === '1' || query.get('force') === 'true';
  if (readState(dirs).status === 'running' && !force) {
    throw new ApiError(409, `cannot remove container "${ref}": container is running: stop the container before removing or force remove`);
  }
  await removeContainer(dirs, force);
  response.writeHead(204).end();
}

/** POST /containers/{id}/resize?h=ROWS&w=COLUMNS: the client's window changed size. */
function resize({ params: [ref], query, response }: ApiRequest): void {
  const dirs = lookUp(ref);
  if (readState(dirs).status === 'running') resizeTerminal(dirs, Number(query.get('h')), Number(query.get('w')));
  response.writeHead(200).end();
}

// ---------------------------------------------------------------- exec

/** An exec made by POST /containers/{id}/exec and run by POST /exec/{id}/start. It runs as the
 *  daemon's child: unlike the container, it ends if the daemon is killed (dockerd's execs live
 *  in containerd's shim; ours would too if the monitor ran them). */
interface Exec {
  id: string;
  container: ContainerDirs;
  argv: string[];
  tty: boolean;
  attachStdin: boolean;
  env?: string[];
  user?: string;
  workdir?: string;
  running: boolean;
  exitCode?: number;
  resize?: (rows: number, columns: number) => void;
}

const execs = new Map<string, Exec>();

function lookUpExec(id: string): Exec {
  const exec = execs.get(id);
  if (!exec) throw new ApiError(404, `No such exec instance: ${id}`);
  return exec;
}

async function createExec({ params: [ref], json, response }: ApiRequest): Promise<void> {
  const dirs = lookUp(ref);
  if (readState(dirs).status !== 'running') throw new ApiError(409, `container ${dirs.spec.id} is not running`);
  const body = await json<{ Cmd?: string[]; Tty?: boolean; AttachStdin?: boolean; Env?: string[]; User?: string; WorkingDir?: string }>();
  if (!body.Cmd || body.Cmd.length === 0) throw new ApiError(400, 'no command given');
  const id = randomBytes(32).toString('hex');
  execs.set(id, { id, container: dirs, argv: body.Cmd, tty: body.Tty === true, attachStdin: body.AttachStdin === true, env: body.Env, user: body.User || undefined, workdir: body.WorkingDir || undefined, running: false });
  sendJSON(response, 201, { Id: id });
}

/** POST /exec/{id}/start: the connection becomes the exec'd process's stdio. */
async function startExec(request: ApiRequest): Promise<void> {
  const exec = lookUpExec(request.params[0]);
  const state = readState(exec.container);
  if (state.status !== 'running' || !isAlive(state)) throw new ApiError(409, `container ${exec.container.spec.id} is not running`);
  const socket = request.hijack();
  const spec = exec.container.spec;
  // Without a terminal, each of the two streams writes its frames on the one connection.
  const framed = (stream: 1 | 2) => new Writable({ write: (chunk: Buffer, _encoding, done) => void socket.write(frame(stream, chunk), () => done()) });
  const out = exec.tty ? socket : framed(1);
  const err = framed(2);
  exec.running = true;
  const started = execWithStreams(state.pid!, detectCgroups().open(state.cgroupId!), {
    argv: exec.argv, env: [...spec.env, ...(exec.env ?? [])], workdir: exec.workdir ?? spec.workdir, user: exec.user ?? spec.user, security: spec.security,
  }, { tty: exec.tty, stdin: exec.attachStdin ? socket : undefined, stdout: out, stderr: err });
  exec.resize = started.resize;
  exec.exitCode = await started.exitCode;
  exec.running = false;
  socket.end();
}

function inspectExec({ params: [id], response }: ApiRequest): void {
  const exec = lookUpExec(id);
  sendJSON(response, 200, {
    ID: exec.id, Running: exec.running, ExitCode: exec.exitCode ?? null, ContainerID: exec.container.spec.id,
    ProcessConfig: { tty: exec.tty, entrypoint: exec.argv[0], arguments: exec.argv.slice(1) }, OpenStdin: exec.attachStdin, Pid: 0,
  });
}

function resizeExec({ params: [id], query, response }: ApiRequest): void {
  lookUpExec(id).resize?.(Number(query.get('h')), Number(query.get('w')));
  response.writeHead(200).end();
}

// ---------------------------------------------------------------- the engine as a whole

/** GET /info: `docker info`. */
async function info({ response }: ApiRequest): Promise<void> {
  const states = listContainers().map((dirs) => readState(dirs).status);
  const images = await withStore(async (store) => store.listImages().length);
  sendJSON(response, 200, {
    ID: hostname(), Name: hostname(),
    Containers: states.length, ContainersRunning: states.filter((s) => s === 'running').length, ContainersPaused: 0, ContainersStopped: states.filter((s) => s !== 'running').length,
    Images: images, Driver: 'overlay', DriverStatus: [], DockerRootDir: engineRoot(),
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Log: ['json-file'] },
    MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, PidsLimit: true, IPv4Forwarding: true,
    CgroupDriver: 'cgroupfs', CgroupVersion: detectCgroups().version === 2 ? '2' : '1',
    KernelVersion: release(), OperatingSystem: 'nutshell (chapter 11)', OSType: 'linux', Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
    NCPU: cpus().length, MemTotal: totalmem(), ServerVersion: '11.0.0', Runtimes: { nutshell: { path: process.argv[1] } }, DefaultRuntime: 'nutshell',
    SecurityOptions: ['name=seccomp,profile=builtin'], Swarm: { LocalNodeState: 'inactive' }, Warnings: [],
  });
}

/** The body of GET /version. */
export function aboutEngine(): object {
  const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: release(), GitCommit: 'nutshell' };
  return {
    Platform: { Name: 'nutshell (chapter 11)' },
    Components: [{ Name: 'Engine', Version: '11.0.0', Details: { ...details, GoVersion: `node ${process.version}` } }],
    Version: '11.0.0', GoVersion: `node ${process.version}`, BuildTime: '', ...details,
  };
}

/** A --rm container that ended while no client waited (or while the daemon was down) is
 *  removed all the same: look for them now and then, as dockerd does when it starts. */
export function removeEndedAutoRemoveContainers(): void {
  for (const dirs of listContainers()) {
    const state = readState(dirs);
    if (endSettled(dirs, state) && readStartFile(dirs)?.autoRemove) void reapIfAutoRemove(dirs, state).catch(() => undefined);
  }
}

const ID = '([^/]+)';
export const containerRoutes: Route[] = [
  ['POST', /^\/containers\/create$/, create],
  ['GET', /^\/containers\/json$/, list],
  ['GET', new RegExp(`^/containers/${ID}/json$`), inspect],
  ['POST', new RegExp(`^/containers/${ID}/start$`), start],
  ['POST', new RegExp(`^/containers/${ID}/wait$`), wait],
  ['POST', new RegExp(`^/containers/${ID}/attach$`), attach],
  ['GET', new RegExp(`^/containers/${ID}/logs$`), logs],
  ['POST', new RegExp(`^/containers/${ID}/stop$`), stop],
  ['POST', new RegExp(`^/containers/${ID}/kill$`), kill],
  ['POST', new RegExp(`^/containers/${ID}/resize$`), resize],
  ['DELETE', new RegExp(`^/containers/${ID}$`), remove],
  ['POST', new RegExp(`^/containers/${ID}/exec$`), createExec],
  ['POST', new RegExp(`^/exec/${ID}/start$`), startExec],
  ['GET', new RegExp(`^/exec/${ID}/json$`), inspectExec],
  ['POST', new RegExp(`^/exec/${ID}/resize$`), resizeExec],
  ['GET', /^\/info$/, info],
];
