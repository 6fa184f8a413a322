/** Test helper: where a secret given with -e must never show. Every user of the host can read
 *  every process's command line (ps, /proc/PID/cmdline), and a file that the engine writes with
 *  the default mode under a directory others may enter. */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** Watch the command line of every process on the host until stop(), as often as the event
 *  loop lets us: a child stage's arguments live only until it execs the command, a fraction of
 *  a second. stop() returns "PID: command line" for each process that showed `secret`, except
 *  those whose command line is `typed`: what the user typed is the user's own, and a child the
 *  engine forks shows it too, for the instant between fork(2) and execve(2). */
export function watchCommandLines(secret: string, typed?: string[]) {
  const seen = new Map<string, string>();
  const own = typed && `\0${typed.join('\0')}\0`;
  let watching = true;
  const look = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmdline.includes(secret) && !(own && cmdline.endsWith(own))) seen.set(pid, cmdline.replaceAll('\0', ' ').slice(0, 300));
      } catch {
        // gone meanwhile
      }
    }
    if (watching) setTimeout(look, 2).unref(); // unref: a failed test that never calls stop() still ends
  };
  look();
  return {
    stop(): string[] {
      watching = false;
      look();
      return [...seen].map(([pid, cmdline]) => `${pid}: ${cmdline}`);
    },
  };
}

/** The files under `base` that hold `secret` and that a user other than root could read: the
 *  file has o+r, and every directory between it and `base` has o+x. (`base` itself, a test's
 *  private temporary directory, stands for /var/lib/nutshell or /run/nutshell, which may be
 *  0755.) Files over 1 MiB (layers' programs) are not read. */
export function secretFilesOthersCanRead(base: string, secret: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && lstatSync(path).size <= 1 << 20 && readFileSync(path).includes(secret)) found.push(path);
    }
  };
  walk(base);
  return found.filter((file) => {
    if ((lstatSync(file).mode & 0o004) === 0) return false;
    for (let dir = dirname(file); dir !== base; dir = dirname(dir)) if ((lstatSync(dir).mode & 0o001) === 0) return false;
    return true;
  }).map((file) => relative(base, file));
}
