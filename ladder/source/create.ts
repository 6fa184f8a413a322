//@ daemon..
/** Chapter 11 · creating a container, apart from starting it. Until chapter 10 the `run` verb
 *  did both in one go. A daemon gets them as two requests (docker's `POST /containers/create`,
 *  then `/start`), and gets them from two front ends: our command line, which reads options as
 *  text, and the API, which reads JSON. Each front end parses its own input into one
 *  CreateRequest; what follows is the same for both, so it lives here, once. */
import { hostname as hostHostname } from 'node:os';
import { UserError } from '../../lib/errors.ts';
import type { SecurityConfig } from './capabilities.ts';
import type { Limits } from './cgroups.ts';
import { generateId, type ContainerConfig, type Volume } from './container.ts';
import type { PullOptions } from './image.ts';
import { prepareHostNetwork, type NetworkSpec } from './network.ts';
import { formatReference, parseReference } from './reference.ts';
import type { ImageConfig } from './registry.ts';
import { createContainerDirs, type ContainerDirs } from './storage.ts';
import { withStore } from './store.ts';

/** Everything a new container needs, already checked and parsed. */
export interface CreateRequest {
  image: string;
  /** The command, or [] for the image's own. */
  command: string[];
  /** In place of the image's Entrypoint ([""]: none); the image's Cmd goes with it. */
  entrypoint?: string[];
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  stopTimeout?: number;
  limits: Limits;
  stats?: boolean;
  volumes: Volume[];
  security: SecurityConfig;
  network: NetworkSpec;
  autoRemove: boolean;
  detached: boolean;
  tty: boolean;
  interactive?: boolean;
  /** How to pull an image that is not in the store; without it, a missing image is an error
   *  (the docker CLI pulls on its own when `create` says "No such image"). */
  pull?: PullOptions;
}

/** The container's directories and state ("created"), and the configuration its engine runs. */
export async function createContainer(request: CreateRequest): Promise<{ config: ContainerConfig; dirs: ContainerDirs }> {
  const { name, network } = request;
  if (name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new UserError(`invalid container name "${name}": use letters, digits, _ . -`);
  const id = generateId();
  if (network.ports.length > 0 && network.mode !== 'bridge') throw new UserError(`-p needs --network bridge: with --network ${network.mode} there is no container address to send the port to`);
  if (network.mode === 'bridge') await prepareHostNetwork(network.ports);
  // --network host shares the host's network, and docker gives it the host's name too.
  const hostname = request.hostname ?? (network.mode === 'host' ? hostHostname() : id);
  return withStore(async (store) => {
    const { pullMissingImage, runSpec } = await import('./image.ts');
    let ref = formatReference(parseReference(request.image));
    if (!store.getImage(ref)) {
      if (!request.pull) throw new UserError(`No such image: ${ref}`);
      // Not in the store: pull it first, with progress bars on a terminal, silently otherwise.
      ref = await pullMissingImage(store, request.image, { ...request.pull, quiet: request.pull.quiet || !process.stderr.isTTY });
    }
    const imageConfig = store.readJSON<ImageConfig>(store.getImage(ref)!.configDigest);
    const spec = runSpec(imageConfig, request.command, { entrypoint: request.entrypoint, env: request.env, workdir: request.workdir, user: request.user });
    spec.security = request.security; // recorded in the container's config.json with the rest: `exec` applies it too
    spec.network = network;
    const dirs = createContainerDirs({ id, name, image: ref, lowerDirs: store.layerDirs(ref), ...spec, hostname, created: new Date().toISOString() });
    const { upperDir, workDir } = dirs;
    // --rm: the upper dir goes when the container ends, so it needs no syncing, not even
    // when the overlay is unmounted (overlay.ts, mountVolatile).
    const volatile = request.autoRemove;
    const config: ContainerConfig = {
      rootfs: dirs.mergedDir, layers: { lowerDirs: dirs.spec.lowerDirs, upperDir, workDir, volatile }, ...spec, hostname,
      stopTimeout: request.stopTimeout, limits: request.limits, stats: request.stats === true, detached: request.detached,
      tty: request.tty, interactive: request.interactive === true, volumes: request.volumes, autoRemove: request.autoRemove,
    };
    return { config, dirs };
  });
}
