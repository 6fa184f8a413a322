/** Test helper: a network namespace of the test's own, for chapter 10. The engine runs inside
 *  it (start()/run() with `netns`), so its bridge, veths and nftables table live there and go
 *  with it; the host's network configuration is never touched, and traffic only goes to
 *  addresses inside it. The test's "host side" is the namespace itself: `lo` up, and a link
 *  with an address of its own (HOST_ADDRESS), which exists only in that namespace. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Result } from './chapter.ts';

/** The host side's own address in a test's namespace (TEST-NET-1, RFC 5737: never routed). */
export const HOST_ADDRESS = '192.0.2.1';
/** The link that carries it: one end of a veth pair whose other end stays unused (a `dummy`
 *  link would do, but not every kernel has that driver; chapter 10 needs veth anyway). */
export const HOST_LINK = 'host0';

let made = 0;

/** Where `ip netns add` mounts a namespace: what nsenter --net= takes. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** `nsenter --net=<ns> -- cmd args…`: the words that run a program inside the namespace (nsenter
 *  execs it, so the PID is the program's). */
export function nsenterArgs(name: string): string[] {
  return [`--net=${netnsPath(name)}`, '--'];
}

/** Run a host-side program (ip, nft, curl…) inside the namespace, to its end. Never throws on
 *  a non-zero exit: the caller asserts. */
export function inNetns(name: string, command: string, args: string[], timeout = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile('nsenter', [...nsenterArgs(name), command, ...args], { encoding: 'utf8', timeout }, (err, stdout, stderr) => {
      const failed = err as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
      const code = failed ? (typeof failed.code === 'number' ? failed.code : 127) : 0;
      resolve({ code, signal: failed?.signal ?? null, stdout, stderr: stderr || (failed?.message ?? '') });
    });
  });
}

/** The same, and fail with what it printed when it exits non-zero. */
export async function mustInNetns(name: string, command: string, args: string[]): Promise<string> {
  const r = await inNetns(name, command, args);
  if (r.code !== 0) throw new Error(`in ${name}: ${command} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** A new network namespace `nutshell-t-<pid>-<n>` with `lo` up and HOST_ADDRESS/24 on
 *  HOST_LINK, removed after the test `t` with whatever still runs in it. `beforeRemoval` runs
 *  first (the test's own clean-up inside it, such as `rm -f` of its containers); the namespace
 *  goes even when that fails, and then the failure fails the test. */
export async function makeNetns(t: TestContext, beforeRemoval?: () => Promise<void>): Promise<string> {
  const name = `nutshell-t-${process.pid}-${++made}`;
  await new Promise<void>((resolve, reject) => execFile('ip', ['netns', 'add', name], (err) => (err ? reject(err) : resolve())));
  t.after(async () => {
    try {
      await beforeRemoval?.();
    } finally {
      await removeNetns(name);
    }
  });
  await mustInNetns(name, 'ip', ['link', 'set', 'lo', 'up']);
  await mustInNetns(name, 'ip', ['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', `${HOST_LINK}-peer`]);
  await mustInNetns(name, 'ip', ['addr', 'add', `${HOST_ADDRESS}/24`, 'dev', HOST_LINK]);
  for (const link of [HOST_LINK, `${HOST_LINK}-peer`]) await mustInNetns(name, 'ip', ['link', 'set', link, 'up']);
  return name;
}

/** The processes whose network namespace is `name` (a leaked container or engine). */
export function processesIn(name: string): number[] {
  let target: string;
  try {
    // The file `ip netns add` mounted is the namespace itself: its inode is the one that
    // /proc/<pid>/ns/net names for each member ("net:[4026532…]").
    target = `net:[${statSync(netnsPath(name)).ino}]`;
  } catch {
    return [];
  }
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && Number(pid) !== process.pid)
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/net`) === target;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Kill what still runs in the namespace (the test started it all), then delete it. */
async function removeNetns(name: string): Promise<void> {
  for (const pid of processesIn(name)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
  if (processesIn(name).length) await sleep(200);
  await new Promise<void>((resolve) => execFile('ip', ['netns', 'delete', name], () => resolve()));
}

/** A host-side process listening on TCP `port` of every address in the namespace: a port in use
 *  that no container holds. Killed after the test. */
export async function listenInNetns(t: TestContext, name: string, port: number): Promise<ChildProcess> {
  const script = `require('node:net').createServer().listen(${port}, '0.0.0.0', () => console.log('listening'))`;
  const child = spawn('nsenter', [...nsenterArgs(name), process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    child.on('exit', (code) => reject(new Error(`a listener on port ${port} in ${name} exited (${code}): ${stderr.trim()}`)));
  });
  return child;
}
