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
  throw new Error('TODO (chapter 11): write startFilePath()');
}

function readStartFile(dirs: ContainerDirs): StartFile | undefined {
  throw new Error('TODO (chapter 11): write readStartFile()');
}

/** The container a path names (its name, id or id prefix), or docker's 404. */
function lookUp(ref: string): ContainerDirs {
  throw new Error('TODO (chapter 11): write lookUp(), as the comment above it says');
}

/** docker's -p, as the CLI sends it ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}), in our
 *  own text form, so that parsePublish() checks it as it checks the command line's. */
function publishedPorts(bindings: NonNullable<CreateBody['HostConfig']>['PortBindings']): PublishedPort[] {
  throw new Error('TODO (chapter 11): write publishedPorts(), as the comment above it says');
}

/** POST /containers/create: the same checks and the same container as our `run`, not started. */
async function create({ query, json, response }: ApiRequest): Promise<void> {
  // The docker CLI sends `--entrypoint X` as ["X"], and `--entrypoint ""` as [""].
  // The monitor never removes it: the daemon does, once it has read the exit code (wait).
  throw new Error('TODO (chapter 11): write create(), as the comment above it says');
}

/** POST /containers/{id}/start: hand the container to a monitor of its own, and answer once it
 *  runs (or say why it could not start: the monitor's last line). */
async function start({ params: [ref], response }: ApiRequest): Promise<void> {
  // The CLI makes 126 and 127 of these words, as with dockerd: cannot execute, not found.
  throw new Error('TODO (chapter 11): write start(), as the comment above it says');
}

/** The one-line reason a failed start left in the container's output. */
function lastLine(dirs: ContainerDirs): string {
  throw new Error('TODO (chapter 11): write lastLine(), as the comment above it says');
}

/** Exit codes of --rm containers the daemon has removed, for a `wait` that comes late. */
const removedExitCodes = new Map<string, number>();

/** When each container was first seen ended without an exit code. */
const endedWithoutCode = new Map<string, number>();

/** Has the end of the container been recorded for good? Its process can be gone a moment
 *  before its monitor writes the exit code down: only if no code comes within 2 s did it die
 *  unwatched (its monitor killed too), and its code is unknown for good. */
function endSettled(dirs: ContainerDirs, state: ContainerState): boolean {
  throw new Error('TODO (chapter 11): write endSettled(), as the comment above it says');
}

/** The container's end: its exit code, once it has one. Removes a --rm container then. */
async function awaitExit(dirs: ContainerDirs, stopWaiting: () => boolean): Promise<number | undefined> {
  throw new Error('TODO (chapter 11): write awaitExit(), as the comment above it says');
}

/** How many clients are reading each container's output now (attach, logs). */
const readers = new Map<string, number>();

/** A --rm container that has ended goes now, once its readers have read its last output (it
 *  is in the files that go with it); its exit code stays for `wait`. */
async function reapIfAutoRemove(dirs: ContainerDirs, state: ContainerState): Promise<number> {
  throw new Error('TODO (chapter 11): write reapIfAutoRemove(), as the comment above it says');
}

/** POST /containers/{id}/wait: answers when the container ends, with its exit code. The CLI
 *  sends it before `start`, and reads the answer after the container's output. */
async function wait({ params: [ref], response, clientGone }: ApiRequest): Promise<void> {
  // The headers go now, the body at the end: the CLI starts the container only once it has
  // seen them, so that not even a container that ends at once can end unseen.
  throw new Error('TODO (chapter 11): write wait(), as the comment above it says');
}

/** POST /containers/{id}/attach: the connection becomes the container's stdio. With a terminal
 *  it is the terminal, both ways (console.ts); without, the output comes in frames. */
async function attach(request: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write attach(), as the comment above it says');
}

/** The container's output into a stream, in frames, following it until the container ends
 *  (or the client goes). */
async function streamOutput(dirs: ContainerDirs, out: NodeJS.WritableStream & { destroyed?: boolean }, from: 'start' | 'end', query: URLSearchParams, follow = true): Promise<void> {
  throw new Error('TODO (chapter 11): write streamOutput(), as the comment above it says');
}

/** GET /containers/{id}/logs: what the container printed, in frames (raw with a terminal). */
async function logs(request: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write logs(), as the comment above it says');
}

/** "running" etc., and since when, as docker shows them. */
function stateOf(dirs: ContainerDirs) {
  throw new Error('TODO (chapter 11): write stateOf(), as the comment above it says');
}

/** The ports as the API lists them: one entry per published port. */
function portsOf(dirs: ContainerDirs) {
  throw new Error('TODO (chapter 11): write portsOf(), as the comment above it says');
}

/** GET /containers/json: `docker ps`, with -a (all=1) and --filter status=, name=, id=. */
function list({ query, response }: ApiRequest): void {
  throw new Error('TODO (chapter 11): write list(), as the comment above it says');
}

/** GET /containers/{id}/json: `docker inspect`, with the fields templates ask for most. */
function inspect({ params: [ref], response }: ApiRequest): void {
  throw new Error('TODO (chapter 11): write inspect(), as the comment above it says');
}

/** POST /containers/{id}/stop?t=N: SIGTERM, then SIGKILL, as our `stop`. */
async function stop({ params: [ref], query, response }: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write stop(), as the comment above it says');
}

/** POST /containers/{id}/kill?signal=S: as our `kill`. */
function kill({ params: [ref], query, response }: ApiRequest): void {
  throw new Error('TODO (chapter 11): write kill(), as the comment above it says');
}

/** DELETE /containers/{id}?force=1: as our `rm [-f]`. */
async function remove({ params: [ref], query, response }: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write remove(), as the comment above it says');
}

/** POST /containers/{id}/resize?h=ROWS&w=COLUMNS: the client's window changed size. */
function resize({ params: [ref], query, response }: ApiRequest): void {
  throw new Error('TODO (chapter 11): write resize(), as the comment above it says');
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
  throw new Error('TODO (chapter 11): write lookUpExec()');
}

async function createExec({ params: [ref], json, response }: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write createExec()');
}

/** POST /exec/{id}/start: the connection becomes the exec'd process's stdio. */
async function startExec(request: ApiRequest): Promise<void> {
  // Without a terminal, each of the two streams writes its frames on the one connection.
  throw new Error('TODO (chapter 11): write startExec(), as the comment above it says');
}

function inspectExec({ params: [id], response }: ApiRequest): void {
  throw new Error('TODO (chapter 11): write inspectExec()');
}

function resizeExec({ params: [id], query, response }: ApiRequest): void {
  throw new Error('TODO (chapter 11): write resizeExec()');
}

// ---------------------------------------------------------------- the engine as a whole

/** GET /info: `docker info`. */
async function info({ response }: ApiRequest): Promise<void> {
  throw new Error('TODO (chapter 11): write info(), as the comment above it says');
}

/** The body of GET /version. */
export function aboutEngine(): object {
  throw new Error('TODO (chapter 11): write aboutEngine(), as the comment above it says');
}

/** A --rm container that ended while no client waited (or while the daemon was down) is
 *  removed all the same: look for them now and then, as dockerd does when it starts. */
export function removeEndedAutoRemoveContainers(): void {
  throw new Error('TODO (chapter 11): write removeEndedAutoRemoveContainers(), as the comment above it says');
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
