/** Chapter 10 on · netlink.ts: links, addresses and routes made over rtnetlink, checked with the
 *  real `ip` command. Every test first moves this test process (its main thread, which also
 *  forks every command we start) into a network namespace of its own, so nothing here touches
 *  the host's network: the bridge, the veths and the routes go away with the namespace.
 *  The peer of a veth pair goes into a second namespace, held open by an `unshare -n sleep`.
 *  The --trace test runs the module in a child process of its own (`unshare -n node …`). */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { after, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { libc } from '../lib/libc.ts';

type Netlink = typeof import('../ladder/source/netlink.ts');

// TODO(lead): once chapter 10 is generated: chaptersFrom('10') (helpers/ladder.ts) and chapterModuleUrl(chapter, 'netlink.ts')
const CHAPTERS = ['10'];
const moduleUrl = (_chapter: string) => pathToFileURL(new URL('../ladder/source/netlink.ts', import.meta.url).pathname).href;
const load = async (chapter: string) => (await import(moduleUrl(chapter))) as Netlink;

const unshare = libc.func('int unshare(int flags)');
const setns = libc.func('int setns(int fd, int nstype)');
const CLONE_NEWNET = 0x40000000;

const BRIDGE = 'nutshell0';
const HOST_END = 'nsh0123456789ab'; // 15 characters, as the engine names them
const GATEWAY = { address: '10.208.0.1', prefixLength: 24 };
const CONTAINER = { address: '10.208.0.2', prefixLength: 24 };

/** A fresh network namespace for this process's main thread (and what it starts). */
function enterFreshNetns(): void {
  assert.equal(unshare(CLONE_NEWNET), 0, 'unshare(CLONE_NEWNET): are you root?');
}

/** `ip -j …` in our namespace, or in the one of `pid` (through nsenter), parsed. */
function ip<T = Record<string, unknown>[]>(args: string[], pid?: number): T {
  const argv = pid === undefined ? ['ip', '-j', ...args] : ['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-j', ...args];
  return JSON.parse(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }) || '[]') as T;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string };
}
const ipLinks = (pid?: number) => ip<IpLink[]>(['-d', 'link', 'show'], pid);
const ipLink = (name: string, pid?: number) => ipLinks(pid).find((link) => link.ifname === name);

/** A second network namespace, held by a sleeping process: its pid and an open fd on it. */
const sleepers: ChildProcess[] = [];
after(() => sleepers.forEach((child) => child.kill('SIGKILL')));
async function secondNetns(): Promise<{ pid: number; fd: number }> {
  const ours = readlinkSync('/proc/thread-self/ns/net');
  const child = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
  sleepers.push(child);
  const pid = child.pid!;
  // unshare(1) changes namespace, then execs sleep: wait for the first to have happened.
  for (let tries = 0; readlinkSync(`/proc/${pid}/ns/net`) === ours; tries++) {
    assert.ok(tries < 200, 'unshare -n sleep never left our namespace');
    await sleep(10);
  }
  return { pid, fd: openSync(`/proc/${pid}/ns/net`, 'r') };
}

/** Open a route socket while this thread is in the namespace of `netnsFd`, then come back: the
 *  socket stays in the namespace it was made in. */
function routeSocketIn(netlink: Netlink, netnsFd: number): number {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    assert.equal(setns(netnsFd, CLONE_NEWNET), 0, 'setns into the second namespace');
    try {
      return netlink.openRouteSocket('a socket in the second namespace');
    } finally {
      assert.equal(setns(home, CLONE_NEWNET), 0, 'setns back home');
    }
  } finally {
    closeSync(home);
  }
}

/** The engine's side as a container start leaves it: the bridge with the gateway address, up,
 *  and a veth pair whose peer is eth0 in a second namespace, its host end on the bridge, up. */
async function bridgeAndVeth(netlink: Netlink, fd: number) {
  const peer = await secondNetns();
  assert.equal(netlink.createBridge(fd, BRIDGE, 'test'), 'created');
  assert.equal(netlink.addAddress(fd, BRIDGE, GATEWAY, 'test'), 'added');
  netlink.setLinkUp(fd, BRIDGE, 'test');
  netlink.createVethPair(fd, HOST_END, 'eth0', peer.fd, 'test');
  netlink.setMaster(fd, HOST_END, BRIDGE, 'test');
  netlink.setLinkUp(fd, HOST_END, 'test');
  return peer;
}

for (const ch of CHAPTERS) {
  describe(`${ch}: rtnetlink`, () => {
    let netlink: Netlink;
    let fd: number;
    beforeEach(async () => {
      netlink = await load(ch);
      enterFreshNetns(); // before the socket: it belongs to the namespace it is opened in
      fd = netlink.openRouteSocket('test');
    });

    test(`${ch}: createBridge makes a bridge once, then says it exists; linkIndex and listLinks see it`, () => {
      assert.equal(netlink.createBridge(fd, BRIDGE, 'test'), 'created');
      assert.equal(netlink.createBridge(fd, BRIDGE, 'test'), 'exists');
      const link = ipLink(BRIDGE);
      assert.equal(link?.linkinfo?.info_kind, 'bridge', JSON.stringify(link));
      assert.ok(!link.flags.includes('UP'));
      assert.equal(netlink.linkIndex(fd, BRIDGE), link.ifindex);
      assert.equal(netlink.linkIndex(fd, 'lo'), ipLink('lo')?.ifindex);
      assert.equal(netlink.linkIndex(fd, 'nosuch0'), undefined);
      assert.deepEqual(
        netlink.listLinks(fd).map(({ index, name, kind, up }) => ({ index, name, kind, up })),
        ipLinks().map((l) => ({ index: l.ifindex, name: l.ifname, kind: l.linkinfo?.info_kind, up: l.flags.includes('UP') })),
      );
      netlink.setLinkUp(fd, BRIDGE, 'test');
      assert.ok(ipLink(BRIDGE)?.flags.includes('UP'));
      assert.equal(netlink.listLinks(fd).find((l) => l.name === BRIDGE)?.up, true);
    });

    test(`${ch}: addAddress puts address, prefix and broadcast on a link, then says it exists`, () => {
      netlink.createBridge(fd, BRIDGE, 'test');
      assert.equal(netlink.addAddress(fd, BRIDGE, GATEWAY, 'test'), 'added');
      assert.equal(netlink.addAddress(fd, BRIDGE, GATEWAY, 'test'), 'exists');
      const [shown] = ip<{ addr_info: Record<string, unknown>[] }[]>(['addr', 'show', 'dev', BRIDGE]);
      const inet = shown?.addr_info.filter((a) => a.family === 'inet');
      assert.deepEqual(
        inet?.map(({ local, prefixlen, broadcast, scope }) => ({ local, prefixlen, broadcast, scope })),
        [{ local: '10.208.0.1', prefixlen: 24, broadcast: '10.208.0.255', scope: 'global' }],
      );
    });

    test(`${ch}: a veth pair: the host end on the bridge and up, the peer eth0 in the other namespace only`, async () => {
      const peer = await bridgeAndVeth(netlink, fd);
      const hostEnd = ipLink(HOST_END);
      assert.equal(hostEnd?.linkinfo?.info_kind, 'veth', JSON.stringify(hostEnd));
      assert.equal(hostEnd.master, BRIDGE);
      assert.ok(hostEnd.flags.includes('UP'));
      assert.equal(netlink.listLinks(fd).find((l) => l.name === HOST_END)?.master, ipLink(BRIDGE)?.ifindex);
      assert.equal(ipLink('eth0'), undefined, 'no eth0 on the engine\'s side');
      const eth0 = ipLink('eth0', peer.pid);
      assert.equal(eth0?.linkinfo?.info_kind, 'veth', JSON.stringify(ipLinks(peer.pid)));
      // The namespace rule: the same question, two sockets, two answers.
      const inside = routeSocketIn(netlink, peer.fd);
      assert.equal(netlink.linkIndex(inside, 'eth0'), eth0.ifindex);
      assert.equal(netlink.linkIndex(fd, 'eth0'), undefined);
      assert.equal(netlink.linkIndex(inside, BRIDGE), undefined);
      netlink.closeRouteSocket(inside);
    });

    test(`${ch}: the container's socket brings eth0 up with its address and default route; a ping crosses the bridge`, async () => {
      const peer = await bridgeAndVeth(netlink, fd);
      const inside = routeSocketIn(netlink, peer.fd);
      netlink.setLinkUp(inside, 'eth0', 'test');
      assert.equal(netlink.addAddress(inside, 'eth0', CONTAINER, 'test'), 'added');
      netlink.addDefaultRoute(inside, GATEWAY.address, 'test');
      netlink.closeRouteSocket(inside);
      assert.ok(ipLink('eth0', peer.pid)?.flags.includes('UP'));
      const [addr] = ip<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(['addr', 'show', 'dev', 'eth0'], peer.pid);
      assert.deepEqual(addr?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.208.0.2/24']);
      const routes = ip<Record<string, unknown>[]>(['-d', 'route', 'show', 'default'], peer.pid);
      assert.deepEqual(
        routes.map(({ dst, gateway, dev, protocol, type }) => ({ dst, gateway, dev, protocol, type })),
        [{ dst: 'default', gateway: '10.208.0.1', dev: 'eth0', protocol: 'boot', type: 'unicast' }],
      );
      assert.deepEqual(ip(['route', 'show', 'default']), [], 'the engine\'s side got no default route');
      // Traffic only between the two namespaces this test made.
      const ping = spawnSync('nsenter', [`--net=/proc/${peer.pid}/ns/net`, 'busybox', 'ping', '-c', '1', '-W', '2', GATEWAY.address], { encoding: 'utf8' });
      assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    });

    test(`${ch}: deleteLink removes both ends of a veth pair, then answers false`, async () => {
      const peer = await bridgeAndVeth(netlink, fd);
      assert.ok(ipLink('eth0', peer.pid));
      assert.equal(netlink.deleteLink(fd, HOST_END, 'test'), true);
      assert.equal(ipLink(HOST_END), undefined);
      assert.equal(ipLink('eth0', peer.pid), undefined, 'the peer went with its host end');
      assert.equal(netlink.deleteLink(fd, HOST_END, 'test'), false);
      assert.ok(ipLink(BRIDGE), 'the bridge stays');
    });

    test(`${ch}: a refusal is one line naming the message, its target and the errno`, () => {
      const refusal = (fn: () => unknown) => {
        try {
          fn();
        } catch (err) {
          return (err as Error).message;
        }
        assert.fail('no error');
      };
      const missing = refusal(() => netlink.setLinkUp(fd, 'nosuch0', 'test'));
      assert.match(missing, /^RTM_SETLINK\("nosuch0" up\): ENODEV \(No such device\)/);
      assert.doesNotMatch(missing, /\n/);
      assert.match(refusal(() => netlink.setMaster(fd, 'lo', 'nosuch0', 'test')), /^RTM_GETLINK\("nosuch0"\): ENODEV/);
      netlink.createBridge(fd, BRIDGE, 'test');
      assert.match(refusal(() => netlink.createVethPair(fd, BRIDGE, 'eth0', openSync('/proc/thread-self/ns/net', 'r'), 'test')), /^RTM_NEWLINK\("nutshell0" veth.*\): EEXIST .*leftover/);
      // No address in the gateway's subnet yet: the kernel explains, the hint says what to do.
      assert.match(refusal(() => netlink.addDefaultRoute(fd, '10.208.0.1', 'test')), /^RTM_NEWROUTE\(default via 10\.208\.0\.1\): ENETUNREACH — the kernel says ".+"; .*add the address/);
    });
  });

  test(`${ch}: --trace decodes each message sent, nested attributes too, and each answer`, () => {
    const script = `
      const netlink = await import(${JSON.stringify(moduleUrl(ch))});
      const { openSync } = await import('node:fs');
      const fd = netlink.openRouteSocket('open the socket');
      netlink.createBridge(fd, 'nutshell0', 'the bridge');
      netlink.createVethPair(fd, 'nsh0123456789ab', 'eth0', openSync('/proc/self/ns/net', 'r'), 'the veth pair');
      netlink.addAddress(fd, 'nutshell0', { address: '10.208.0.1', prefixLength: 24 }, 'the gateway');
      try { netlink.setLinkUp(fd, 'nosuch0', 'a missing link'); } catch {}
      netlink.listLinks(fd);
    `;
    const child = spawnSync('unshare', ['-n', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, NUTSHELL_TRACE: '1', FORCE_COLOR: '0' },
    });
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stderr.split('\n');
    const has = (pattern: RegExp) => assert.ok(lines.some((line) => pattern.test(line)), `no line matches ${pattern}:\n${child.stderr}`);
    has(/socket\(AF_NETLINK, SOCK_RAW\|SOCK_CLOEXEC, NETLINK_ROUTE\) = \d+/);
    has(/sendto\(\d+, RTM_NEWLINK NLM_F_REQUEST\|NLM_F_ACK\|NLM_F_EXCL\|NLM_F_CREATE seq=\d+ ifinfomsg\{ifi_family=AF_UNSPEC .*ifi_index=0 .*\} IFLA_IFNAME="nutshell0" IFLA_LINKINFO\{IFLA_INFO_KIND="bridge"\}, 64, .*# the bridge$/);
    has(/IFLA_LINKINFO\{IFLA_INFO_KIND="veth" IFLA_INFO_DATA\{VETH_INFO_PEER\{ifinfomsg\{.*\} IFLA_IFNAME="eth0" IFLA_NET_NS_FD=\d+\}\}\}.*# the veth pair$/);
    has(/RTM_NEWADDR .*ifaddrmsg\{ifa_family=AF_INET ifa_prefixlen=24 .*\} IFA_LOCAL=10\.208\.0\.1 IFA_ADDRESS=10\.208\.0\.1 IFA_BROADCAST=10\.208\.0\.255.*# the gateway$/);
    has(/NLMSG_ERROR seq=\d+ error=0 \(ack\) .*# the bridge$/);
    has(/RTM_SETLINK .*ifi_flags=IFF_UP ifi_change=IFF_UP\} IFLA_IFNAME="nosuch0"/);
    has(/NLMSG_ERROR seq=\d+ error=-ENODEV/);
    has(/RTM_GETLINK NLM_F_REQUEST\|NLM_F_ACK\|NLM_F_DUMP seq=/);
    has(/RTM_NEWLINK NLM_F_MULTI seq=\d+ link \d+ "nutshell0" kind=bridge down/);
    has(/RTM_NEWLINK NLM_F_MULTI seq=\d+ link \d+ "nsh0123456789ab" kind=veth down/);
    has(/NLMSG_DONE seq=\d+ error=0/);
  });
}
