/** Chapter 05 · registry authentication: how a client says who it is. A registry that wants
 *  to know answers a request with 401 and a challenge in WWW-Authenticate (RFC 7235). Two
 *  schemes are in use:
 *    - Basic: send user and password with every request (htpasswd-protected registries);
 *    - Bearer, the "Token Authentication Specification" of Docker's distribution project:
 *      ask the token server the challenge names (`realm`) for a token valid for `service`
 *      and `scope`, giving it our credentials if we have any. Docker Hub grants anonymous
 *      tokens for public images.
 *  A scope names a repository and what we want to do there: `repository:library/busybox:pull`.
 *  So every request carries the scopes it needs, and a token is kept for the scopes it was
 *  granted for. Credentials come from the command line or a docker-style config.json. */
import { readFileSync } from 'node:fs';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import { exchange, failure, unauthorized, type HttpRequest, type HttpResponse, type RegistryEndpoint } from './http.ts';

/** Who we are, as the command line says it. */
export interface CredentialOptions {
  username?: string;
  password?: string;
  /** A docker-style config.json: {"auths": {"host:port": {"auth": base64("user:pass")}}}. */
  credentialsFile?: string;
}

export interface Credentials {
  username: string;
  password: string;
}

/** A request, and the token scopes it needs ("repository:library/busybox:pull"). */
export interface ScopedRequest extends HttpRequest {
  scopes: string[];
}

/** The scope of reading a repository: its manifests, blobs and tags. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Sends requests to one registry as whoever the credentials say, answering its challenges. */
export class Authenticator {
  readonly #endpoint: RegistryEndpoint;
  readonly #credentials: Credentials | undefined;
  /** Set once the registry has asked for Basic auth: then every request carries it. */
  #useBasic = false;
  /** Bearer tokens already granted, by the scopes they were granted for. */
  readonly #tokens = new Map<string, string>();

  constructor(endpoint: RegistryEndpoint, options: CredentialOptions) {
    this.#endpoint = endpoint;
    this.#credentials =
      options.username !== undefined
        ? { username: options.username, password: options.password ?? '' }
        : options.credentialsFile !== undefined
          ? readCredentials(options.credentialsFile, endpoint.registry, endpoint.apiHost)
          : undefined;
  }

  /** Send a request; on 401, answer the registry's challenge once and send it again. */
  async request(call: ScopedRequest): Promise<HttpResponse> {
    const first = await exchange(this.#endpoint, call, this.#authorizationFor(call.scopes));
    if (first.status !== 401) return first;
    const challenge = first.headers.get('www-authenticate') ?? '';
    first.discard();
    const authorization = await this.#answerChallenge(challenge, call.scopes);
    const second = await exchange(this.#endpoint, call, authorization);
    if (second.status === 401) {
      second.discard();
      throw this.#unauthorized();
    }
    return second;
  }

  /** What we already know to send: Basic credentials, or a token granted for these scopes. */
  #authorizationFor(scopes: string[]): string | undefined {
    if (this.#useBasic && this.#credentials) return basicAuthorization(this.#credentials);
    const token = this.#tokens.get(scopes.join(' '));
    return token ? `Bearer ${token}` : undefined;
  }

  /** The Authorization header that answers `challenge`: Basic credentials, or a Bearer token
   *  fetched from the token server the challenge names. */
  async #answerChallenge(challenge: string, scopes: string[]): Promise<string> {
    const scheme = challenge.split(' ')[0]!.toLowerCase();
    const params = challengeParams(challenge);
    if (scheme === 'basic') {
      if (!this.#credentials) throw this.#unauthorized();
      traceStep(`Authorization: Basic (${this.#credentials.username})`, 'the registry asked for a password: send it with this and every later request');
      this.#useBasic = true;
      return basicAuthorization(this.#credentials);
    }
    const registry = this.#endpoint.registry;
    if (scheme !== 'bearer' || !params.realm) {
      throw new UserError(`${registry} asks for an authentication we do not know: "${challenge || 'none given'}"`);
    }
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    // The challenge names the scope of this request; ours may name more (a request can
    // touch two repositories), and the token must cover them all.
    for (const scope of new Set([...(params.scope?.split(' ') ?? []), ...scopes])) tokenUrl.searchParams.append('scope', scope);

    const who = this.#credentials ? ` as ${this.#credentials.username}` : ', anonymously';
    const res = await exchange(
      this.#endpoint,
      { method: 'GET', url: tokenUrl.href, why: `get a token for ${scopes.join(' ')}${who}` },
      this.#credentials && basicAuthorization(this.#credentials),
    );
    if (res.status === 401 || res.status === 403) {
      res.discard();
      throw this.#unauthorized();
    }
    if (!res.ok) throw await failure(this.#endpoint, res, 'a token', '');
    // The token server answers {"token": …}; OAuth2-style servers say "access_token".
    const answer = (await res.json()) as { token?: string; access_token?: string };
    const token = answer.token ?? answer.access_token;
    if (!token) throw new UserError(`the token server ${tokenUrl.host} of ${registry} sent no token`);
    this.#tokens.set(scopes.join(' '), token);
    return `Bearer ${token}`;
  }

  #unauthorized(): UserError {
    return unauthorized(this.#endpoint, this.#credentials !== undefined);
  }
}

function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` → its parameters. */
function challengeParams(challenge: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of challenge.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) params[key!.toLowerCase()] = quoted ?? bare ?? '';
  return params;
}

/** Credentials from a docker-style config.json. Its keys may be `host:port` or a URL
 *  (`https://index.docker.io/v1/` is how docker names Docker Hub). */
function readCredentials(file: string, registry: string, apiHost: string): Credentials | undefined {
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read the credentials file ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const names = registry === 'docker.io' ? ['docker.io', 'index.docker.io', apiHost] : [registry];
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!names.includes(key.replace(/^https?:\/\//, '').split('/')[0]!)) continue;
    if (entry.username !== undefined) return { username: entry.username, password: entry.password ?? '' };
    if (!entry.auth) continue;
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new UserError(`the credentials for ${key} in ${file} are not base64("user:password")`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}
