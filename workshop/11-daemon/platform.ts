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
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', mipsel: 'mipsle' };
  const architecture = names[process.arch] ?? process.arch;
  const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
  return { os: 'linux', architecture, ...(architecture === 'arm' && armVersion && { variant: `v${armVersion}` }) };
}

/** `linux/arm64` or `linux/arm/v7`, as given to --platform. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, ...extra] = s.split('/');
  if (!os || !architecture || variant === '' || extra.length > 0) {
    throw new UserError(`invalid platform "${s}": expected os/architecture[/variant], such as linux/arm64`);
  }
  return { os, architecture, ...(variant && { variant }) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Pick the index entry for a platform. Without a variant asked for, any variant will do;
 *  arm64 without a variant means v8, as in containerd's platform matcher. */
export function selectPlatform(index: ImageIndex, wanted: Platform, name: string): Descriptor {
  const variantOf = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : '');
  const match = index.manifests.find(
    ({ platform: p }) =>
      p !== undefined && p.os === wanted.os && p.architecture === wanted.architecture && (wanted.variant === undefined || variantOf(p) === variantOf(wanted)),
  );
  if (match) return match;
  const available = index.manifests
    .map((m) => m.platform)
    .filter((p): p is Platform => p !== undefined && p.os !== 'unknown')
    .map(formatPlatform);
  throw new UserError(`${name} has no image for ${formatPlatform(wanted)} (available: ${available.join(', ') || 'none'})`);
}
