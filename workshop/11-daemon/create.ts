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
  // --network host shares the host's network, and docker gives it the host's name too.
  // Not in the store: pull it first, with progress bars on a terminal, silently otherwise.
  // --rm: the upper dir goes when the container ends, so it needs no syncing, not even
  // when the overlay is unmounted (overlay.ts, mountVolatile).
  throw new Error('TODO (chapter 11): write createContainer(), as the comment above it says');
}
