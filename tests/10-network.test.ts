/** Chapter 10 · network: a container on the bridge gets eth0, an address of the engine's subnet
 *  and a default route via the gateway; `-p` publishes its ports on the host side's addresses and
 *  on 127.0.0.1; `--network none` and `host`; nothing (veth, address, rule) outlives a container;
 *  bad input is one line and leaves nothing behind; `network prune` removes the bridge and the
 *  table. Each test runs the engine inside a network namespace of its own (tests/helpers/netns.ts),
 *  whose host side has `lo` and HOST_ADDRESS: no traffic goes anywhere else. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, copyOfRootfs, engineFor, ROOTFS, run, tempDir, type Result, type RunOptions } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';
import { HOST_ADDRESS, HOST_LINK, inNetns, listenInNetns, makeNetns, mustInNetns } from './helpers/netns.ts';

/** The design's defaults (docs/10-network.md): subnet, gateway, bridge, host ends of veths. */
const SUBNET = /^10\.208\.0\.(\d+)$/;
const GATEWAY = '10.208.0.1';
const BRIDGE = 'nutshell0';
const VETH_PREFIX = 'nsh';
const TABLE = ['ip', 'nutshell'];

/** busybox httpd serving "hello" on port 80 in the foreground (the container's PID 1). */
const WEB = ['sh', '-c', 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www'];

interface InspectedContainer {
  network?: { mode?: string; ports?: { hostIp?: string; hostPort?: number | string; containerPort?: number | string; protocol?: string }[] };
  state?: { status?: string; pid?: number; network?: { ipAddress?: string; prefixLength?: number; gateway?: string; bridge?: string; hostInterface?: string } };
}

/** What the engine keeps in its namespace and root: the host ends of veths, the addresses still
 *  allocated, the DNAT rules of its table, the containers' records. */
interface NetworkState {
  veths: string[];
  addresses: string[];
  dnatRules: number;
  records: string[];
}

/** The names of the namespace's links (`ip -j link`). */
async function linksIn(ns: string): Promise<{ ifname: string; master?: string; operstate?: string }[]> {
  return JSON.parse(await mustInNetns(ns, 'ip', ['-j', 'link', 'show'])) as { ifname: string; master?: string }[];
}

/** The rules of the engine's table, as `nft -j` lists them; none when there is no table. */
async function tableRules(ns: string): Promise<unknown[]> {
  const r = await inNetns(ns, 'nft', ['-j', 'list', 'table', ...TABLE]);
  if (r.code !== 0) return [];
  const { nftables } = JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] };
  return nftables.filter((item) => 'rule' in item).map((item) => item.rule);
}

async function tableExists(ns: string): Promise<boolean> {
  return (await inNetns(ns, 'nft', ['list', 'table', ...TABLE])).code === 0;
}

/** Fetch a URL from the namespace's host side; retried for a while, since a server started
 *  with `run -d` may not be listening yet. */
async function fetchFromHost(ns: string, url: string, tries = 20): Promise<Result> {
  let r: Result;
  for (let i = 0; ; i++) {
    r = await inNetns(ns, 'curl', ['-sS', '--max-time', '3', url]);
    if (r.code === 0 || i >= tries) return r;
    await sleep(250);
  }
}

/** The addresses in an `ip -4 -o addr` listing (busybox's or iproute2's), with their prefix. */
function ipv4Addresses(listing: string): string[] {
  return [...listing.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]!);
}

/** The link names in an `ip -o link` listing ("2: eth0@if7: <…>" → "eth0"). */
function linkNames(listing: string): string[] {
  return [...listing.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]!);
}

for (const ch of chaptersFrom('10')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const { env, root } = engine;
    const allocationsFile = join(root, 'network', 'allocations.json');

    /** The container addresses the allocation file still holds (the gateway is not one). */
    function allocatedAddresses(): string[] {
      if (!existsSync(allocationsFile)) return [];
      const text = readFileSync(allocationsFile, 'utf8');
      return [...text.matchAll(/\b10\.208\.0\.\d+\b/g)].map((m) => m[0]).filter((a) => a !== GATEWAY && a !== '10.208.0.0');
    }

    async function networkState(ns: string): Promise<NetworkState> {
      return {
        veths: (await linksIn(ns)).map((l) => l.ifname).filter((name) => name.startsWith(VETH_PREFIX)).sort(),
        addresses: allocatedAddresses().sort(),
        dnatRules: (await tableRules(ns)).filter((rule) => JSON.stringify(rule).includes('"dnat"')).length,
        records: engine.containerRecords().sort(),
      };
    }

    /** A test's own namespace, and the engine's command line inside it. Containers started with
     *  runDetached() are removed (rm -f) at the end of the test, before the namespace goes. */
    async function sandbox(t: TestContext) {
      const detached: string[] = [];
      let ns = '';
      const nutshell = (args: string[], opts: RunOptions = {}) => run(ch, args, { env, netns: ns, timeout: 120_000, ...opts });
      ns = await makeNetns(t, async () => {
        const failed: string[] = [];
        for (const id of detached) {
          const r = await nutshell(['rm', '-f', id]);
          // The test may have removed it itself.
          if (r.code !== 0 && !r.stderr.includes(`no container named "${id}"`)) failed.push(`rm -f ${id}: ${r.stderr.trim()}`);
        }
        if (failed.length) throw new Error(failed.join('\n'));
      });
      const image = (await engine.rootfsArgs(ROOTFS))[0]!;
      return {
        ns,
        image,
        nutshell,
        /** `run -d <options> <image> <command>`: the container's id. */
        async runDetached(options: string[], command: string[]): Promise<string> {
          const r = await nutshell(['run', '-d', ...options, image, ...command]);
          assert.equal(r.code, 0, `run -d ${options.join(' ')}: ${r.stderr}`);
          const id = r.stdout.trim();
          assert.match(id, /^[0-9a-f]{12}$/);
          detached.push(id);
          return id;
        },
        async inspect(ref: string): Promise<InspectedContainer> {
          const r = await nutshell(['inspect', ref]);
          assert.equal(r.code, 0, r.stderr);
          return JSON.parse(r.stdout) as InspectedContainer;
        },
      };
    }

    test('a busybox httpd published with -p 18080:80 answers on 127.0.0.1 and on the host side\'s own address; ps and inspect show the port', async (t) => {
      const { ns, nutshell, runDetached, inspect } = await sandbox(t);
      const id = await runDetached(['--name', 'web', '-p', '18080:80'], WEB);

      for (const address of ['127.0.0.1', HOST_ADDRESS]) {
        const r = await fetchFromHost(ns, `http://${address}:18080/`);
        assert.equal(r.code, 0, `curl http://${address}:18080/: ${r.stderr}`);
        assert.equal(r.stdout, 'hello\n', `what ${address}:18080 answered`);
      }

      const ps = await nutshell(['ps']);
      assert.equal(ps.code, 0, ps.stderr);
      assert.match(ps.stdout.split('\n')[0]!, /\bPORTS\b/, 'ps has a PORTS column');
      const line = ps.stdout.split('\n').find((l) => l.includes('web'));
      assert.ok(line, `ps lists web:\n${ps.stdout}`);
      assert.match(line, /(^|\s)0\.0\.0\.0:18080->80\/tcp(\s|$)/);

      const found = await inspect('web');
      assert.equal(found.network?.mode, 'bridge');
      assert.deepEqual(
        found.network?.ports?.map((p) => ({ ...p, hostPort: Number(p.hostPort), containerPort: Number(p.containerPort) })),
        [{ hostIp: '0.0.0.0', hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
      );
      const running = found.state?.network;
      assert.ok(running, `inspect shows state.network while it runs: ${JSON.stringify(found.state)}`);
      assert.match(running.ipAddress ?? '', SUBNET);
      assert.notEqual(running.ipAddress, GATEWAY);
      assert.equal(running.prefixLength, 24);
      assert.equal(running.gateway, GATEWAY);
      assert.equal(running.bridge, BRIDGE);
      assert.equal(running.hostInterface, `${VETH_PREFIX}${id}`);
      // The host end is attached to the bridge, and the bridge holds the gateway's address.
      const links = await linksIn(ns);
      assert.equal(links.find((l) => l.ifname === `${VETH_PREFIX}${id}`)?.master, BRIDGE, JSON.stringify(links));
      assert.ok(ipv4Addresses(await mustInNetns(ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', BRIDGE])).includes(`${GATEWAY}/24`));
      // Straight to the container's own address, from the host side, too.
      assert.equal((await fetchFromHost(ns, `http://${running.ipAddress}:80/`)).stdout, 'hello\n');

      assert.equal((await nutshell(['rm', '-f', 'web'])).code, 0);
      assert.deepEqual(await networkState(ns), { veths: [], addresses: [], dnatRules: 0, records: [] }, 'rm -f takes its veth, address and rules');
      assert.notEqual((await inNetns(ns, 'curl', ['-sS', '--max-time', '2', 'http://127.0.0.1:18080/'])).code, 0, 'nothing answers on 18080 any more');
    });

    test('the first run turns IP forwarding on and says so on stderr; the next one says nothing', async (t) => {
      const { ns, image, nutshell } = await sandbox(t);
      const forwarding = async () => (await mustInNetns(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).trim();
      // A new namespace copies the host's setting: start from a host that does not forward.
      await mustInNetns(ns, 'sh', ['-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);
      assert.equal(await forwarding(), '0');
      const first = await nutshell(['run', '--rm', image, 'true']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /^nutshell: set net\.ipv4\.ip_forward to 1 \(it was 0\): .+\n$/);
      assert.equal(await forwarding(), '1');
      const second = await nutshell(['run', '--rm', image, 'true']);
      assert.equal(second.stderr, '', 'nothing changed on the host: nothing said');
    });

    test('-p with a host address publishes on that address only; /udp is kept as the protocol', async (t) => {
      const { ns, nutshell, runDetached, inspect } = await sandbox(t);
      await runDetached(['--name', 'local-web', '-p', '127.0.0.1:18081:80', '-p', '18053:53/udp'], WEB);
      const r = await fetchFromHost(ns, 'http://127.0.0.1:18081/');
      assert.equal(r.stdout, 'hello\n', r.stderr);
      assert.notEqual((await inNetns(ns, 'curl', ['-sS', '--max-time', '2', `http://${HOST_ADDRESS}:18081/`])).code, 0, `not published on ${HOST_ADDRESS}`);
      const ports = (await inspect('local-web')).network?.ports?.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`);
      assert.deepEqual(ports, ['127.0.0.1:18081->80/tcp', '0.0.0.0:18053->53/udp']);
      const line = (await nutshell(['ps'])).stdout.split('\n').find((l) => l.includes('local-web'));
      assert.match(line ?? '', /127\.0\.0\.1:18081->80\/tcp/);
      assert.match(line ?? '', /0\.0\.0\.0:18053->53\/udp/);
    });

    test('two containers on the bridge reach each other by address; each sees eth0 with its own address and a default route via the gateway', async (t) => {
      const { nutshell, runDetached, inspect } = await sandbox(t);
      await runDetached(['--name', 'left'], WEB);
      await runDetached(['--name', 'right'], WEB);
      const address = async (name: string) => (await inspect(name)).state?.network?.ipAddress ?? '';
      const peers = { left: await address('left'), right: await address('right') };
      assert.match(peers.left, SUBNET);
      assert.match(peers.right, SUBNET);
      assert.notEqual(peers.left, peers.right);

      for (const [self, other] of [['left', 'right'], ['right', 'left']] as const) {
        const seen = await nutshell(['exec', self, 'sh', '-c', 'ip -4 -o addr show dev eth0; echo --; ip route']);
        assert.equal(seen.code, 0, seen.stderr);
        const [addrs, routes] = seen.stdout.split('--\n');
        assert.deepEqual(ipv4Addresses(addrs!), [`${peers[self]}/24`], `${self}'s eth0:\n${seen.stdout}`);
        assert.match(routes!, new RegExp(`^default via ${GATEWAY.replace(/\./g, '\\.')} dev eth0`, 'm'), `${self}'s routes`);

        const ping = await nutshell(['exec', self, 'ping', '-c', '1', '-W', '3', peers[other]]);
        assert.equal(ping.code, 0, `${self} pings ${other} (${peers[other]}): ${ping.stdout}${ping.stderr}`);
        // TCP too: the other's httpd, retried while it starts.
        let got: Result | undefined;
        for (let i = 0; i < 20 && got?.stdout !== 'hello\n'; i++) {
          if (i) await sleep(250);
          // (busybox 1.35's wget -T crashes: timeout(1) limits it instead.)
          got = await nutshell(['exec', self, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${peers[other]}/`]);
        }
        assert.equal(got?.stdout, 'hello\n', `${self} fetches from ${other}: ${got?.stderr}`);
      }
    });

    test('--network none has only lo, and makes no veth and no allocation', async (t) => {
      const { ns, nutshell, image, inspect } = await sandbox(t);
      const r = await nutshell(['run', '--rm', '--network', 'none', image, 'ip', '-o', 'link']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(linkNames(r.stdout), ['lo'], r.stdout);
      assert.deepEqual(await networkState(ns), { veths: [], addresses: [], dnatRules: 0, records: [] });
      const kept = await nutshell(['run', '--name', 'offline', '--network', 'none', image, 'true']);
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal((await inspect('offline')).network?.mode, 'none');
      assert.equal((await nutshell(['rm', 'offline'])).code, 0);
    });

    test('--network host sees the host side\'s links and addresses, and no eth0 of its own', async (t) => {
      const { ns, nutshell, image } = await sandbox(t);
      const r = await nutshell(['run', '--rm', '--network', 'host', image, 'sh', '-c', 'ip -o link; echo --; ip -4 -o addr']);
      assert.equal(r.code, 0, r.stderr);
      const [links, addrs] = r.stdout.split('--\n');
      assert.ok(linkNames(links!).includes(HOST_LINK), `the namespace's ${HOST_LINK}:\n${r.stdout}`);
      assert.ok(!linkNames(links!).includes('eth0'), r.stdout);
      assert.ok(ipv4Addresses(addrs!).includes(`${HOST_ADDRESS}/24`), r.stdout);
      assert.deepEqual((await networkState(ns)).veths, []);
    });

    test('30 run --rm -p in a row leave no veth, no allocated address and no DNAT rule', async (t) => {
      const { ns, nutshell, image } = await sandbox(t);
      for (let i = 0; i < 30; i++) {
        const r = await nutshell(['run', '--rm', '-p', '18090:80', image, 'true']);
        assert.equal(r.code, 0, `run ${i + 1}: ${r.stderr}`);
      }
      assert.deepEqual(await networkState(ns), { veths: [], addresses: [], dnatRules: 0, records: [] }, readFileIfAny(allocationsFile));
    });

    test('10 concurrent runs get 10 distinct addresses, and leave nothing', async (t) => {
      const { ns, nutshell, runDetached } = await sandbox(t);
      // Started at once, and all still running when their addresses are read: a second run
      // that reused an address would have taken it from a container that holds it. (Containers
      // that end first may give theirs back, so --rm runs would prove nothing under load.)
      const ids = await Promise.all(Array.from({ length: 10 }, () => runDetached([], ['sleep', '300'])));
      const addresses: string[] = [];
      for (const id of ids) {
        const inside = await nutshell(['exec', id, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        addresses.push(ipv4Addresses(inside.stdout)[0]?.split('/')[0] ?? `none in ${id}: ${inside.stdout}${inside.stderr}`);
      }
      for (const a of addresses) {
        assert.match(a, SUBNET);
        assert.notEqual(a, GATEWAY);
      }
      assert.equal(new Set(addresses).size, 10, `addresses: ${addresses.join(' ')}`);
      for (const id of ids) assert.equal((await nutshell(['rm', '-f', id])).code, 0);
      assert.deepEqual(await networkState(ns), { veths: [], addresses: [], dnatRules: 0, records: [] }, readFileIfAny(allocationsFile));
    });

    test('bad -p or --network, or a host port in use: one line, non-zero exit, nothing left behind', async (t) => {
      const { ns, nutshell, image, runDetached } = await sandbox(t);
      const attempt = async (options: string[], pattern: RegExp) => {
        const before = await networkState(ns);
        const r = await nutshell(['run', ...options, image, 'true']);
        assertOneLineError(r, pattern);
        assert.deepEqual(await networkState(ns), before, `run ${options.join(' ')} left something behind`);
      };
      await attempt(['-p', 'abc'], /abc/);
      await attempt(['-p', '70000:80'], /70000/);
      await attempt(['-p', '18080:0'], /18080:0|\b0\b/);
      await attempt(['--network', 'nosuch'], /nosuch/);
      await attempt(['--network', 'none', '-p', '18080:80'], /-p needs --network bridge/);
      const badSubnet = await nutshell(['run', image, 'true'], { env: { ...env, NUTSHELL_SUBNET: '10.208.0.0/8' } });
      assertOneLineError(badSubnet, /invalid NUTSHELL_SUBNET "10\.208\.0\.0\/8"/);
      assertOneLineError(await nutshell(['network', 'nosuch']), /unknown network action "nosuch"/);
      // In use by another container's -p …
      await runDetached(['--name', 'holder', '-p', '18080:80'], WEB);
      await attempt(['-p', '18080:80'], /18080/);
      assert.equal((await fetchFromHost(ns, 'http://127.0.0.1:18080/')).stdout, 'hello\n', 'the first container keeps its port');
      // … and by a process of the host side listening on it.
      await listenInNetns(t, ns, 18083);
      await attempt(['-p', '18083:80'], /18083/);
    });

    test('/etc/hostname, /etc/hosts and /etc/resolv.conf: the container\'s name, id and address, the host\'s name servers but loopback ones; diff shows none of them', async (t) => {
      const { nutshell, image, inspect } = await sandbox(t);
      const r = await nutshell(['run', '--name', 'etcbox', image, 'sh', '-c', 'hostname; cat /etc/hostname; echo --; cat /etc/hosts; echo --; cat /etc/resolv.conf; echo --; ip -4 -o addr show dev eth0']);
      assert.equal(r.code, 0, r.stderr);
      const [names, hosts, resolv, eth0] = r.stdout.split('--\n') as [string, string, string, string];
      const [hostname, etcHostname] = names.trim().split('\n');
      assert.equal(etcHostname, hostname);
      const id = (JSON.parse((await nutshell(['inspect', 'etcbox'])).stdout) as { id?: string }).id ?? '';
      assert.match(hosts, /^127\.0\.0\.1\s+localhost\b/m);
      const address = ipv4Addresses(eth0)[0]?.split('/')[0] ?? '';
      const own = hosts.split('\n').find((line) => line.split(/\s+/)[0] === address)?.split(/\s+/).slice(1) ?? [];
      for (const name of [hostname!, 'etcbox']) assert.ok(own.includes(name), `/etc/hosts names ${name} at ${address}:\n${hosts}`);
      assert.ok(own.some((name) => id.startsWith(name) && name.length >= 12), `/etc/hosts names the id at ${address}:\n${hosts}`);
      const servers = (text: string) => [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
      assert.deepEqual(servers(resolv).filter((s) => s.startsWith('127.') || s === '::1'), [], `no loopback resolver:\n${resolv}`);
      for (const server of servers(existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : '').filter((s) => !s.startsWith('127.') && s !== '::1')) {
        assert.ok(servers(resolv).includes(server), `the host's ${server} is kept:\n${resolv}`);
      }
      // The engine bound them there: not the container's changes.
      const diff = await nutshell(['diff', 'etcbox']);
      assert.equal(diff.code, 0, diff.stderr);
      assert.equal(diff.stdout, '', 'diff lists nothing');
      assert.equal((await inspect('etcbox')).network?.mode, 'bridge');
      assert.equal((await nutshell(['rm', 'etcbox'])).code, 0);
    });

    test('an image whose /etc/hosts and /etc/resolv.conf are symlinks out of its root: nothing is written through them', async (t) => {
      const outside = tempDir();
      const [hostsTarget, resolvTarget] = [join(outside, 'hosts-target'), join(outside, 'resolv-target')];
      writeFileSync(hostsTarget, 'untouched\n');
      writeFileSync(resolvTarget, 'untouched\n');
      const rootfs = copyOfRootfs();
      symlinkSync(hostsTarget, join(rootfs, 'etc', 'hosts'));
      symlinkSync(`../../../../../../../..${resolvTarget}`, join(rootfs, 'etc', 'resolv.conf'));
      const { nutshell } = await sandbox(t);
      const [image] = await engine.rootfsArgs(rootfs);
      const r = await nutshell(['run', '--rm', image!, 'sh', '-c', 'readlink /etc/hosts; readlink /etc/resolv.conf; cat /etc/hostname']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').slice(0, 2), [hostsTarget, `../../../../../../../..${resolvTarget}`], 'left as the image has them');
      assert.equal(readFileSync(hostsTarget, 'utf8'), 'untouched\n');
      assert.equal(readFileSync(resolvTarget, 'utf8'), 'untouched\n');
    });

    test('a container killed with its engine (SIGKILL) gives back its address and port to the next run', async (t) => {
      const { ns, nutshell, image, runDetached, inspect } = await sandbox(t);
      const id = await runDetached(['--name', 'killed', '-p', '18080:80'], WEB);
      const pid = (await inspect('killed')).state?.pid;
      assert.ok(pid, 'inspect shows the container\'s pid');
      // The monitor is the engine that runs a detached container: no engine is left to clean up.
      const monitor = readdirSync('/proc').find((p) => {
        try {
          const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8');
          return cmdline.includes('__monitor') && cmdline.includes(id);
        } catch {
          return false;
        }
      });
      assert.ok(monitor, 'the monitor process runs');
      process.kill(Number(monitor), 'SIGKILL');
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && [monitor, String(pid)].some((p) => existsSync(`/proc/${p}/stat`) && !/\) Z/.test(readFileSync(`/proc/${p}/stat`, 'utf8'))); i++) await sleep(100);
      const next = await nutshell(['run', '--rm', '-p', '18080:80', image, 'true']);
      assert.equal(next.code, 0, `the port of a dead container is free again: ${next.stderr}`);
      const { veths, addresses, dnatRules } = await networkState(ns);
      assert.deepEqual({ veths, addresses, dnatRules }, { veths: [], addresses: [], dnatRules: 0 }, readFileIfAny(allocationsFile));
    });

    test('network prune keeps what a running container uses, and removes the bridge and the table when none runs', async (t) => {
      const { ns, nutshell, image, runDetached } = await sandbox(t);
      const bridgeExists = async () => (await linksIn(ns)).some((l) => l.ifname === BRIDGE);
      const id = await runDetached(['--name', 'busy', '-p', '18080:80'], WEB);
      assert.ok(await bridgeExists());
      assert.ok(await tableExists(ns));
      await nutshell(['network', 'prune']);
      assert.ok(await bridgeExists(), 'the bridge stays while busy runs');
      assert.equal((await fetchFromHost(ns, 'http://127.0.0.1:18080/')).stdout, 'hello\n', 'busy still answers');
      assert.equal((await nutshell(['rm', '-f', id])).code, 0);

      const pruned = await nutshell(['network', 'prune']);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.ok(!(await bridgeExists()), 'the bridge is gone');
      assert.ok(!(await tableExists(ns)), 'the table is gone');
      // A new container makes them again.
      const again = await nutshell(['run', '--rm', image, 'true']);
      assert.equal(again.code, 0, again.stderr);
      assert.ok(await bridgeExists());
    });
  });
}

function readFileIfAny(file: string): string {
  return existsSync(file) ? `${file}:\n${readFileSync(file, 'utf8')}` : `no ${file}`;
}
