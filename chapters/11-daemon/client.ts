/** Chapter 11 · the client: our own verbs, sent to a daemon. With --host (or NUTSHELL_HOST),
 *  `run`, `ps`, `logs` and the rest do nothing here: each becomes a few Docker Engine API
 *  requests over the daemon's Unix socket, and prints what the local verb prints. So the same
 *  command line drives our daemon, or a real dockerd, as the docker CLI does.
 *  Paths carry no `/v1.NN` prefix: a daemon then answers in its own newest version, which lets
 *  this client speak to Debian's dockerd 20.10 (API 1.41) as well as to ours (1.50). */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { constants as os } from 'node:os';
import type { Writable } from 'node:stream';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { parseVolume } from './container.ts';
import { socketPathOf } from './daemon.ts';
import { formatPorts, parseNetworkMode, parsePublish } from './network.ts';
import { formatReference, parseReference } from './reference.ts';
import { formatBytes, parseCpus, parseMemory, parsePidsLimit } from './units.ts';

/** A verb's command line as runProgram hands it over. The options are the local verb's, read
 *  here by name: `run` declares them in main.ts, and this file only sends them on. */
export interface VerbLine<Positional extends string = never> {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: Record<Positional, string>;
  command: string[];
}

/** The options of `run` that the daemon is told about; the others are refused (see run). */
interface RunValues {
  entrypoint?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  name?: string;
  'stop-timeout'?: string;
  rm?: boolean;
  memory?: string;
  cpus?: string;
  'pids-limit'?: string;
  detach?: boolean;
  volume?: string[];
  'cap-add'?: string[];
  'cap-drop'?: string[];
  privileged?: boolean;
  'security-opt'?: string[];
  network?: string;
  publish?: string[];
  platform?: string;
  username?: string;
  password?: string;
}

// ---------------------------------------------------------------- HTTP over the Unix socket

/** The daemon we talk to: `unix:///path`, from --host or NUTSHELL_HOST (main.ts). */
function host(): string {
  return process.env.NUTSHELL_HOST!;
}

/** Send one request and return the response as soon as its headers arrive: its body may be a
 *  stream that lasts as long as the container (attach, logs -f) or comes at its end (wait). */
function send(method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  traceStep(`${method} ${path}`, 'a request to the daemon');
  return new Promise((answered, failed) => {
    const outgoing = httpRequest({
      socketPath: socketPathOf(host()),
      method,
      path,
      // A connection of its own per request: a stream's end is its connection's end.
      agent: false,
      headers: { Host: 'daemon', ...headers, ...(text !== undefined && { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }) },
    });
    outgoing.once('response', answered);
    outgoing.once('error', (err: NodeJS.ErrnoException) => {
      // No file there (ENOENT), or a file nobody listens on (ECONNREFUSED): no daemon.
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') failed(new UserError(`cannot connect to the nutshell daemon at ${host()}: is it running?`));
      // The socket is rw for root and its group only (daemon.ts): whoever may open it is root.
      else if (err.code === 'EACCES') failed(new UserError(`permission denied on ${host()}: the daemon's socket is for root and its group`));
      else failed(new UserError(`${host()}: ${err.message}`));
    });
    outgoing.end(text);
  });
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The daemon's answer to a refused request is `{"message": "..."}`: that message becomes our
 *  one line, as if the local verb had refused. */
async function failure(response: IncomingMessage): Promise<UserError> {
  const text = await readBody(response);
  let message = text.trim() || `HTTP ${response.statusCode}`;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // not JSON: a proxy's page, or a daemon that is not ours; show it as it is
  }
  return new UserError(message.split('\n')[0]!);
}

/** A request whose answer must be a success: its response, body unread. */
async function call(method: string, path: string, body?: object, headers?: Record<string, string>): Promise<IncomingMessage> {
  const response = await send(method, path, body, headers);
  if (response.statusCode! >= 400) throw await failure(response);
  return response;
}

/** A request whose answer is one JSON document. */
async function callJSON<T>(method: string, path: string, body?: object): Promise<T> {
  const text = await readBody(await call(method, path, body));
  return (text === '' ? {} : JSON.parse(text)) as T;
}

/** A container or image name as one path segment (`/containers/{id}/...`). */
function segment(name: string): string {
  return encodeURIComponent(name);
}

// ---------------------------------------------------------------- the streams

/** Write to a stream and wait until it is taken: a slow reader slows us down. */
function writeTo(out: Writable, bytes: Buffer): Promise<void> {
  return new Promise((done, fail) => out.write(bytes, (err) => (err ? fail(err) : done())));
}

/** Attach, logs and exec without a terminal carry stdout and stderr on one connection, each
 *  chunk behind an 8-byte header: byte 0 the stream (1 stdout, 2 stderr), bytes 4 to 7 the
 *  length, big-endian (daemon.ts, frame). A header or a chunk may be cut between two reads. */
async function demultiplex(stream: IncomingMessage): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
    while (pending.length >= 8) {
      const length = pending.readUInt32BE(4);
      if (pending.length < 8 + length) break;
      await writeTo(pending[0] === 2 ? process.stderr : process.stdout, pending.subarray(8, 8 + length));
      pending = pending.subarray(8 + length);
    }
  }
}

/** A stream of JSON objects, one per line (`pull`): each one, as it comes. */
async function* jsonLines(stream: IncomingMessage): AsyncGenerator<Record<string, unknown>> {
  let pending = '';
  for await (const chunk of stream) {
    pending += (chunk as Buffer).toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim() !== '') yield JSON.parse(line);
  }
  if (pending.trim() !== '') yield JSON.parse(pending);
}

// ---------------------------------------------------------------- images

/** `docker pull` as the API has it: POST /images/create. The answer is 200 at once and then the
 *  progress as JSON lines; a failure half-way is a line with `error`, not an HTTP status. */
async function pullImage(image: string, values: Pick<RunValues, 'platform' | 'username' | 'password'>): Promise<{ name: string; digest: string | undefined }> {
  const ref = parseReference(image);
  const query = new URLSearchParams({ fromImage: `${ref.registry}/${ref.repository}`, tag: ref.digest ?? ref.tag! });
  if (values.platform !== undefined) query.set('platform', values.platform);
  // Credentials go to the daemon, which logs in to the registry: base64 of a JSON object.
  const auth: Record<string, string> = values.username === undefined ? {} : { 'X-Registry-Auth': Buffer.from(JSON.stringify({ username: values.username, password: values.password ?? '' })).toString('base64url') };
  let digest: string | undefined;
  for await (const message of jsonLines(await call('POST', `/images/create?${query}`, undefined, auth))) {
    if (typeof message.error === 'string') throw new UserError(message.error);
    const status = String(message.status ?? '');
    if (status.startsWith('Digest: ')) digest = status.slice('Digest: '.length);
  }
  return { name: formatReference(ref), digest };
}

/** The registry options that only make sense for a pull done here: the daemon has its own. */
function refuseLocalRegistryOptions(values: VerbLine['values']): void {
  for (const option of ['credentials', 'insecure-registry']) {
    if (values[option] !== undefined) throw new UserError(`--${option} is the daemon's to set, not the client's: give it to the daemon`);
  }
}

export async function pull({ values, positionals: { image } }: VerbLine<'image'>): Promise<number> {
  refuseLocalRegistryOptions(values);
  const { name, digest } = await pullImage(image, values as RunValues);
  process.stdout.write(values.quiet ? `${name}\n` : `Digest: ${digest ?? 'unknown'}\nPulled ${name}\n`);
  return 0;
}

export async function images(): Promise<number> {
  const list = await callJSON<{ Id: string; RepoTags: string[] | null; Created: number; Size: number }[]>('GET', '/images/json');
  process.stdout.write('REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n');
  for (const image of list) {
    const created = new Date(image.Created * 1000).toISOString();
    for (const tag of image.RepoTags?.filter((t) => t !== '<none>:<none>') ?? []) {
      const ref = parseReference(tag);
      process.stdout.write(`${ref.registry}/${ref.repository}\t${ref.tag ?? ref.digest}\t${image.Id.slice(7, 19)}\t${created}\t${formatBytes(image.Size)}\n`);
    }
  }
  return 0;
}

// ---------------------------------------------------------------- containers

/** `run`'s options as the body of POST /containers/create: the container's configuration, and
 *  under HostConfig what the host does for it (limits, mounts, capabilities, network). Each is
 *  checked here with the local verb's own parsers, so a typo fails before any request. */
function createBody(values: RunValues, image: string, command: string[]): object {
  const ports = (values.publish ?? []).map(parsePublish);
  const stopTimeout = values['stop-timeout'] === undefined ? undefined : Number(values['stop-timeout']);
  if (stopTimeout !== undefined && !(stopTimeout >= 0)) throw new UserError(`invalid --stop-timeout "${values['stop-timeout']}": give seconds, e.g. 10`);
  return {
    Image: image,
    // No command: the image's own (its Cmd), as the daemon reads it from the image's config.
    ...(command.length > 0 && { Cmd: command }),
    ...(values.entrypoint !== undefined && { Entrypoint: [values.entrypoint] }),
    Env: (values.env ?? []).map(fromClientEnvironment),
    ...(values.workdir !== undefined && { WorkingDir: values.workdir }),
    ...(values.user !== undefined && { User: values.user }),
    ...(values.hostname !== undefined && { Hostname: values.hostname }),
    ...(stopTimeout !== undefined && { StopTimeout: stopTimeout }),
    // The container's stdout and stderr go to the daemon, which keeps them for attach and logs.
    AttachStdout: !values.detach,
    AttachStderr: !values.detach,
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.containerPort}/${p.protocol}`, {}])),
    HostConfig: {
      AutoRemove: values.rm === true,
      ...(values.memory !== undefined && { Memory: parseMemory(values.memory) }),
      ...(values.cpus !== undefined && { NanoCpus: Math.round(parseCpus(values.cpus) * 1e9) }),
      ...(values['pids-limit'] !== undefined && { PidsLimit: parsePidsLimit(values['pids-limit']) }),
      CapAdd: values['cap-add'] ?? [],
      CapDrop: values['cap-drop'] ?? [],
      Privileged: values.privileged === true,
      SecurityOpt: values['security-opt'] ?? [],
      Binds: (values.volume ?? []).map(parseVolume).map((v) => `${v.hostPath}:${v.containerPath}${v.readOnly ? ':ro' : ''}`),
      // No --network: the daemon's default (bridge), as the local verb's.
      ...(values.network !== undefined && { NetworkMode: parseNetworkMode(values.network) }),
      PortBindings: Object.fromEntries(ports.map((p) => [`${p.containerPort}/${p.protocol}`, [{ HostIp: p.hostIp, HostPort: String(p.hostPort) }]])),
    },
  };
}

/** `-e NAME` without a value means this shell's $NAME, as in the local verb: the daemon has
 *  another environment, so the value is filled in here. */
function fromClientEnvironment(entry: string): string {
  const key = entry.split('=')[0];
  if (!key || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`invalid environment variable "${entry}": use -e NAME=value`);
  return entry.includes('=') ? entry : `${key}=${process.env[key] ?? ''}`;
}

/** Create the container; an image the daemon does not have is pulled, and the create tried once
 *  more (the docker CLI does the same: the daemon never pulls on its own). */
async function createContainer(values: RunValues, image: string, command: string[]): Promise<string> {
  const body = createBody(values, image, command);
  const path = `/containers/create${values.name === undefined ? '' : `?name=${encodeURIComponent(values.name)}`}`;
  let response = await send('POST', path, body);
  if (response.statusCode === 404) {
    response.resume();
    await pullImage(image, values);
    response = await send('POST', path, body);
  }
  if (response.statusCode! >= 400) throw await failure(response);
  return (JSON.parse(await readBody(response)) as { Id: string }).Id;
}

/** How the local engine ends when the command cannot start: 127 not found, 126 not executable. */
function startFailure(err: UserError): UserError {
  if (/executable file not found|no such file or directory/i.test(err.message)) return new UserError(err.message, 127);
  if (/permission denied/i.test(err.message)) return new UserError(err.message, 126);
  return err;
}

/** `run`: create, then either start and print the id (-d), or attach, wait and start, in that
 *  order, as the docker CLI does: attached first so that no output is lost, waiting before the
 *  start so that even a container that ends at once is seen ending. */
export async function run({ values, positionals: { image }, command }: VerbLine<'image'>): Promise<number> {
  refuseLocalRegistryOptions(values);
  for (const option of ['interactive', 'tty', 'stats']) {
    if (values[option] !== undefined) throw new UserError(`--${option} is not supported with --host: run it without --host`);
  }
  const options = values as RunValues;
  const id = await createContainer(options, image, command);
  if (options.detach) {
    const started = await send('POST', `/containers/${segment(id)}/start`);
    if (started.statusCode! >= 400) throw startFailure(await failure(started));
    started.resume();
    process.stdout.write(`${id}\n`);
    return 0;
  }
  const output = await call('POST', `/containers/${segment(id)}/attach?stream=1&stdout=1&stderr=1`);
  const copied = demultiplex(output);
  copied.catch(() => {}); // on a failure below the stream is cut; the failure is what we report
  let ended: IncomingMessage | undefined;
  // Ctrl-C, or a kill of this client, is passed on to the container, as docker run does.
  const forward = (signal: NodeJS.Signals) => void send('POST', `/containers/${segment(id)}/kill?signal=${signal}`).then((r) => r.resume(), () => {});
  try {
    // The daemon sends wait's headers at once and its body when the container ends: once the
    // headers are here, the wait is in place. With --rm, until the daemon has removed it too,
    // so that it is gone when we return.
    ended = await call('POST', `/containers/${segment(id)}/wait?condition=${options.rm ? 'removed' : 'next-exit'}`);
    // Before the start: its output may reach us before the daemon's answer to it does.
    process.on('SIGINT', forward).on('SIGTERM', forward);
    const started = await send('POST', `/containers/${segment(id)}/start`);
    if (started.statusCode! >= 400) throw startFailure(await failure(started));
    started.resume();
    const [status] = await Promise.all([readBody(ended), copied]);
    const { StatusCode, Error: error } = JSON.parse(status) as { StatusCode: number; Error?: { Message?: string } | null };
    if (error?.Message) throw new UserError(error.Message);
    return StatusCode;
  } finally {
    process.off('SIGINT', forward).off('SIGTERM', forward);
    // After a failure the streams are still open, and would keep this process alive.
    output.destroy();
    ended?.destroy();
  }
}

interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: 'tcp' | 'udp' }[];
}

/** "5 seconds", "3 minutes": how long ago, in the words of the local `ps`. */
function ago(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

/** `ps [-a]`: the local table (lifecycle.ts, listTable), its rows from GET /containers/json.
 *  COMMAND and STATUS are in the daemon's own words: dockerd quotes an argument with spaces
 *  (`sh -c 'exit 3'`), and says "Up 5 seconds" or "Exited (0) 2 minutes ago" as we do. */
export async function ps({ values }: VerbLine): Promise<number> {
  const list = await callJSON<ContainerSummary[]>('GET', `/containers/json${values.all ? '?all=1' : ''}`);
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const c of list) {
    const created = `${ago(Math.max(0, Math.round(Date.now() / 1000 - c.Created)))} ago`;
    const published = (c.Ports ?? []).filter((p) => p.PublicPort !== undefined);
    const ports = formatPorts(published.map((p) => ({ hostIp: p.IP ?? '0.0.0.0', hostPort: p.PublicPort!, containerPort: p.PrivatePort, protocol: p.Type })));
    const name = c.Names?.[0]?.replace(/^\//, '') ?? '';
    rows.push([c.Id.slice(0, 12), c.Image, JSON.stringify(c.Command.slice(0, 30)), created, c.Status, ports, name]);
  }
  process.stdout.write(rows.map((r) => r.join('\t')).join('\n') + '\n');
  return 0;
}

/** `logs [-f]`: the container's output as the daemon kept it; with a terminal it is one raw
 *  stream, without one stdout and stderr multiplexed. */
export async function logs({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  const { Config } = await callJSON<{ Config: { Tty?: boolean } }>('GET', `/containers/${segment(container)}/json`);
  const output = await call('GET', `/containers/${segment(container)}/logs?stdout=1&stderr=1${values.follow ? '&follow=1' : ''}`);
  if (!Config.Tty) await demultiplex(output);
  else for await (const chunk of output) await writeTo(process.stdout, chunk as Buffer);
  return 0;
}

/** `exec`: an exec instance is made (POST /containers/{id}/exec), started with its output on
 *  the connection (POST /exec/{id}/start), and asked how it ended (GET /exec/{id}/json). */
export async function exec({ values, positionals: { container }, command }: VerbLine<'container'>): Promise<number> {
  for (const option of ['interactive', 'tty']) {
    if (values[option] !== undefined) throw new UserError(`exec --${option} is not supported with --host: run it without --host`);
  }
  const { Id } = await callJSON<{ Id: string }>('POST', `/containers/${segment(container)}/exec`, { Cmd: command, AttachStdout: true, AttachStderr: true });
  await demultiplex(await call('POST', `/exec/${segment(Id)}/start`, { Detach: false, Tty: false }));
  const { ExitCode } = await callJSON<{ ExitCode: number | null }>('GET', `/exec/${segment(Id)}/json`);
  return ExitCode ?? 125;
}

export async function stop({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  const seconds = values.time === undefined ? 10 : Number(values.time);
  if (!(seconds >= 0)) throw new UserError(`invalid -t "${values.time}": give seconds, e.g. 10`);
  const response = await call('POST', `/containers/${segment(container)}/stop?t=${seconds}`);
  response.resume();
  // 304 Not Modified: it had already stopped. The local verb says so; so do we.
  if (response.statusCode === 304) throw new UserError(`container "${container}" is not running`);
  process.stdout.write(`${container}\n`);
  return 0;
}

export async function kill({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  const signal = `SIG${String(values.signal ?? 'KILL').toUpperCase().replace(/^SIG/, '')}`;
  if (!(signal in os.signals)) throw new UserError(`unknown signal "${values.signal}"`);
  (await call('POST', `/containers/${segment(container)}/kill?signal=${signal}`)).resume();
  process.stdout.write(`${container}\n`);
  return 0;
}

export async function rm({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  (await call('DELETE', `/containers/${segment(container)}${values.force ? '?force=1' : ''}`)).resume();
  process.stdout.write(`${container}\n`);
  return 0;
}

/** `inspect`: a container by that name, or else an image; the daemon's JSON, as it gives it. */
export async function inspect({ positionals: { target } }: VerbLine<'target'>): Promise<number> {
  let response = await send('GET', `/containers/${segment(target)}/json`);
  if (response.statusCode === 404) {
    response.resume();
    response = await send('GET', `/images/${target.split('/').map(encodeURIComponent).join('/')}/json`);
    if (response.statusCode === 404) {
      response.resume();
      throw new UserError(`no container or image named "${target}"`);
    }
  }
  if (response.statusCode! >= 400) throw await failure(response);
  process.stdout.write(`${JSON.stringify(JSON.parse(await readBody(response)), null, 2)}\n`);
  return 0;
}
