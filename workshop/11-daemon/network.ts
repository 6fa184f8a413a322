/** Chapter 10 · network: since chapter 02 a container has had a network namespace of its own
 *  with nothing in it but `lo`. This file gives it a way out, the way docker's default
 *  "bridge" network does:
 *
 *      host side                                     container (its own network namespace)
 *      ─────────                                     ─────────────────────────────────────
 *      nutshell0  (a bridge: a virtual switch,
 *       10.208.0.1/24, the containers' gateway)
 *        ├── nsh<id>  ═══ a veth pair: a cable ═══   eth0  10.208.0.2/24, default via 10.208.0.1
 *        └── nsh<id2> ═══════════════════════════   eth0  10.208.0.3/24, …
 *
 *  1. connectContainer() (engine, before the container starts): under a lock, pick a free
 *     address in the subnet and check the published ports, record both in
 *     <root>/network/allocations.json, make sure the bridge exists with the gateway address,
 *     and rewrite our nftables table from the allocations.
 *  2. plugInContainer() (engine, once the child stage has unshared its network namespace):
 *     create the veth pair with one end already inside the container's namespace, named eth0,
 *     and the other end attached to the bridge.
 *  3. configureContainerInterface() (child stage, inside): eth0 up, its address, the default
 *     route. A netlink socket talks to the namespace it was opened in, so the child stage
 *     opens its own.
 *  4. disconnectContainer() (whoever sees the container end): the veth goes, the address and
 *     ports are freed, the table is rewritten.
 *
 *  Links, addresses and routes are made with rtnetlink messages we build ourselves
 *  (netlink.ts). The NAT rules are an nftables ruleset applied by the `nft` program: the
 *  ruleset is short and reads like what it does, while the nftables netlink messages behind it
 *  (batches of nested expressions) would be a chapter of their own. docker runs the iptables
 *  program for the same job.
 *
 *  What a container can still do: the bridge forwards whatever the containers send each
 *  other, and their root holds CAP_NET_RAW (chapter 09's default set), so a container can
 *  forge packets to its neighbours (ARP spoofing included), as on docker's default bridge. */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';
import {
  addAddress, addDefaultRoute, closeRouteSocket, createBridge, createVethPair, deleteLink, listLinks, openRouteSocket, setLinkUp, setMaster,
} from './netlink.ts';
import { processStartTime, readState } from './state.ts';
import { engineRoot, listContainers, writeJSONAtomically } from './storage.ts';

export type NetworkMode = 'bridge' | 'none' | 'host';

/** `-p [hostIp:]hostPort:containerPort[/tcp|/udp]`. */
export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** What `run` asked for, kept in the container's config.json. */
export interface NetworkSpec {
  mode: NetworkMode;
  ports: PublishedPort[];
}

/** What a bridged container got: kept in its state.json while it runs. */
export interface NetworkLease {
  ipAddress: string;
  prefixLength: number;
  gateway: string;
  bridge: string;
  hostInterface: string;
}

/** The bridge every container of this engine is plugged into. */
export const BRIDGE = 'nutshell0';
/** Our nftables table (family `ip`: IPv4 only, as our addresses are). */
const NFT_TABLE = 'nutshell';
/** The default subnet. docker takes 172.17.0.0/16 and then other 172.16/12 and 192.168/16
 *  blocks for its networks, podman 10.88.0.0/16, Kubernetes' usual pod ranges 10.244/16
 *  (flannel), 10.42/16 (k3s) and 10.32/12 (weave): 10.208.0.0/24 meets none of them.
 *  NUTSHELL_SUBNET picks another one when it clashes with a network of yours. */
const DEFAULT_SUBNET = '10.208.0.0/24';

// ---------------------------------------------------------------- parsing what `run` was given

export function parseNetworkMode(text: string | undefined): NetworkMode {
  if (text === undefined || text === 'bridge' || text === 'none' || text === 'host') return text ?? 'bridge';
  throw new UserError(`unknown --network "${text}": use bridge (the default), none or host`);
}

/** `8080:80`, `127.0.0.1:8080:80/tcp`, `5353:53/udp`: checked before anything is made. */
export function parsePublish(text: string): PublishedPort {
  const invalid = (why: string) => new UserError(`invalid -p "${text}": ${why}`);
  const [address, protocol = 'tcp', ...extra] = text.split('/');
  if (extra.length > 0 || (protocol !== 'tcp' && protocol !== 'udp')) throw invalid('the protocol is tcp or udp');
  const parts = address!.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalid('give [hostIP:]hostPort:containerPort, e.g. 8080:80');
  const [hostIp = '0.0.0.0', hostPort, containerPort] = parts.length === 3 ? parts : [undefined, ...parts];
  if (ipv4ToNumber(hostIp) === undefined) throw invalid(`"${hostIp}" is not an IPv4 address`);
  const port = (value: string | undefined) => {
    const n = /^\d{1,5}$/.test(value ?? '') ? Number(value) : NaN;
    if (!(n >= 1 && n <= 65535)) throw invalid(`"${value}" is not a port (1 to 65535)`);
    return n;
  };
  return { hostIp, hostPort: port(hostPort), containerPort: port(containerPort), protocol };
}

/** `0.0.0.0:8080->80/tcp`, as docker ps shows them. */
export function formatPorts(ports: PublishedPort[]): string {
  return ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');
}

function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

interface Subnet {
  base: number;
  prefixLength: number;
  text: string;
}

/** NUTSHELL_SUBNET, or the default: a /16 to a /29, IPv4. */
function subnet(): Subnet {
  const text = process.env.NUTSHELL_SUBNET || DEFAULT_SUBNET;
  const [address = '', prefix = ''] = text.split('/');
  const n = ipv4ToNumber(address);
  const prefixLength = /^\d+$/.test(prefix) ? Number(prefix) : NaN;
  if (n === undefined || !(prefixLength >= 16 && prefixLength <= 29)) throw new UserError(`invalid NUTSHELL_SUBNET "${text}": give an IPv4 subnet from /16 to /29, e.g. ${DEFAULT_SUBNET}`);
  const size = 2 ** (32 - prefixLength);
  return { base: n - (n % size), prefixLength, text: `${numberToIpv4(n - (n % size))}/${prefixLength}` };
}

/** The gateway is the subnet's first address: the bridge's own, on the host side. */
function gatewayOf(net: Subnet): string {
  return numberToIpv4(net.base + 1);
}

/** Host end of a container's veth: IFNAMSIZ is 16 with the NUL, and "nsh" + a 12-digit id is 15. */
function hostInterfaceOf(id: string): string {
  return `nsh${id.slice(0, 12)}`;
}

// ---------------------------------------------------------------- the allocations file

interface Lease {
  ipAddress: string;
  ports: PublishedPort[];
  /** The engine (or monitor) that holds the lease: it gives the lease back when the container
   *  ends. If it was killed, and the container is gone too, the lease is stale. */
  owner: { pid: number; startTime: string | undefined };
}

interface Allocations {
  subnet: string;
  leases: Record<string, Lease>;
}

const networkDir = () => join(engineRoot(), 'network');
const allocationsPath = () => join(networkDir(), 'allocations.json');

function readAllocations(): Allocations {
  try {
    return JSON.parse(readFileSync(allocationsPath(), 'utf8')) as Allocations;
  } catch {
    return { subnet: subnet().text, leases: {} };
  }
}

/** Run `work` while holding an exclusive flock(2) on <root>/network/lock: two `run`s at once
 *  must never pick the same address or port. The kernel drops the lock if we are killed. */
async function withAllocations<T>(work: (allocations: Allocations) => Promise<T> | T): Promise<T> {
  mkdirSync(networkDir(), { recursive: true, mode: 0o700 });
  const fd = openSync(join(networkDir(), 'lock'), 'a');
  try {
    // Imported here, not at the top: store.ts brings the registry client with it, and the child
    // stage, which loads this file for the container's side of the network, needs none of it.
    const { waitForFlock } = await import('./store.ts');
    await waitForFlock(fd, 'exclusive', 'one engine at a time picks addresses and ports');
    const allocations = readAllocations();
    const result = await work(allocations);
    writeJSONAtomically(allocationsPath(), allocations);
    return result;
  } finally {
    closeSync(fd); // and with it the lock
  }
}

/** A lease whose owner is gone and whose container does not run: its engine was killed
 *  before it could clean up. */
function isStale(id: string, lease: Lease, running: Set<string>): boolean {
  const ownerAlive = processStartTime(lease.owner.pid) === lease.owner.startTime;
  return !ownerAlive && !running.has(id);
}

function runningContainers(): Set<string> {
  return new Set(listContainers().filter((c) => readState(c).status === 'running').map((c) => c.spec.id));
}

/** Give back what killed engines left: their host-side veths, addresses and ports. */
function dropStaleLeases(allocations: Allocations, routeSocket: number): void {
  const running = runningContainers();
  for (const [id, lease] of Object.entries(allocations.leases)) {
    if (!isStale(id, lease, running)) continue;
    traceStep(`release ${lease.ipAddress} of ${id}`, 'its engine was killed and the container is gone: the lease is stale');
    deleteLink(routeSocket, hostInterfaceOf(id), 'the veth of a container whose engine was killed');
    delete allocations.leases[id];
  }
}

// ---------------------------------------------------------------- published ports

/** Refuse a port another container of ours publishes, or a program of the host listens on
 *  (nothing would reach it once our DNAT rule takes its packets). */
async function checkPortsAreFree(ports: PublishedPort[], leases: Record<string, Lease>): Promise<void> {
  for (const [i, port] of ports.entries()) {
    const overlaps = (other: PublishedPort) =>
      other.protocol === port.protocol && other.hostPort === port.hostPort && (other.hostIp === port.hostIp || other.hostIp === '0.0.0.0' || port.hostIp === '0.0.0.0');
    const taken = Object.entries(leases).find(([, lease]) => lease.ports.some(overlaps));
    if (taken || ports.slice(0, i).some(overlaps)) throw new UserError(`host port ${port.hostPort}/${port.protocol} is already published${taken ? ` by container ${taken[0]}` : ' twice'}`);
    await probePort(port);
  }
}

/** Try to bind the port ourselves: EADDRINUSE means a program of the host listens there. */
function probePort(port: PublishedPort): Promise<void> {
  const inUse = (err: NodeJS.ErrnoException) =>
    new UserError(err.code === 'EADDRINUSE' ? `host port ${port.hostPort}/${port.protocol} is in use on ${port.hostIp} by a program of the host` : `cannot publish ${port.hostIp}:${port.hostPort}/${port.protocol}: ${err.message}`);
  return new Promise((resolve, reject) => {
    if (port.protocol === 'tcp') {
      const server = createServer();
      server.once('error', (err) => reject(inUse(err)));
      server.listen({ host: port.hostIp, port: port.hostPort, exclusive: true }, () => server.close(() => resolve()));
    } else {
      const socket = createSocket('udp4');
      socket.once('error', (err) => reject(inUse(err)));
      socket.bind({ address: port.hostIp, port: port.hostPort, exclusive: true }, () => socket.close(() => resolve()));
    }
  });
}

// ---------------------------------------------------------------- the NAT rules

/** Our whole nftables table, made from the allocations. It is replaced in one transaction
 *  (`nft -f`: all of it applies, or none), so there is never a half-written table, and a
 *  rule of a container that is gone cannot survive: nothing is patched, everything is redone.
 *  We never touch a table we did not make. */
function natRuleset(allocations: Allocations, net: Subnet): string {
  const dnat = Object.values(allocations.leases).flatMap((lease) =>
    lease.ports.map((p) => `    ${p.hostIp === '0.0.0.0' ? '' : `ip daddr ${p.hostIp} `}${p.protocol} dport ${p.hostPort} dnat to ${lease.ipAddress}:${p.containerPort}`),
  );
  return [
    `table ip ${NFT_TABLE}`, // made if missing, so that the delete below always has a table to delete
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    '  # Packets for a published port of one of the host\'s own addresses: from outside',
    '  # (prerouting) and from the host itself (output: curl 127.0.0.1:8080).',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    fib daddr type local jump published',
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    '    fib daddr type local jump published',
    '  }',
    '  chain published {',
    ...dnat,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    '    # Containers reach the world with the host\'s address: nobody outside routes our subnet.',
    `    ip saddr ${net.text} oifname != "${BRIDGE}" masquerade`,
    '    # 127.0.0.1:8080 turned into a container\'s address: the container could not answer',
    '    # 127.0.0.1 (its own loopback), so the packet leaves with the gateway\'s address.',
    `    ip saddr 127.0.0.0/8 oifname "${BRIDGE}" masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Apply a ruleset with the nft program (Debian's nftables package). */
function applyRuleset(ruleset: string, why: string): void {
  traceStep(`nft -f - <<EOF\n${ruleset}EOF`, why);
  try {
    execFileSync('nft', ['-f', '-'], { input: ruleset, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new UserError('the nft program is missing: NAT and published ports need it (apt-get install nftables)');
    throw new UserError(`nft refused our ruleset: ${(e.stderr?.toString() ?? e.message).trim().split('\n')[0]}`);
  }
}

// ---------------------------------------------------------------- host settings

/** Write a sysctl when it does not have the value we need yet, and say so: these are the
 *  host's settings, and they stay after the engine exits. */
function ensureSysctl(name: string, value: string, why: string, announce: boolean): void {
  const path = `/proc/sys/${name.replaceAll('.', '/')}`;
  const before = readFileSync(path, 'utf8').trim();
  if (before === value) return;
  traceStep(`echo ${value} > ${path}`, why);
  writeFileSync(path, value);
  if (announce) process.stderr.write(`nutshell: set ${name} to ${value} (it was ${before}): ${why}\n`);
}

/** The bridge with the gateway's address, up, and what the host must allow for it. */
function ensureBridge(routeSocket: number, net: Subnet): void {
  createBridge(routeSocket, BRIDGE, 'the switch every container\'s veth plugs into (made once, kept for the next containers)');
  addAddress(routeSocket, BRIDGE, { address: gatewayOf(net), prefixLength: net.prefixLength }, 'the gateway: the host\'s address on the containers\' subnet');
  setLinkUp(routeSocket, BRIDGE, 'a new link is down');
  ensureSysctl('net.ipv4.ip_forward', '1', 'the host must route packets between the bridge and its other interfaces', true);
  // Packets from 127.0.0.1 may not leave by a real interface ("martian source") unless the
  // interface allows it; our DNAT of 127.0.0.1:hostPort sends exactly such packets to the bridge.
  ensureSysctl(`net.ipv4.conf.${BRIDGE}.route_localnet`, '1', 'let 127.0.0.1:hostPort reach a container through our bridge', false);
}

// ---------------------------------------------------------------- the four steps

/** What every bridged container needs of the host side, checked and made under the lock: what
 *  killed engines left is given back, the ports are free, the bridge is there. */
async function readyHostSide(allocations: Allocations, routeSocket: number, ports: PublishedPort[], net: Subnet): Promise<void> {
  if (allocations.subnet !== net.text && Object.keys(allocations.leases).length > 0) {
    throw new UserError(`NUTSHELL_SUBNET is ${net.text}, but running containers use ${allocations.subnet}: stop them first`);
  }
  allocations.subnet = net.text;
  dropStaleLeases(allocations, routeSocket);
  await checkPortsAreFree(ports, allocations.leases);
  ensureBridge(routeSocket, net);
}

/** `run`, before it creates the container: a port in use is refused while nothing exists yet,
 *  and what the engine changes on the host is said on the terminal of whoever ran it (a
 *  detached container's monitor prints to the container's log). */
export async function prepareHostNetwork(ports: PublishedPort[]): Promise<void> {
  await withAllocations(async (allocations) => {
    const routeSocket = openRouteSocket('the host side\'s network: its links, addresses and routes');
    try {
      await readyHostSide(allocations, routeSocket, ports, subnet());
    } finally {
      closeRouteSocket(routeSocket);
    }
  });
}

/** 1. Engine, before the container starts: an address and the ports, the bridge, the rules. */
export async function connectContainer(id: string, ports: PublishedPort[]): Promise<NetworkLease> {
  const net = subnet();
  return withAllocations(async (allocations) => {
    const routeSocket = openRouteSocket('the host side\'s network: its links, addresses and routes');
    try {
      // Again, under this lock: another `run` may have taken a port since prepareHostNetwork().
      await readyHostSide(allocations, routeSocket, ports, net);
      const used = new Set(Object.values(allocations.leases).map((lease) => lease.ipAddress));
      const size = 2 ** (32 - net.prefixLength);
      // .0 is the network, .1 the gateway, the last one broadcast: the rest is for containers.
      let ipAddress: string | undefined;
      for (let n = net.base + 2; n < net.base + size - 1 && !ipAddress; n++) if (!used.has(numberToIpv4(n))) ipAddress = numberToIpv4(n);
      if (!ipAddress) throw new UserError(`no free address left in ${net.text}: ${size - 3} containers use it`);
      traceStep(`lease ${ipAddress} to ${id}`, 'the lowest address of the subnet that no container of ours holds');
      allocations.leases[id] = { ipAddress, ports, owner: { pid: process.pid, startTime: processStartTime(process.pid) } };
      applyRuleset(natRuleset(allocations, net), 'masquerade the subnet, and send each published port to its container');
      return { ipAddress, prefixLength: net.prefixLength, gateway: gatewayOf(net), bridge: BRIDGE, hostInterface: hostInterfaceOf(id) };
    } finally {
      closeRouteSocket(routeSocket);
    }
  });
}

/** 2. Engine, while the child stage waits: a veth pair, one end in the container as eth0. */
export function plugInContainer(lease: NetworkLease, containerPid: number): void {
  const routeSocket = openRouteSocket('the host side\'s network, to make the veth pair');
  // The container's network namespace, by descriptor: the kernel makes the peer right there.
  const netns = openSync(`/proc/${containerPid}/ns/net`, 'r');
  try {
    createVethPair(routeSocket, lease.hostInterface, 'eth0', netns, 'a virtual cable: one end stays on the host, the other is the container\'s eth0');
    setMaster(routeSocket, lease.hostInterface, lease.bridge, 'plug the host end into the bridge');
    setLinkUp(routeSocket, lease.hostInterface, 'a new link is down');
  } finally {
    closeSync(netns);
    closeRouteSocket(routeSocket);
  }
}

/** 3. Child stage, inside the container's network namespace: eth0, its address, its route. */
export function configureContainerInterface(lease: NetworkLease): void {
  const routeSocket = openRouteSocket('this socket talks to the namespace it is opened in: the container\'s');
  try {
    setLinkUp(routeSocket, 'eth0', 'the engine made our end of the veth; it is down');
    addAddress(routeSocket, 'eth0', { address: lease.ipAddress, prefixLength: lease.prefixLength }, 'the address the engine leased us; the kernel adds the route to the subnet with it');
    addDefaultRoute(routeSocket, lease.gateway, 'everything else goes to the bridge, which the host routes on');
  } finally {
    closeRouteSocket(routeSocket);
  }
}

/** 4. When the container has ended: its veth, address and ports go. Safe to call twice. */
export async function disconnectContainer(id: string): Promise<void> {
  await withAllocations((allocations) => {
    const routeSocket = openRouteSocket('the host side\'s network, to remove the veth');
    try {
      // The kernel removes the pair when the container's namespace dies, but that happens
      // some time after its last process: remove it now, so the name is free at once.
      deleteLink(routeSocket, hostInterfaceOf(id), 'the container has ended: its cable goes');
    } finally {
      closeRouteSocket(routeSocket);
    }
    if (!allocations.leases[id]) return;
    delete allocations.leases[id];
    applyRuleset(natRuleset(allocations, subnet()), 'the container\'s published ports go with it');
  });
}

/** `network prune`: with no container left on it, the bridge and our table go; what killed
 *  engines left goes in any case. Returns one line per thing removed. */
export async function pruneNetwork(): Promise<string[]> {
  return withAllocations((allocations) => {
    const removed: string[] = [];
    const routeSocket = openRouteSocket('the host side\'s network');
    try {
      const before = new Set(Object.keys(allocations.leases));
      dropStaleLeases(allocations, routeSocket);
      for (const id of before) if (!allocations.leases[id]) removed.push(`lease of container ${id}`);
      const inUse = Object.keys(allocations.leases).map(hostInterfaceOf);
      const bridge = listLinks(routeSocket).find((link) => link.name === BRIDGE);
      for (const link of listLinks(routeSocket)) {
        if (/^nsh[0-9a-f]{12}$/.test(link.name) && link.master === bridge?.index && !inUse.includes(link.name)) {
          if (deleteLink(routeSocket, link.name, 'a veth no lease accounts for')) removed.push(`veth ${link.name}`);
        }
      }
      if (Object.keys(allocations.leases).length > 0) return removed;
      if (bridge && deleteLink(routeSocket, BRIDGE, 'no container uses the bridge any more')) removed.push(`bridge ${BRIDGE}`);
      if (tableExists()) {
        applyRuleset(`delete table ip ${NFT_TABLE}\n`, 'no container needs NAT any more');
        removed.push(`nftables table ip ${NFT_TABLE}`);
      }
      return removed;
    } finally {
      closeRouteSocket(routeSocket);
    }
  });
}

function tableExists(): boolean {
  try {
    execFileSync('nft', ['list', 'table', 'ip', NFT_TABLE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- /etc/hosts, hostname, resolv.conf

export interface NetworkFile {
  hostPath: string;
  containerPath: string;
}

/** The three files docker writes for every container, in the container's directory; the child
 *  stage binds each over the image's (bindNetworkFiles in container.ts). The image's own
 *  files stay untouched in its layers. */
export function writeNetworkFiles(dir: string, container: { id: string; name?: string; hostname: string; mode: NetworkMode; ipAddress?: string }): NetworkFile[] {
  const files: Record<string, string> = container.mode === 'host'
    ? { hosts: readFileOr('/etc/hosts', ''), hostname: `${hostHostname()}\n`, 'resolv.conf': readFileOr('/etc/resolv.conf', '') }
    : { hosts: hostsFile(container), hostname: `${container.hostname}\n`, 'resolv.conf': resolvConf(readFileOr('/etc/resolv.conf', '')) };
  return Object.entries(files).map(([name, text]) => {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    return { hostPath: join(dir, name), containerPath: `/etc/${name}` };
  });
}

function hostsFile(container: { id: string; name?: string; hostname: string; ipAddress?: string }): string {
  const names = [...new Set([container.hostname, container.id, container.name].filter((n): n is string => !!n))];
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    // With --network none there is no address to name; the names then are loopback's.
    container.ipAddress ? `${container.ipAddress}\t${names.join(' ')}` : `127.0.1.1\t${names.join(' ')}`,
    '',
  ].join('\n');
}

/** The host's resolv.conf without loopback name servers: 127.0.0.53 (systemd-resolved) on the
 *  host is the container's own loopback inside, where nothing listens. With none left, docker
 *  falls back to Google's public servers, and so do we. */
export function resolvConf(host: string): string {
  const isLoopback = (line: string) => /^\s*nameserver\s+(127\.|::1\s*$|::1$)/.test(line);
  const kept = host.split('\n').filter((line) => !isLoopback(line));
  if (!kept.some((line) => /^\s*nameserver\s/.test(line))) kept.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return `${kept.join('\n').trim()}\n`;
}

function readFileOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
