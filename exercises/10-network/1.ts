/** Exercise 10-1: `run --add-host NAME:IP`, docker's flag: one more line in the /etc/hosts the
 *  engine writes for the container, which the C library's resolver reads before any DNS
 *  server. A value that is not NAME:IP is refused before anything is made. */
import { defineExercise, notYet } from '../lib.ts';
import { errorLines, IMAGE, inOwnNetwork } from './common.ts';

const HOSTS = [['db', '127.0.0.2'], ['cache.internal', '10.208.0.77']] as const;
const BAD = ['db', 'db:10.208.0', 'db:example.com', ':127.0.0.2'] as const;

export default defineExercise({
  title: 'Names of your own',
  async check(copy) {
    const net = await inOwnNetwork(copy);
    const flags = HOSTS.flatMap(([name, address]) => ['--add-host', `${name}:${address}`]);
    // db is one of the container's own loopback addresses: ping resolves it through
    // /etc/hosts, and the echo comes back from the container itself.
    const r = await net.run(['run', '--rm', ...flags, IMAGE, 'sh', '-c', 'cat /etc/hosts; ping -c 1 -W 2 db']);
    if (r.code !== 0 && !r.stdout.includes('127.0.0.1')) notYet(`run ${flags.join(' ')} … failed with ${r.code}: ${errorLines(r).at(-1)}`);
    const lines = r.stdout.split('\n');
    for (const [name, address] of HOSTS) {
      const found = lines.some((line) => line.trim().split(/\s+/).join(' ') === `${address} ${name}`);
      if (!found) notYet(`the container's /etc/hosts has no line "${address}<TAB>${name}" after --add-host ${name}:${address}; its last lines: ${r.stdout.split('PING')[0]!.trim().split('\n').slice(-3).join(' / ')}`);
    }
    const ping = r.stdout.match(/^PING db \(([\d.]+)\)/m);
    if (!ping || ping[1] !== '127.0.0.2') notYet(`inside, ping db did not resolve db to 127.0.0.2: ${(ping?.[0] ?? r.stderr.trim().split('\n').at(-1)) || 'no output'}`);

    for (const value of BAD) {
      const bad = await net.run(['run', '--rm', '--add-host', value, IMAGE, 'echo', 'it ran']);
      const said = errorLines(bad);
      if (bad.code === 0 || bad.stdout.includes('it ran')) notYet(`run --add-host ${JSON.stringify(value)} ran the container (exit code ${bad.code}): that is not NAME:IP, it should be refused`);
      if (said.length !== 1) notYet(`run --add-host ${JSON.stringify(value)} was refused (exit code ${bad.code}) in ${said.length} lines instead of one: ${said.join(' / ')}`);
    }
    const refusal = errorLines(await net.run(['run', '--rm', '--add-host', BAD[0], IMAGE, 'true']))[0];
    return `/etc/hosts ends with ${HOSTS.map(([n, a]) => `"${a} ${n}"`).join(' and ')}, ping db goes to 127.0.0.2; ${BAD.map((v) => JSON.stringify(v)).join(', ')} refused (${refusal})`;
  },
});
