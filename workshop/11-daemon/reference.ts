/** Chapter 05 · image references: what `busybox`, `ghcr.io/org/app:1.2` and
 *  `127.0.0.1:5000/app@sha256:…` mean. A reference names a registry, a repository in it,
 *  and either a tag (a movable label) or a digest (the hash of the manifest: immutable).
 *  We parse them the way docker does, with the grammar of the distribution project
 *  (github.com/distribution/reference), so a learner's `pull busybox` pulls what docker would. */
import { UserError } from '../../lib/errors.ts';

export interface Reference {
  /** Where the image lives, as the user names it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  registry: string;
  /** The image's name inside the registry: `library/busybox`, `org/app`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`: when present, it wins over the tag. */
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const DEFAULT_TAG = 'latest';

// The pieces of the grammar. A repository is lowercase path components joined by "/";
// inside a component, alphanumeric runs may be joined by ".", "_", "__" or any number of "-".
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const IPV6_DOMAIN = /^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGESTS: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };
const MAX_NAME_LENGTH = 255;

/** Parse a reference as `docker pull` does: `busybox` → docker.io/library/busybox:latest. */
export function parseReference(input: string): Reference {
  const bad = (why: string) => new UserError(`invalid image reference "${input}": ${why}`);
  if (input === '') throw bad('it is empty');

  // 1. The digest comes after the "@": `name[:tag]@sha256:…`.
  const at = input.indexOf('@');
  const digest = at === -1 ? undefined : input.slice(at + 1);
  let rest = at === -1 ? input : input.slice(0, at);
  if (digest !== undefined) checkDigest(digest, bad);

  // 2. The tag follows the last ":" that comes after the last "/" (before it, ":" is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128)`);
  }

  // 3. The registry: docker takes the first component as a host only when it looks like one,
  //    so `library/busybox` stays on Docker Hub while `localhost/x` and `ghcr.io/x` do not.
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const isHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = isHost ? first : DOCKER_HUB;
  let repository = isHost ? rest.slice(slash + 1) : rest;
  if (isHost && !DOMAIN.test(registry) && !IPV6_DOMAIN.test(registry)) throw bad(`"${registry}" is not a valid registry host`);
  if (registry === 'index.docker.io') registry = DOCKER_HUB; // the old name of the same place

  // 4. Docker Hub's official images live under "library/". A bare 64-hex name is refused:
  //    it would be mistaken for an image ID.
  if (/^[a-f0-9]{64}$/.test(repository)) throw bad('a 64-hex string is an image ID, not a name (use name@sha256:…)');
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  checkRepository(repository, bad);

  // 5. Without tag or digest, docker means the tag "latest".
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

function checkRepository(repository: string, bad: (why: string) => UserError): void {
  if (repository === '') throw bad('the repository name is empty');
  if (/[A-Z]/.test(repository)) throw bad('repository names must be lowercase');
  if (repository.length > MAX_NAME_LENGTH) throw bad(`the repository name is longer than ${MAX_NAME_LENGTH} characters`);
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw bad(`"${component}" is not a valid name component (lowercase letters and digits, joined by ".", "_" or "-")`);
    }
  }
}

/** True for `sha256:<64 hex>` and `sha512:<128 hex>`: the digests a registry accepts. */
export function isDigest(s: string): boolean {
  const match = /^([a-z0-9]+):([a-f0-9]+)$/.exec(s);
  return match !== null && DIGESTS[match[1]!]?.test(match[2]!) === true;
}

function checkDigest(digest: string, bad: (why: string) => UserError): void {
  if (!isDigest(digest)) throw bad(`"${digest}" is not a valid digest (expected sha256: and 64 lowercase hex digits)`);
}

/** The full form: `docker.io/library/busybox:latest`, `127.0.0.1:5000/app@sha256:…`. */
export function formatReference(r: Reference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** The host that serves the HTTP API. Docker Hub's images are named `docker.io/…`, but its
 *  registry API answers at registry-1.docker.io; every other registry serves its own name. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}
