/** The processes a test's engine left on the host, found by what they name: a monitor, a
 *  daemon or a spare carries its root in its command line or its environment (NUTSHELL_ROOT). */
import { readdirSync, readFileSync } from 'node:fs';

/** The processes that name `dir` in their command line or their environment, this test
 *  process aside. */
export function processesOf(dir: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (command.includes(dir) || readFileSync(`/proc/${pid}/environ`, 'utf8').includes(dir)) found.push({ pid: Number(pid), command });
    } catch {
      // it ended meanwhile
    }
  }
  return found;
}
