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
  // 1. The digest comes after the "@": `name[:tag]@sha256:…`.
  // 2. The tag follows the last ":" that comes after the last "/" (before it, ":" is a port).
  // 3. The registry: docker takes the first component as a host only when it looks like one,
  //    so `library/busybox` stays on Docker Hub while `localhost/x` and `ghcr.io/x` do not.
  // 4. Docker Hub's official images live under "library/". A bare 64-hex name is refused:
  //    it would be mistaken for an image ID.
  // 5. Without tag or digest, docker means the tag "latest".
  throw new Error('TODO (chapter 05): write parseReference(), as the comment above it says');
}

function checkRepository(repository: string, bad: (why: string) => UserError): void {
  throw new Error('TODO (chapter 05): write checkRepository()');
}

/** True for `sha256:<64 hex>` and `sha512:<128 hex>`: the digests a registry accepts. */
export function isDigest(s: string): boolean {
  throw new Error('TODO (chapter 05): write isDigest(), as the comment above it says');
}

function checkDigest(digest: string, bad: (why: string) => UserError): void {
  throw new Error('TODO (chapter 05): write checkDigest()');
}

/** The full form: `docker.io/library/busybox:latest`, `127.0.0.1:5000/app@sha256:…`. */
export function formatReference(r: Reference): string {
  throw new Error('TODO (chapter 05): write formatReference(), as the comment above it says');
}

/** The host that serves the HTTP API. Docker Hub's images are named `docker.io/…`, but its
 *  registry API answers at registry-1.docker.io; every other registry serves its own name. */
export function registryApiHost(registry: string): string {
  throw new Error('TODO (chapter 05): write registryApiHost(), as the comment above it says');
}
