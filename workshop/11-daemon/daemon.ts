/** Chapter 11 · the daemon: the engine as a server. `docker` is only a client; it speaks HTTP,
 *  over a Unix socket, to a daemon that keeps the images and the containers. This file is that
 *  server's frame: the socket and who may open it, the API's version in every path, errors as
 *  one JSON line, the stream formats, and the table that sends each request to its endpoint
 *  (containers-api.ts, images-api.ts). It knows nothing of containers itself. */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { traceEnabled, traceStep } from '../../lib/trace.ts';

/** The newest API version we speak, and the oldest we accept. The docker CLI 28 asks /_ping,
 *  reads our Api-Version header and uses the lower of its own version (1.50) and ours. */
export const API_VERSION = '1.50';
export const MIN_API_VERSION = '1.24';

/** Where a daemon listens, and where clients look for it: docker's default path, our name. */
export const DEFAULT_HOST = 'unix:///run/nutshell/docker.sock';

/** An error the client sees: the HTTP status, and `{"message": ...}` as the body, which the
 *  docker CLI prints as "Error response from daemon: <message>". */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    throw new Error('TODO (chapter 11): write ApiError.constructor()');
  }
}

/** One request, as an endpoint gets it. */
export interface ApiRequest {
  method: string;
  /** The path without its `/v1.NN` prefix: `/containers/abc/start`. */
  path: string;
  /** What the route's pattern captured: the container or image named in the path. */
  params: [string, ...string[]];
  query: URLSearchParams;
  /** The API version the client asked for (the prefix), or ours when it gave none. */
  version: string;
  incoming: IncomingMessage;
  /** The response, for an ordinary request. */
  response: ServerResponse;
  /** The body, parsed as JSON ({} when there is none). */
  json<T>(): Promise<T>;
  /** Take the connection over for a raw stream (attach, exec): see hijack(). */
  hijack(): Socket;
  /** True once the client has gone (closed its end of the connection). */
  clientGone(): boolean;
}

export type Handler = (request: ApiRequest) => void | Promise<void>;
/** A route: the method, the path as a pattern (its groups become `params`), the endpoint. */
export type Route = readonly [method: string, pattern: RegExp, handler: Handler];

/** Send a JSON body with a status. */
export function sendJSON(response: ServerResponse, status: number, body: unknown): void {
  throw new Error('TODO (chapter 11): write sendJSON(), as the comment above it says');
}

/** A stream of JSON objects, one per line, as `pull` and `push` report their progress. */
export function startJSONStream(response: ServerResponse): (message: object) => void {
  throw new Error('TODO (chapter 11): write startJSONStream(), as the comment above it says');
}

/** Attach without a terminal multiplexes stdout and stderr on one connection: each chunk is
 *  an 8-byte header (the stream: 1 stdout, 2 stderr; three zero bytes; the length, big-endian)
 *  and the bytes. With a terminal there is one stream, and no header. */
export function frame(stream: 1 | 2, chunk: Buffer): Buffer {
  throw new Error('TODO (chapter 11): write frame(), as the comment above it says');
}

/** The status of an error: what the endpoint said, or what an engine message means. */
function statusOf(err: unknown): number {
  throw new Error('TODO (chapter 11): write statusOf(), as the comment above it says');
}

/** Compare two versions "1.44" and "1.50" as numbers, part by part. */
function compareVersions(a: string, b: string): number {
  throw new Error('TODO (chapter 11): write compareVersions(), as the comment above it says');
}

/** Split `/v1.50/containers/json` into the version and the rest; refuse versions we do not speak
 *  with dockerd's words, which the CLI shows as they are. */
function splitVersion(path: string): { version: string; path: string } {
  throw new Error('TODO (chapter 11): write splitVersion(), as the comment above it says');
}

/** Read a request's whole body (they are small: a container's configuration, at most). */
async function readBody(incoming: IncomingMessage): Promise<Buffer> {
  throw new Error('TODO (chapter 11): write readBody(), as the comment above it says');
}

/** The body of an upgrade request (Content-Length bytes, part of them perhaps in `head`). */
async function readUpgradeBody(incoming: IncomingMessage, socket: Socket, head: Buffer): Promise<Buffer> {
  throw new Error('TODO (chapter 11): write readUpgradeBody(), as the comment above it says');
}

/** Turn an upgrade request's socket into a raw stream: the "101 UPGRADED" answer the docker CLI
 *  waits for, after which the connection carries the container's bytes both ways. An attach
 *  that did not ask to upgrade gets "200 OK" and the stream in the body, output only. */
function hijackConnection(incoming: IncomingMessage, response: ServerResponse | undefined, upgraded: Socket | undefined): Socket {
  // A client that goes away mid-stream makes our next write fail (EPIPE): that is its 'close',
  // which the endpoints watch, not an error of the daemon's.
  // Without the upgrade, take the socket from the HTTP server all the same: the stream has
  // no length, and ends when we close the connection.
  throw new Error('TODO (chapter 11): write hijackConnection(), as the comment above it says');
}

/** Write an error as an HTTP response on a socket that the HTTP server gave up (an upgrade). */
function writeRawError(socket: Socket, status: number, message: string): void {
  throw new Error('TODO (chapter 11): write writeRawError(), as the comment above it says');
}

/** The endpoints every daemon has, whatever it keeps: the version handshake and /version. */
function handshakeRoutes(about: () => object): Route[] {
  // The CLI reads these headers on every start; the body is just "OK".
  throw new Error('TODO (chapter 11): write handshakeRoutes(), as the comment above it says');
}

export interface DaemonOptions {
  /** unix:///path/to.sock */
  host: string;
  routes: Route[];
  /** The body of /version. */
  about(): object;
}

/** The socket's path from `unix:///path`, refusing what we cannot listen on. */
export function socketPathOf(host: string): string {
  throw new Error('TODO (chapter 11): write socketPathOf(), as the comment above it says');
}

/** A socket file left by a daemon that was killed: remove it, but never one a live daemon
 *  answers on (two daemons on one root would each think they own its containers). */
async function clearStaleSocket(path: string): Promise<void> {
  throw new Error('TODO (chapter 11): write clearStaleSocket(), as the comment above it says');
}

/** Serve the API on the socket until SIGTERM or SIGINT. The containers do not depend on us:
 *  each runs under its own monitor, and goes on when the daemon stops or is killed. */
export async function serveApi(options: DaemonOptions): Promise<number> {
  // `Connection: Upgrade` (attach, exec start) comes as an 'upgrade' event, with the raw socket
  // and whatever came after the headers. Node parses no body there: the request's own (exec
  // start sends JSON) is read off the socket first, so that it never reaches the container's
  // stdin, and what follows it is put back for the stream.
  // Long streams (logs -f, attach, a slow pull) must not be cut by Node's request timeouts.
  // The socket file is made by bind(2) with the process's umask: set it so that the file is
  // never open to everyone, not even for the moment before chmod.
  // rw for root and the socket's group, as dockerd's (group "docker"): whoever may open it can
  // start a privileged container, that is: is root on this machine.
  throw new Error('TODO (chapter 11): write serveApi(), as the comment above it says');
}
