/** Chapter 05 · the HTTP exchange under the registry protocol. A registry is an HTTP server
 *  (OCI Distribution Specification, github.com/opencontainers/distribution-spec, spec.md):
 *  every step of a pull is one request and one answer, and this file is what they have in
 *  common, whatever they ask for:
 *    - where the registry is: HTTPS, or plain HTTP on loopback and on hosts the user calls
 *      insecure;
 *    - one exchange: the request, the answer's status and headers, its body streamed;
 *    - redirects (spec: "Pulling blobs" — a registry may answer 307 with the blob elsewhere),
 *      followed by hand so that --trace shows each hop and credentials stay with the registry;
 *    - every refusal said in one line, with the spec's error code when the answer has one
 *      (spec: "Error Codes").
 *  Who we are (the Authorization header) is auth.ts's business; what we ask for, registry.ts's. */
import http from 'node:http';
import { Readable } from 'node:stream';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { registryApiHost } from './reference.ts';

/** Where one registry's API is served. */
export interface RegistryEndpoint {
  /** The registry as references name it (docker.io)… */
  registry: string;
  /** …the host that serves its API (registry-1.docker.io)… */
  apiHost: string;
  /** …and the scheme and host every request URL starts with. */
  baseUrl: string;
}

/** One request, as the protocol's steps describe it. */
export interface HttpRequest {
  method: string;
  url: string;
  /** Printed by --trace beside the request. */
  why: string;
  headers?: Record<string, string>;
  /** A factory, because a request refused with 401 is sent again, body and all. */
  body?: () => Readable | Buffer;
}

/** What the client needs of an HTTP answer. It is made with node:http, not fetch(): fetch
 *  loads undici, some 40 MB of memory for a handful of requests, and it would also ask for
 *  gzip'd bodies, which a blob must never be (its digest is over the bytes as stored). */
export interface HttpResponse {
  status: number;
  statusText: string;
  ok: boolean;
  headers: { get(name: string): string | null };
  /** The body, streamed. */
  body: Readable;
  bytes(): Promise<Buffer>;
  json(): Promise<unknown>;
  /** Read and drop the body. Every answer must be read or dropped: Node 20's agent keeps
   *  connections alive for the next request, and a connection goes back to its pool (where
   *  it no longer holds the process open) only once its answer's body has ended. An answer
   *  left unread keeps its socket busy, and the engine from exiting. */
  discard(): void;
}

/** Statuses after which the answer is elsewhere (Location). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

// ---------------------------------------------------------------- where the registry is

/** Where to reach `registry`. Registries speak HTTPS. Plain HTTP only on loopback, or when
 *  the user says the host is insecure: the same rule as docker's, so that a local test
 *  registry just works. */
export function endpointOf(registry: string, insecureRegistries: string[]): RegistryEndpoint {
  const apiHost = registryApiHost(registry);
  const plain = LOOPBACK.has(hostnameOf(apiHost)) || isListed(insecureRegistries, registry, apiHost);
  return { registry, apiHost, baseUrl: `${plain ? 'http' : 'https'}://${apiHost}` };
}

/** The host name without the port: `[::1]:5000` → `::1`, `localhost:5000` → `localhost`. */
function hostnameOf(host: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(host);
  return bracketed ? bracketed[1]! : host.replace(/:\d+$/, '');
}

function isListed(list: string[], ...hosts: string[]): boolean {
  return hosts.some((host) => list.includes(host) || list.includes(hostnameOf(host)));
}

// ---------------------------------------------------------------- one exchange

/** One HTTP exchange with the registry, following redirects by hand so that --trace shows
 *  each hop and our credentials never travel to another host (blobs are often redirected
 *  to a CDN, whose signed URL is all the authorization it needs). */
export async function exchange(endpoint: RegistryEndpoint, request: HttpRequest, authorization: string | undefined): Promise<HttpResponse> {
  let url = request.url;
  for (let hop = 0; ; hop++) {
    const headers = { ...request.headers, ...(authorization && { authorization }) };
    let res: HttpResponse;
    try {
      res = await httpRequest(url, request.method, headers, request.body?.());
    } catch (err) {
      throw unreachable(endpoint, err, url);
    }
    traceStep(`${request.method} ${shortUrl(url)} → ${res.status}`, hop === 0 ? request.why : 'the registry sent us elsewhere: follow');
    const location = res.headers.get('location');
    // Only a request without a body is sent on: the answer to any other is the registry's last word.
    const follow = REDIRECTS.has(res.status) && location && (request.method === 'GET' || request.method === 'HEAD');
    if (!follow || hop === MAX_REDIRECTS) return res;
    res.discard();
    const next = new URL(location, url);
    if (next.origin !== new URL(url).origin) authorization = undefined;
    url = next.href;
  }
}

/** Long query values (a CDN's signature, a session's state) make unreadable traces: shorten them. */
function shortUrl(url: string): string {
  return url.replace(/=([^&]{40})[^&]+/g, '=$1…');
}

/** The request itself, on node:http or node:https. node:https is loaded only for a registry
 *  that speaks it: it brings TLS along, milliseconds of every start that a pull from a local
 *  registry, in plain HTTP, has no use for. */
async function httpRequest(url: string, method: string, headers: Record<string, string>, body: Readable | Buffer | undefined): Promise<HttpResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? (await import('node:https')).request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const bytes = async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      };
      resolve({
        status,
        statusText: res.statusMessage ?? '',
        ok: status >= 200 && status < 300,
        headers: {
          get: (name) => {
            const value = res.headers[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
          },
        },
        body: res,
        bytes,
        json: async () => JSON.parse((await bytes()).toString('utf8')),
        discard: () => void res.resume(),
      });
    });
    req.on('error', reject);
    if (body instanceof Readable) {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}

// ---------------------------------------------------------------- errors, one line each

/** A refusal from the registry: the one-line message, plus the spec's error code (or the
 *  HTTP status when the answer had none) for callers that handle some codes themselves. */
export class RegistryError extends UserError {
  readonly code: string;
  readonly status: number;
  constructor(message: string, code: string, status: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** The registry (or its token server) would not have us: wrong credentials, or none. */
export function unauthorized(endpoint: RegistryEndpoint, credentialsGiven: boolean): UserError {
  const hint = credentialsGiven ? '' : ' (none were given; or the repository does not exist)';
  return new UserError(`wrong or missing credentials for ${endpoint.registry}${hint}`);
}

/** A request that got no answer: the reason is in the socket's error code. */
function unreachable(endpoint: RegistryEndpoint, err: unknown, url: string): UserError {
  const cause = ((err as { cause?: unknown }).cause ?? err) as { code?: string; message?: string };
  // OpenSSL's messages run over lines and name its source files; its error code says it all.
  const message = cause?.message ?? (err as Error).message;
  const reason = message.includes(':error:') && cause?.code ? cause.code : message.split('\n')[0]!;
  const tls = /^ERR_SSL|^ERR_TLS|^EPROTO$|CERT|^DEPTH_ZERO|^UNABLE_TO/.test(cause?.code ?? '');
  if (tls && url.startsWith('https:')) {
    return new UserError(
      `TLS handshake with ${endpoint.apiHost} failed (${reason}): if it is a plain-HTTP registry, allow it with --insecure-registry ${endpoint.registry}`,
    );
  }
  return new UserError(`cannot reach registry ${endpoint.registry}: ${reason}`);
}

/** A non-2xx answer as one line, about `what` was asked for in `repository`. The body, when
 *  there is one, is the spec's error JSON {"errors": [{"code", "message", "detail"}]}. */
export async function failure(endpoint: RegistryEndpoint, res: HttpResponse, what: string, repository: string): Promise<RegistryError> {
  let code = '';
  let message = '';
  try {
    const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
    code = body.errors?.[0]?.code ?? '';
    message = body.errors?.[0]?.message ?? '';
  } catch {
    // Bodiless answers and proxies' error pages have no error JSON: the status says enough.
  }
  const registry = endpoint.registry;
  const error = (line: string) => new RegistryError(line, code || String(res.status), res.status);
  if (code === 'NAME_UNKNOWN') return error(`repository ${repository} not found on ${registry}`);
  if (res.status === 404) return error(`${what} not found on ${registry}`);
  if (res.status === 401) return error(unauthorized(endpoint, true).message);
  if (code === 'DENIED' || res.status === 403) return error(`access to ${repository || what} on ${registry} denied${message ? `: ${message}` : ''}`);
  if (res.status === 429) return error(`${registry} is rate limiting us (429 Too Many Requests): wait a while, or log in for a higher limit`);
  const detail = code ? `: ${code}${message ? ` (${message})` : ''}` : '';
  return error(`${registry} answered ${res.status} ${res.statusText} for ${what}${detail}`);
}
