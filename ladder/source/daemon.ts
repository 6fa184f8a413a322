//@ daemon..
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
    this.status = status;
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
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

/** A stream of JSON objects, one per line, as `pull` and `push` report their progress. */
export function startJSONStream(response: ServerResponse): (message: object) => void {
  response.writeHead(200, { 'Content-Type': 'application/json' });
  return (message) => void response.write(`${JSON.stringify(message)}\r\n`);
}

/** Attach without a terminal multiplexes stdout and stderr on one connection: each chunk is
 *  an 8-byte header (the stream: 1 stdout, 2 stderr; three zero bytes; the length, big-endian)
 *  and the bytes. With a terminal there is one stream, and no header. */
export function frame(stream: 1 | 2, chunk: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(chunk.length, 4);
  return Buffer.concat([header, chunk]);
}

/** The status of an error: what the endpoint said, or what an engine message means. */
function statusOf(err: unknown): number {
  if (err instanceof ApiError) return err.status;
  if (!(err instanceof UserError)) return 500;
  const message = err.message;
  if (/^no (such )?(container|image)|not in the local store|is not known|not found|manifest unknown/i.test(message)) return 404;
  if (/in use|is running|is not running|already/i.test(message)) return 409;
  return 400;
}

/** Compare two versions "1.44" and "1.50" as numbers, part by part. */
function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

/** Split `/v1.50/containers/json` into the version and the rest; refuse versions we do not speak
 *  with dockerd's words, which the CLI shows as they are. */
function splitVersion(path: string): { version: string; path: string } {
  const match = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  if (!match) return { version: API_VERSION, path };
  const [, version = '', rest = ''] = match;
  if (compareVersions(version, API_VERSION) > 0) throw new ApiError(400, `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  if (compareVersions(version, MIN_API_VERSION) < 0) throw new ApiError(400, `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  return { version, path: rest };
}

/** Read a request's whole body (they are small: a container's configuration, at most). */
async function readBody(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The body of an upgrade request (Content-Length bytes, part of them perhaps in `head`). */
async function readUpgradeBody(incoming: IncomingMessage, socket: Socket, head: Buffer): Promise<Buffer> {
  const length = Number(incoming.headers['content-length'] ?? 0);
  let buffered = head;
  while (buffered.length < length) {
    const chunk = socket.read() as Buffer | null;
    if (chunk) buffered = Buffer.concat([buffered, chunk]);
    else await once(socket, 'readable');
  }
  const rest = buffered.subarray(length);
  if (rest.length > 0) socket.unshift(rest);
  return buffered.subarray(0, length);
}

/** Turn an upgrade request's socket into a raw stream: the "101 UPGRADED" answer the docker CLI
 *  waits for, after which the connection carries the container's bytes both ways. An attach
 *  that did not ask to upgrade gets "200 OK" and the stream in the body, output only. */
function hijackConnection(incoming: IncomingMessage, response: ServerResponse | undefined, upgraded: Socket | undefined): Socket {
  const type = 'application/vnd.docker.raw-stream';
  // A client that goes away mid-stream makes our next write fail (EPIPE): that is its 'close',
  // which the endpoints watch, not an error of the daemon's.
  (upgraded ?? incoming.socket).on('error', () => undefined);
  if (upgraded) {
    upgraded.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    return upgraded;
  }
  const socket = incoming.socket;
  // Without the upgrade, take the socket from the HTTP server all the same: the stream has
  // no length, and ends when we close the connection.
  response!.detachSocket(socket);
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nConnection: close\r\n\r\n`);
  return socket;
}

/** Write an error as an HTTP response on a socket that the HTTP server gave up (an upgrade). */
function writeRawError(socket: Socket, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The endpoints every daemon has, whatever it keeps: the version handshake and /version. */
function handshakeRoutes(about: () => object): Route[] {
  const ping: Handler = ({ response }) => {
    // The CLI reads these headers on every start; the body is just "OK".
    response.writeHead(200, { 'Api-Version': API_VERSION, 'Ostype': 'linux', 'Docker-Experimental': 'false', 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate' });
    response.end('OK');
  };
  return [
    ['GET', /^\/_ping$/, ping],
    ['HEAD', /^\/_ping$/, ping],
    ['GET', /^\/version$/, ({ response }) => sendJSON(response, 200, about())],
  ];
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
  const match = /^unix:\/\/(\/.+)$/.exec(host);
  if (!match?.[1]) throw new UserError(`invalid --host "${host}": give unix:///path/to.sock (TCP would let anyone who reaches the port act as root on this machine)`);
  return match[1];
}

/** A socket file left by a daemon that was killed: remove it, but never one a live daemon
 *  answers on (two daemons on one root would each think they own its containers). */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new UserError(`${path} exists and is not a socket: remove it, or give another --host`);
  const answered = await new Promise<boolean>((done) => {
    const probe = connect(path);
    probe.once('connect', () => { probe.destroy(); done(true); });
    probe.once('error', () => done(false));
  });
  if (answered) throw new UserError(`a daemon already listens on ${path}`);
  unlinkSync(path);
}

/** Serve the API on the socket until SIGTERM or SIGINT. The containers do not depend on us:
 *  each runs under its own monitor, and goes on when the daemon stops or is killed. */
export async function serveApi(options: DaemonOptions): Promise<number> {
  const path = socketPathOf(options.host);
  const routes = [...handshakeRoutes(options.about), ...options.routes];
  mkdirSync(dirname(path), { recursive: true });
  await clearStaleSocket(path);

  const dispatch = async (incoming: IncomingMessage, response: ServerResponse | undefined, upgraded: Socket | undefined, upgradeBody?: Buffer) => {
    const url = new URL(incoming.url ?? '/', 'http://daemon');
    let hijacked = false;
    let gone = false;
    const connection = upgraded ?? incoming.socket;
    connection.once('close', () => (gone = true));
    const fail = (status: number, message: string) => {
      if (hijacked) return connection.destroy();
      if (upgraded) return writeRawError(upgraded, status, message);
      if (response!.headersSent) return response!.destroy();
      sendJSON(response!, status, { message });
    };
    try {
      const { version, path: bare } = splitVersion(decodeURIComponent(url.pathname));
      const method = incoming.method ?? 'GET';
      const found = routes.map(([m, pattern, handler]) => ({ m, match: pattern.exec(bare), handler })).filter(({ match }) => match);
      const route = found.find(({ m }) => m === method);
      if (traceEnabled()) traceStep(`${method} ${url.pathname}${url.search}`, route ? 'a request from a client' : 'a request we have no endpoint for');
      if (!route) throw new ApiError(found.length > 0 ? 405 : 404, found.length > 0 ? `${method} is not allowed on ${bare}` : `page not found: ${method} ${bare}`);
      let body = upgradeBody;
      await route.handler({
        method,
        path: bare,
        params: route.match!.slice(1) as [string, ...string[]],
        query: url.searchParams,
        version,
        incoming,
        response: response!,
        json: async <T>() => {
          body ??= await readBody(incoming);
          if (body.length === 0) return {} as T;
          try {
            return JSON.parse(body.toString()) as T;
          } catch {
            throw new ApiError(400, 'the request body is not valid JSON');
          }
        },
        hijack: () => {
          hijacked = true;
          return hijackConnection(incoming, response, upgraded);
        },
        clientGone: () => gone,
      });
    } catch (err) {
      const status = statusOf(err);
      const [message = 'error'] = (err instanceof Error ? err.message : String(err)).split('\n');
      if (traceEnabled() || status === 500) process.stderr.write(`nutshell: ${incoming.method} ${url.pathname}: ${status} ${message}\n`);
      fail(status, message);
    }
  };

  const server = createServer((incoming, response) => void dispatch(incoming, response, undefined));
  // `Connection: Upgrade` (attach, exec start) comes as an 'upgrade' event, with the raw socket
  // and whatever came after the headers. Node parses no body there: the request's own (exec
  // start sends JSON) is read off the socket first, so that it never reaches the container's
  // stdin, and what follows it is put back for the stream.
  server.on('upgrade', (incoming: IncomingMessage, socket: Socket, head: Buffer) => void (async () => {
    const body = await readUpgradeBody(incoming, socket, head);
    void dispatch(incoming, undefined, socket, body);
  })());
  // Long streams (logs -f, attach, a slow pull) must not be cut by Node's request timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    // The socket file is made by bind(2) with the process's umask: set it so that the file is
    // never open to everyone, not even for the moment before chmod.
    const umask = process.umask(0o117);
    server.listen(path, () => {
      process.umask(umask);
      listening();
    });
  });
  // rw for root and the socket's group, as dockerd's (group "docker"): whoever may open it can
  // start a privileged container, that is: is root on this machine.
  chmodSync(path, 0o660);
  traceStep(`listen ${path} (mode 0660)`, 'the API\'s socket: whoever can open it is root here');
  process.stderr.write(`nutshell: API ${API_VERSION} listening on unix://${path}\n`);

  await new Promise<void>((stopped) => {
    const stop = () => {
      server.close(() => stopped());
      server.closeAllConnections();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  if (existsSync(path)) unlinkSync(path);
  return 0;
}
