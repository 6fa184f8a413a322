/** Chapter 05 · platforms: one image name, one image per kind of machine. A program built for
 *  amd64 does not run on arm64, so a multi-platform image is an index (OCI image spec,
 *  "Image Index"; Docker calls it a manifest list) whose entries each carry a platform: an
 *  os, an architecture (in Go's spelling: amd64, arm64) and sometimes a variant (arm's v7).
 *  Step 3 of a pull (registry.ts) picks the entry for this machine, or for --platform. */
import { UserError } from '../../lib/errors.ts';
import type { Descriptor, ImageIndex } from './registry.ts';

/** What an index entry was built for (OCI image spec, "Image Index", `platform`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The platform of this machine in the OCI spelling (Node says x64, OCI says amd64). */
export function defaultPlatform(): Platform {
  throw new Error('TODO (chapter 05): write defaultPlatform(), as the comment above it says');
}

/** `linux/arm64` or `linux/arm/v7`, as given to --platform. */
export function parsePlatform(s: string): Platform {
  throw new Error('TODO (chapter 05): write parsePlatform(), as the comment above it says');
}

export function formatPlatform(p: Platform): string {
  throw new Error('TODO (chapter 05): write formatPlatform()');
}

/** Pick the index entry for a platform. Without a variant asked for, any variant will do;
 *  arm64 without a variant means v8, as in containerd's platform matcher. */
export function selectPlatform(index: ImageIndex, wanted: Platform, name: string): Descriptor {
  throw new Error('TODO (chapter 05): write selectPlatform(), as the comment above it says');
}
