/** Tooling for the checks of chapter 10: the learner's copy makes a bridge, veths and an
 *  nftables table, and turns IP forwarding on. None of that may touch the machine's own
 *  network, so each check makes a network namespace of its own (`ip netns add`), runs the copy
 *  in it through nsenter(1), and deletes it afterwards: the bridge, the veths and the table go
 *  with it. nsenter --net changes the network namespace only; `ip netns exec` would also mount
 *  a sysfs of its own over /sys, and hide the cgroup hierarchies the copy needs. */
import { execFileSync } from 'node:child_process';
import { notYet, ROOTFS, type Copy, type Result, type RunOptions } from '../lib.ts';
import { startTimeOf } from '../06-lifecycle/common.ts';

/** The image every check runs, imported by the copy itself. */
export const IMAGE = 'demo/busybox:1';
/** The chapter's default subnet, set for every run whatever the learner's NUTSHELL_SUBNET says:
 *  the namespace is the check's own, so nothing can clash with it. */
export const SUBNET = '10.208.0.0/24';

let made = 0;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The copy, with every command run in the check's own network namespace. */
export interface NetworkedCopy {
  copy: Copy;
  /** The namespace's name, in /run/netns. */
  netns: string;
  run(args: string[], opts?: RunOptions): Promise<Result>;
  /** `run` that must succeed: its stdout, or a NotYet naming the copy's first error line. */
  step(args: string[], timeout?: number): Promise<string>;
  /** `run -d --name <name> …`; the container is removed after the check. */
  detached(name: string, args: string[]): Promise<string>;
  /** `inspect <name>`, parsed. */
  inspect(name: string): Promise<Inspected>;
}

export interface Inspected {
  id: string;
  network?: { mode: string };
  state: { status: string; pid?: number; network?: { ipAddress: string; prefixLength: number; gateway: string } };
}

/** A network namespace for this check, with lo up, deleted after the check (after the
 *  containers, which copy.defer removes first: deferred work runs last-in, first-out), and the
 *  image imported. */
export async function inOwnNetwork(copy: Copy): Promise<NetworkedCopy> {
  const netns = `nutshell-ex-${process.pid}-${++made}`;
  ip(['netns', 'add', netns]);
  copy.defer(() => ip(['netns', 'delete', netns]));
  ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  const wrap = ['nsenter', `--net=/run/netns/${netns}`, '--'];
  const env = { ...copy.env, NUTSHELL_SUBNET: SUBNET };
  const run = (args: string[], opts: RunOptions = {}) => copy.run(args, { timeout: 60_000, wrap, env, ...opts });
  const step = async (args: string[], timeout = 60_000) => {
    const r = await run(args, { timeout });
    if (r.code !== 0) notYet(`${args.join(' ')} failed with ${r.code}${r.timedOut ? ` (killed after ${timeout / 1000} s)` : ''}: ${r.stderr.trim().split('\n').at(-1)}`);
    return r.stdout;
  };
  const networked: NetworkedCopy = {
    copy,
    netns,
    run,
    step,
    async detached(name, args) {
      let started: { pid: number; startTime: string | undefined } | undefined;
      copy.defer(async () => {
        await run(['rm', '-f', name], { timeout: 30_000 });
        // Whatever the learner's changes do to rm, the container must not outlive the check
        // (it would keep the namespace alive): SIGKILL to its PID 1 ends its PID namespace,
        // if that PID is still the container's (same start time), not a reused one.
        if (started && startTimeOf(started.pid) === started.startTime) process.kill(started.pid, 'SIGKILL');
      });
      const id = (await step(['run', '-d', '--name', name, ...args])).trim();
      const { pid } = (await networked.inspect(name)).state;
      if (pid !== undefined) started = { pid, startTime: startTimeOf(pid) };
      return id;
    },
    async inspect(name) {
      return JSON.parse(await step(['inspect', name], 30_000)) as Inspected;
    },
  };
  await step(['import', ROOTFS, IMAGE]);
  return networked;
}

/** The lines a program wrote to stderr, without the engine's notices about host settings it
 *  changed ("nutshell: set net.ipv4.ip_forward to 1 …"), which come once per namespace. */
export function errorLines(r: Result): string[] {
  return r.stderr.trim().split('\n').filter((line) => line && !/^nutshell: set net\./.test(line));
}

/** The address of a running container, as inspect gives it. */
export async function addressOf(net: NetworkedCopy, name: string): Promise<string> {
  const found = await net.inspect(name);
  const address = found.state.network?.ipAddress;
  if (!address) notYet(`inspect ${name} shows no state.network.ipAddress (status ${found.state.status})`);
  return address;
}
