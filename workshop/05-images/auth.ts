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
  throw new Error('TODO (chapter 05): write pullScope(), as the comment above it says');
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
    throw new Error('TODO (chapter 05): write Authenticator.constructor()');
  }

  /** Send a request; on 401, answer the registry's challenge once and send it again. */
  async request(call: ScopedRequest): Promise<HttpResponse> {
    throw new Error('TODO (chapter 05): write Authenticator.request(), as the comment above it says');
  }

  /** What we already know to send: Basic credentials, or a token granted for these scopes. */
  #authorizationFor(scopes: string[]): string | undefined {
    throw new Error('TODO (chapter 05): write Authenticator.#authorizationFor(), as the comment above it says');
  }

  /** The Authorization header that answers `challenge`: Basic credentials, or a Bearer token
   *  fetched from the token server the challenge names. */
  async #answerChallenge(challenge: string, scopes: string[]): Promise<string> {
    // The challenge names the scope of this request; ours may name more (a request can
    // touch two repositories), and the token must cover them all.
    // The token server answers {"token": …}; OAuth2-style servers say "access_token".
    throw new Error('TODO (chapter 05): write Authenticator.#answerChallenge(), as the comment above it says');
  }

  #unauthorized(): UserError {
    throw new Error('TODO (chapter 05): write Authenticator.#unauthorized()');
  }
}

function basicAuthorization(c: Credentials): string {
  throw new Error('TODO (chapter 05): write basicAuthorization()');
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` → its parameters. */
function challengeParams(challenge: string): Record<string, string> {
  throw new Error('TODO (chapter 05): write challengeParams(), as the comment above it says');
}

/** Credentials from a docker-style config.json. Its keys may be `host:port` or a URL
 *  (`https://index.docker.io/v1/` is how docker names Docker Hub). */
function readCredentials(file: string, registry: string, apiHost: string): Credentials | undefined {
  throw new Error('TODO (chapter 05): write readCredentials(), as the comment above it says');
}
