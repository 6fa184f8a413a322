/** Chapter 09 · an `exec` the container cannot reach through. The process that enters a
 *  running container is a Node process of the host until it execve(2)s the command: its root,
 *  working directory, environment and binary are the host's. Up to chapter 08 it was in the
 *  container's PID namespace from its first instruction, and dumpable: a root process in the
 *  container could walk /proc/<pid>/root into the host's "/", read /proc/<pid>/environ, open
 *  /proc/<pid>/exe. From chapter 09 the child stage stays outside that PID namespace, is not
 *  dumpable, and joins every namespace before it starts the command as its child. And a program
 *  of the container that has execve(2) start /proc/self/exe (CVE-2019-5736) runs the host's node,
 *  shown read-only. Each check runs on chapter 08 too, where the container gets through. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyOfRootfs, engineFor, ROOTFS, run, start, tempDir, type Engine } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

/** A file only the host has: a process whose /proc/<pid>/root leads to it leads out. */
const HOST_MARKER = join(tempDir(), `host-only-${randomBytes(4).toString('hex')}`);
writeFileSync(HOST_MARKER, 'the host\'s\n');
/** A variable only the engine that runs `exec` has: whoever reads it read the host's memory. */
const HOST_SECRET = `HOST_SECRET_${randomBytes(4).toString('hex')}`;
/** The command `exec` starts, recognisable in the watcher's log (read drops the NULs: "sleep2.718"). */
const EXECED = ['sleep', '2.718'];

/** PID 1 of the watched container: polls every process it can see, with shell builtins only (no
 *  fork: it must be quick to catch a process that lives for a few hundred ms). For each process
 *  and command line it has not seen, it notes where /proc/<pid>/root leads (the container's root,
 *  the host's, elsewhere, or "closed": not to be opened), where /proc/<pid>/exe leads, and
 *  whether /proc/<pid>/environ holds the engine's variable; on every round, whether
 *  /proc/<pid>/root leads to the host's file. "closed" is asked first: a command between its
 *  fork and its execve(2) is not dumpable, and opens up at execve(2); asked last, a process
 *  that opened up between the questions looked like one whose root is neither (CI saw it). */
const WATCHER = `
touch /inside-marker
seen=" "
while true; do
  for d in /proc/[0-9]*; do
    p=\${d#/proc/}
    [ "$p" = 1 ] && continue
    [ -e "$d/root${HOST_MARKER}" ] && echo "host-root $p" >> /tmp/seen
    cmd=; read -r cmd < "$d/cmdline" 2>/dev/null
    case "$seen" in *" $p:$cmd "*) continue ;; esac
    seen="$seen$p:$cmd "
    if [ ! -e "$d/root/." ]; then root=closed
    elif [ -e "$d/root/inside-marker" ]; then root=inside
    elif [ -e "$d/root${HOST_MARKER}" ]; then root=host
    elif [ -e "$d/root/." ]; then root=other
    else root=closed; fi
    echo "new $p $cmd root=$root exe=$(readlink "$d/exe" 2>/dev/null) env=$(tr '\\0' '\\n' < "$d/environ" 2>/dev/null | grep -c ${HOST_SECRET})" >> /tmp/seen
  done
done`;

/** Run the watcher as a detached container, `exec` EXECED in it with HOST_SECRET in the engine's
 *  environment, and return what the watcher noted. */
async function watchAnExec(ch: string, engine: Engine, name: string): Promise<string[]> {
  const { env } = engine;
  const started = await run(ch, ['run', '-d', '--name', name, ...(await engine.rootfsArgs(ROOTFS)), 'sh', '-c', WATCHER], { env });
  assert.equal(started.code, 0, started.stderr);
  try {
    await sleep(1000); // the watcher is polling
    const entered = await run(ch, ['exec', name, ...EXECED], { env: { ...env, [HOST_SECRET]: 'the engine\'s environment' } });
    assert.equal(entered.code, 0, entered.stderr);
    const log = await run(ch, ['exec', name, 'cat', '/tmp/seen'], { env });
    return log.stdout.trim().split('\n');
  } finally {
    await run(ch, ['rm', '-f', name], { env });
  }
}

for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    test('a root process in the container reaches the host through the exec stage: its root, its environment, its node', async () => {
      const seen = await watchAnExec(ch, engine, 'watched');
      assert.ok(seen.some((line) => line.startsWith('host-root ')), `/proc/<pid>/root led to the host's ${HOST_MARKER}:\n${seen.join('\n')}`);
      // (The first sighting may come before the stage's execve(2) of node: the engine's command line.)
      const stage = seen.find((line) => line.includes('__exec root=') && line.includes(`exe=${process.execPath} `));
      assert.ok(stage, `the watcher opened /proc/<pid>/exe of the stage, the host's node:\n${seen.join('\n')}`);
      assert.match(stage, /__exec root=host .* env=1$/, 'its root is the host\'s, and its environment is the engine\'s');
    });
  });
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    let watched: Promise<string[]> | undefined;
    const watch = () => (watched ??= watchAnExec(ch, engine, 'watched'));

    test('the container sees the command exec starts, inside; no process whose root or environment is the host\'s', async () => {
      const seen = await watch();
      assert.ok(seen.some((line) => new RegExp(`^new \\d+ ${EXECED.join('')} root=inside exe=/bin/busybox env=0$`).test(line)), `the watcher saw the command:\n${seen.join('\n')}`);
      assert.deepEqual(seen.filter((line) => line.startsWith('host-root ')), [], 'no /proc/<pid>/root leads to the host');
      // "closed": the command between its fork and its execve(2), not dumpable, seen by a container
      // without CAP_SYS_PTRACE.
      assert.deepEqual(seen.filter((line) => / root=(host|other) /.test(line)), [], 'every process it saw has the container\'s root');
      assert.deepEqual(seen.filter((line) => !line.endsWith(' env=0')), [], 'no /proc/<pid>/environ holds the engine\'s variables');
    });

    // The command, from its fork(2) by the stage to its execve(2), runs the stage's code, the host's
    // node: not dumpable, so a container without CAP_SYS_PTRACE (chapter 09's capabilities)
    // cannot open its /proc/<pid>/exe. The watcher does catch processes in that window.
    test('nor, without CAP_SYS_PTRACE, one whose /proc/<pid>/exe opens the host\'s node', async () => {
      const seen = await watch();
      assert.deepEqual(seen.filter((line) => line.includes(`exe=${process.execPath}`)), [], 'no /proc/<pid>/exe opens the host\'s node');
    });

    test('the exec stage stays out of the container\'s PID namespace, puts its children there, and brings in nothing of the host\'s', async () => {
      const { env } = engine;
      const started = await run(ch, ['run', '-d', '--name', 'entered', ...(await engine.rootfsArgs(ROOTFS)), 'sleep', '60'], { env });
      assert.equal(started.code, 0, started.stderr);
      const entering = start(ch, ['exec', 'entered', 'sleep', '5'], { env: { ...env, [HOST_SECRET]: 'x' }, stdio: 'ignore' });
      try {
        const init = engine.containerProcesses().find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x0060\x00')!;
        const ns = (pid: string | number, name: string) => readlinkSync(`/proc/${pid}/ns/${name}`);
        const stage = await findExecStage(ns(init, 'pid'));
        assert.equal(ns(stage, 'pid'), ns('self', 'pid'), 'the stage itself is in the host\'s PID namespace: the container never sees it');
        for (const name of ['mnt', 'uts', 'ipc', 'net', 'cgroup']) assert.equal(ns(stage, name), ns(init, name), `it has joined the container's ${name} namespace`);
        assert.ok(!readFileSync(`/proc/${stage}/environ`, 'utf8').includes(HOST_SECRET), 'and the engine\'s environment stayed with the engine');
        const directories = readdirSync(`/proc/${stage}/fd`).filter((fd) => statSync(`/proc/${stage}/fd/${fd}`, { throwIfNoEntry: false })?.isDirectory());
        assert.deepEqual(directories, [], 'it holds no descriptor of a directory');
      } finally {
        entering.kill('SIGKILL');
        await run(ch, ['rm', '-f', 'entered'], { env });
      }
    });
  });
}

/** The node process whose command line names the __exec stage and whose children go to the
 *  container's PID namespace `pidNs`: once it has joined, and before the command ends. */
async function findExecStage(pidNs: string): Promise<number> {
  for (let tries = 0; tries < 300; tries++) {
    for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__exec')) continue;
        if (readlinkSync(`/proc/${pid}/ns/pid_for_children`) === pidNs && readlinkSync(`/proc/${pid}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt')) return Number(pid);
      } catch {
        // gone meanwhile
      }
    }
    await sleep(100);
  }
  throw new Error('no exec stage joined the container');
}

/** docker's default capabilities: what a container's root holds in chapter 09. */
const CONTAINER_CAPABILITIES = ['chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write'];

/** Open `path` for reading as root with the container's capabilities, no more (setpriv, from
 *  util-linux: as root, what execve(2) gives is the bounding set). */
function readAsContainerRoot(path: string): 'read' | 'refused' {
  const bounding = `-all,${CONTAINER_CAPABILITIES.map((cap) => `+${cap}`).join(',')}`;
  const r = spawnSync('setpriv', [`--bounding-set=${bounding}`, '--inh-caps=-all', '--', 'sh', '-c', `exec 3< ${path}`], { encoding: 'utf8' });
  return r.status === 0 ? 'read' : 'refused';
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    // A root process with the capabilities of a container's root (docker's 14, which chapter 09
    // gives, without CAP_SYS_PTRACE) may open /proc/<pid>/environ and /proc/<pid>/mem of a process
    // of its own user and capabilities, if that process is dumpable (ptrace_may_access()).
    test('the exec stage cannot be looked into by a root process with the container\'s capabilities (not dumpable)', async () => {
      const { env } = engine;
      const started = await run(ch, ['run', '-d', '--name', 'entered', ...(await engine.rootfsArgs(ROOTFS)), 'sleep', '60'], { env });
      assert.equal(started.code, 0, started.stderr);
      const entering = start(ch, ['exec', 'entered', 'sleep', '5'], { env, stdio: 'ignore' });
      try {
        const init = engine.containerProcesses().find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x0060\x00')!;
        const stage = await findExecStage(readlinkSync(`/proc/${init}/ns/pid`));
        assert.equal(readAsContainerRoot(`/proc/${init}/environ`), 'read', 'the check works: the container\'s own process is dumpable');
        for (const file of ['environ', 'mem']) assert.equal(readAsContainerRoot(`/proc/${stage}/${file}`), 'refused', `/proc/<stage>/${file}`);
      } finally {
        entering.kill('SIGKILL');
        await run(ch, ['rm', '-f', 'entered'], { env });
      }
    });
  });
}

// ---------------------------------------------------------------- CVE-2019-5736

/** A rootfs in which the host's node can start (its ELF interpreter and libraries, copied from
 *  the host), with a program /bin/evil that is a script whose interpreter is a symlink to
 *  /proc/self/exe. Whoever execve(2)s /bin/evil runs /proc/self/exe of ITSELF: the engine's
 *  child stage, that is the host's node, which then runs the rest of the script as JavaScript,
 *  as the container's process. It prints the size and inode of /proc/self/exe, and whether
 *  access(2) allows writing it (W_OK: open(2) would say ETXTBSY while any node runs, and
 *  succeed once none does). */
function rootfsThatStartsTheHostsNode(): string {
  const rootfs = copyOfRootfs();
  const ldd = execFileSync('ldd', [process.execPath], { encoding: 'utf8' });
  for (const library of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) {
    const target = join(rootfs, library[1]!);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(library[1]!, target);
  }
  symlinkSync('/proc/self/exe', join(rootfs, 'bin', 'node-of-the-engine'));
  writeFileSync(join(rootfs, 'bin', 'evil'), [
    '#!/bin/node-of-the-engine',
    'const fs = require("fs");',
    'const exe = fs.statSync("/proc/self/exe");',
    'let access = "writable";',
    'try { fs.accessSync("/proc/self/exe", fs.constants.W_OK); } catch (err) { access = err.code; }',
    'console.log(`${exe.size} ${exe.ino} ${access}`);',
  ].join('\n'));
  chmodSync(join(rootfs, 'bin', 'evil'), 0o755);
  return rootfs;
}

const EVIL_ROOTFS = rootfsThatStartsTheHostsNode();
const hostNode = statSync(process.execPath);
const RUNS_HOST_NODE = `${hostNode.size} ${hostNode.ino}`;

/** What /bin/evil printed, started by `exec` in a running container and by `run`. */
async function startTheHostsNode(ch: string, engine: Engine): Promise<{ viaExec: string; viaRun: string }> {
  const { env } = engine;
  const image = await engine.rootfsArgs(EVIL_ROOTFS);
  const started = await run(ch, ['run', '-d', '--name', 'evil', ...image, 'sleep', '60'], { env });
  assert.equal(started.code, 0, started.stderr);
  try {
    const viaExec = await run(ch, ['exec', 'evil', 'evil'], { env });
    const viaRun = await engine.runContainer(['--rm'], EVIL_ROOTFS, ['evil']);
    return { viaExec: `${viaExec.stdout.trim()}${viaExec.stderr}`, viaRun: `${viaRun.stdout.trim()}${viaRun.stderr}` };
  } finally {
    await run(ch, ['rm', '-f', 'evil'], { env });
  }
}

for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}`, () => {
    test('CVE-2019-5736: a program of the container has exec and run start the host\'s node, which it may write to', async () => {
      const { viaExec, viaRun } = await startTheHostsNode(ch, engineFor(ch));
      assert.equal(viaExec, `${RUNS_HOST_NODE} writable`, `through exec (${basename(process.execPath)} is ${RUNS_HOST_NODE})`);
      assert.equal(viaRun, `${RUNS_HOST_NODE} writable`, 'through run');
    });
  });
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}`, () => {
    test('CVE-2019-5736: the host\'s node that a program of the container starts is on a read-only mount (EROFS)', async () => {
      const { viaExec, viaRun } = await startTheHostsNode(ch, engineFor(ch));
      assert.equal(viaExec, `${RUNS_HOST_NODE} EROFS`, 'through exec: the same file, read-only');
      assert.equal(viaRun, `${RUNS_HOST_NODE} EROFS`, 'through run');
    });
  });
}
