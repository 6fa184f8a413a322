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
  throw new Error('TODO (chapter 10): write parseNetworkMode()');
}

/** `8080:80`, `127.0.0.1:8080:80/tcp`, `5353:53/udp`: checked before anything is made. */
export function parsePublish(text: string): PublishedPort {
  throw new Error('TODO (chapter 10): write parsePublish(), as the comment above it says');
}

/** `0.0.0.0:8080->80/tcp`, as docker ps shows them. */
export function formatPorts(ports: PublishedPort[]): string {
  throw new Error('TODO (chapter 10): write formatPorts(), as the comment above it says');
}

function ipv4ToNumber(text: string): number | undefined {
  throw new Error('TODO (chapter 10): write ipv4ToNumber()');
}

function numberToIpv4(n: number): string {
  throw new Error('TODO (chapter 10): write numberToIpv4()');
}

interface Subnet {
  base: number;
  prefixLength: number;
  text: string;
}

/** NUTSHELL_SUBNET, or the default: a /16 to a /29, IPv4. */
function subnet(): Subnet {
  throw new Error('TODO (chapter 10): write subnet(), as the comment above it says');
}

/** The gateway is the subnet's first address: the bridge's own, on the host side. */
function gatewayOf(net: Subnet): string {
  throw new Error('TODO (chapter 10): write gatewayOf(), as the comment above it says');
}

/** Host end of a container's veth: IFNAMSIZ is 16 with the NUL, and "nsh" + a 12-digit id is 15. */
function hostInterfaceOf(id: string): string {
  throw new Error('TODO (chapter 10): write hostInterfaceOf(), as the comment above it says');
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
  throw new Error('TODO (chapter 10): write readAllocations()');
}

/** Run `work` while holding an exclusive flock(2) on <root>/network/lock: two `run`s at once
 *  must never pick the same address or port. The kernel drops the lock if we are killed. */
async function withAllocations<T>(work: (allocations: Allocations) => Promise<T> | T): Promise<T> {
  // Imported here, not at the top: store.ts brings the registry client with it, and the child
  // stage, which loads this file for the container's side of the network, needs none of it.
  throw new Error('TODO (chapter 10): write withAllocations(), as the comment above it says');
}

/** A lease whose owner is gone and whose container does not run: its engine was killed
 *  before it could clean up. */
function isStale(id: string, lease: Lease, running: Set<string>): boolean {
  throw new Error('TODO (chapter 10): write isStale(), as the comment above it says');
}

function runningContainers(): Set<string> {
  throw new Error('TODO (chapter 10): write runningContainers()');
}

/** Give back what killed engines left: their host-side veths, addresses and ports. */
function dropStaleLeases(allocations: Allocations, routeSocket: number): void {
  throw new Error('TODO (chapter 10): write dropStaleLeases(), as the comment above it says');
}

// ---------------------------------------------------------------- published ports

/** Refuse a port another container of ours publishes, or a program of the host listens on
 *  (nothing would reach it once our DNAT rule takes its packets). */
async function checkPortsAreFree(ports: PublishedPort[], leases: Record<string, Lease>): Promise<void> {
  throw new Error('TODO (chapter 10): write checkPortsAreFree(), as the comment above it says');
}

/** Try to bind the port ourselves: EADDRINUSE means a program of the host listens there. */
function probePort(port: PublishedPort): Promise<void> {
  throw new Error('TODO (chapter 10): write probePort(), as the comment above it says');
}

// ---------------------------------------------------------------- the NAT rules

/** Our whole nftables table, made from the allocations. It is replaced in one transaction
 *  (`nft -f`: all of it applies, or none), so there is never a half-written table, and a
 *  rule of a container that is gone cannot survive: nothing is patched, everything is redone.
 *  We never touch a table we did not make. */
function natRuleset(allocations: Allocations, net: Subnet): string {
  throw new Error('TODO (chapter 10): write natRuleset(), as the comment above it says');
}

/** Apply a ruleset with the nft program (Debian's nftables package). */
function applyRuleset(ruleset: string, why: string): void {
  throw new Error('TODO (chapter 10): write applyRuleset(), as the comment above it says');
}

// ---------------------------------------------------------------- host settings

/** Write a sysctl when it does not have the value we need yet, and say so: these are the
 *  host's settings, and they stay after the engine exits. */
function ensureSysctl(name: string, value: string, why: string, announce: boolean): void {
  throw new Error('TODO (chapter 10): write ensureSysctl(), as the comment above it says');
}

/** The bridge with the gateway's address, up, and what the host must allow for it. */
function ensureBridge(routeSocket: number, net: Subnet): void {
  // Packets from 127.0.0.1 may not leave by a real interface ("martian source") unless the
  // interface allows it; our DNAT of 127.0.0.1:hostPort sends exactly such packets to the bridge.
  throw new Error('TODO (chapter 10): write ensureBridge(), as the comment above it says');
}

// ---------------------------------------------------------------- the four steps

/** What every bridged container needs of the host side, checked and made under the lock: what
 *  killed engines left is given back, the ports are free, the bridge is there. */
async function readyHostSide(allocations: Allocations, routeSocket: number, ports: PublishedPort[], net: Subnet): Promise<void> {
  throw new Error('TODO (chapter 10): write readyHostSide(), as the comment above it says');
}

/** `run`, before it creates the container: a port in use is refused while nothing exists yet,
 *  and what the engine changes on the host is said on the terminal of whoever ran it (a
 *  detached container's monitor prints to the container's log). */
export async function prepareHostNetwork(ports: PublishedPort[]): Promise<void> {
  throw new Error('TODO (chapter 10): write prepareHostNetwork(), as the comment above it says');
}

/** 1. Engine, before the container starts: an address and the ports, the bridge, the rules. */
export async function connectContainer(id: string, ports: PublishedPort[]): Promise<NetworkLease> {
  // Again, under this lock: another `run` may have taken a port since prepareHostNetwork().
  // .0 is the network, .1 the gateway, the last one broadcast: the rest is for containers.
  throw new Error('TODO (chapter 10): write connectContainer(), as the comment above it says');
}

/** 2. Engine, while the child stage waits: a veth pair, one end in the container as eth0. */
export function plugInContainer(lease: NetworkLease, containerPid: number): void {
  // The container's network namespace, by descriptor: the kernel makes the peer right there.
  throw new Error('TODO (chapter 10): write plugInContainer(), as the comment above it says');
}

/** 3. Child stage, inside the container's network namespace: eth0, its address, its route. */
export function configureContainerInterface(lease: NetworkLease): void {
  throw new Error('TODO (chapter 10): write configureContainerInterface(), as the comment above it says');
}

/** 4. When the container has ended: its veth, address and ports go. Safe to call twice. */
export async function disconnectContainer(id: string): Promise<void> {
  // The kernel removes the pair when the container's namespace dies, but that happens
  // some time after its last process: remove it now, so the name is free at once.
  throw new Error('TODO (chapter 10): write disconnectContainer(), as the comment above it says');
}

/** `network prune`: with no container left on it, the bridge and our table go; what killed
 *  engines left goes in any case. Returns one line per thing removed. */
export async function pruneNetwork(): Promise<string[]> {
  throw new Error('TODO (chapter 10): write pruneNetwork(), as the comment above it says');
}

function tableExists(): boolean {
  throw new Error('TODO (chapter 10): write tableExists()');
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
  throw new Error('TODO (chapter 10): write writeNetworkFiles(), as the comment above it says');
}

function hostsFile(container: { id: string; name?: string; hostname: string; ipAddress?: string }): string {
  // With --network none there is no address to name; the names then are loopback's.
  throw new Error('TODO (chapter 10): write hostsFile()');
}

/** The host's resolv.conf without loopback name servers: 127.0.0.53 (systemd-resolved) on the
 *  host is the container's own loopback inside, where nothing listens. With none left, docker
 *  falls back to Google's public servers, and so do we. */
export function resolvConf(host: string): string {
  throw new Error('TODO (chapter 10): write resolvConf(), as the comment above it says');
}

function readFileOr(path: string, fallback: string): string {
  throw new Error('TODO (chapter 10): write readFileOr()');
}
