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
  throw new Error('TODO (chapter 11): write host(), as the comment above it says');
}

/** Send one request and return the response as soon as its headers arrive: its body may be a
 *  stream that lasts as long as the container (attach, logs -f) or comes at its end (wait). */
function send(method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  // A connection of its own per request: a stream's end is its connection's end.
  // No file there (ENOENT), or a file nobody listens on (ECONNREFUSED): no daemon.
  // The socket is rw for root and its group only (daemon.ts): whoever may open it is root.
  throw new Error('TODO (chapter 11): write send(), as the comment above it says');
}

async function readBody(response: IncomingMessage): Promise<string> {
  throw new Error('TODO (chapter 11): write readBody()');
}

/** The daemon's answer to a refused request is `{"message": "..."}`: that message becomes our
 *  one line, as if the local verb had refused. */
async function failure(response: IncomingMessage): Promise<UserError> {
  // not JSON: a proxy's page, or a daemon that is not ours; show it as it is
  throw new Error('TODO (chapter 11): write failure(), as the comment above it says');
}

/** A request whose answer must be a success: its response, body unread. */
async function call(method: string, path: string, body?: object, headers?: Record<string, string>): Promise<IncomingMessage> {
  throw new Error('TODO (chapter 11): write call(), as the comment above it says');
}

/** A request whose answer is one JSON document. */
async function callJSON<T>(method: string, path: string, body?: object): Promise<T> {
  throw new Error('TODO (chapter 11): write callJSON(), as the comment above it says');
}

/** A container or image name as one path segment (`/containers/{id}/...`). */
function segment(name: string): string {
  throw new Error('TODO (chapter 11): write segment(), as the comment above it says');
}

// ---------------------------------------------------------------- the streams

/** Write to a stream and wait until it is taken: a slow reader slows us down. */
function writeTo(out: Writable, bytes: Buffer): Promise<void> {
  throw new Error('TODO (chapter 11): write writeTo(), as the comment above it says');
}

/** Attach, logs and exec without a terminal carry stdout and stderr on one connection, each
 *  chunk behind an 8-byte header: byte 0 the stream (1 stdout, 2 stderr), bytes 4 to 7 the
 *  length, big-endian (daemon.ts, frame). A header or a chunk may be cut between two reads. */
async function demultiplex(stream: IncomingMessage): Promise<void> {
  throw new Error('TODO (chapter 11): write demultiplex(), as the comment above it says');
}

/** A stream of JSON objects, one per line (`pull`): each one, as it comes. */
async function* jsonLines(stream: IncomingMessage): AsyncGenerator<Record<string, unknown>> {
  throw new Error('TODO (chapter 11): write jsonLines(), as the comment above it says');
}

// ---------------------------------------------------------------- images

/** `docker pull` as the API has it: POST /images/create. The answer is 200 at once and then the
 *  progress as JSON lines; a failure half-way is a line with `error`, not an HTTP status. */
async function pullImage(image: string, values: Pick<RunValues, 'platform' | 'username' | 'password'>): Promise<{ name: string; digest: string | undefined }> {
  // Credentials go to the daemon, which logs in to the registry: base64 of a JSON object.
  throw new Error('TODO (chapter 11): write pullImage(), as the comment above it says');
}

/** The registry options that only make sense for a pull done here: the daemon has its own. */
function refuseLocalRegistryOptions(values: VerbLine['values']): void {
  throw new Error('TODO (chapter 11): write refuseLocalRegistryOptions(), as the comment above it says');
}

export async function pull({ values, positionals: { image } }: VerbLine<'image'>): Promise<number> {
  throw new Error('TODO (chapter 11): write pull()');
}

export async function images(): Promise<number> {
  throw new Error('TODO (chapter 11): write images()');
}

// ---------------------------------------------------------------- containers

/** `run`'s options as the body of POST /containers/create: the container's configuration, and
 *  under HostConfig what the host does for it (limits, mounts, capabilities, network). Each is
 *  checked here with the local verb's own parsers, so a typo fails before any request. */
function createBody(values: RunValues, image: string, command: string[]): object {
  // No command: the image's own (its Cmd), as the daemon reads it from the image's config.
  // The container's stdout and stderr go to the daemon, which keeps them for attach and logs.
  // No --network: the daemon's default (bridge), as the local verb's.
  throw new Error('TODO (chapter 11): write createBody(), as the comment above it says');
}

/** `-e NAME` without a value means this shell's $NAME, as in the local verb: the daemon has
 *  another environment, so the value is filled in here. */
function fromClientEnvironment(entry: string): string {
  throw new Error('TODO (chapter 11): write fromClientEnvironment(), as the comment above it says');
}

/** Create the container; an image the daemon does not have is pulled, and the create tried once
 *  more (the docker CLI does the same: the daemon never pulls on its own). */
async function createContainer(values: RunValues, image: string, command: string[]): Promise<string> {
  throw new Error('TODO (chapter 11): write createContainer(), as the comment above it says');
}

/** How the local engine ends when the command cannot start: 127 not found, 126 not executable. */
function startFailure(err: UserError): UserError {
  throw new Error('TODO (chapter 11): write startFailure(), as the comment above it says');
}

/** `run`: create, then either start and print the id (-d), or attach, wait and start, in that
 *  order, as the docker CLI does: attached first so that no output is lost, waiting before the
 *  start so that even a container that ends at once is seen ending. */
export async function run({ values, positionals: { image }, command }: VerbLine<'image'>): Promise<number> {
  // Ctrl-C, or a kill of this client, is passed on to the container, as docker run does.
  // The daemon sends wait's headers at once and its body when the container ends: once the
  // headers are here, the wait is in place. With --rm, until the daemon has removed it too,
  // so that it is gone when we return.
  // Before the start: its output may reach us before the daemon's answer to it does.
  // After a failure the streams are still open, and would keep this process alive.
  throw new Error('TODO (chapter 11): write run(), as the comment above it says');
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
  throw new Error('TODO (chapter 11): write ago(), as the comment above it says');
}

/** `ps [-a]`: the local table (lifecycle.ts, listTable), its rows from GET /containers/json.
 *  COMMAND and STATUS are in the daemon's own words: dockerd quotes an argument with spaces
 *  (`sh -c 'exit 3'`), and says "Up 5 seconds" or "Exited (0) 2 minutes ago" as we do. */
export async function ps({ values }: VerbLine): Promise<number> {
  throw new Error('TODO (chapter 11): write ps(), as the comment above it says');
}

/** `logs [-f]`: the container's output as the daemon kept it; with a terminal it is one raw
 *  stream, without one stdout and stderr multiplexed. */
export async function logs({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  throw new Error('TODO (chapter 11): write logs(), as the comment above it says');
}

/** `exec`: an exec instance is made (POST /containers/{id}/exec), started with its output on
 *  the connection (POST /exec/{id}/start), and asked how it ended (GET /exec/{id}/json). */
export async function exec({ values, positionals: { container }, command }: VerbLine<'container'>): Promise<number> {
  throw new Error('TODO (chapter 11): write exec(), as the comment above it says');
}

export async function stop({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  // 304 Not Modified: it had already stopped. The local verb says so; so do we.
  throw new Error('TODO (chapter 11): write stop()');
}

export async function kill({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  throw new Error('TODO (chapter 11): write kill()');
}

export async function rm({ values, positionals: { container } }: VerbLine<'container'>): Promise<number> {
  throw new Error('TODO (chapter 11): write rm()');
}

/** `inspect`: a container by that name, or else an image; the daemon's JSON, as it gives it. */
export async function inspect({ positionals: { target } }: VerbLine<'target'>): Promise<number> {
  throw new Error('TODO (chapter 11): write inspect(), as the comment above it says');
}
