/** Tooling: a real registry on this machine, Debian's docker-registry (the CNCF distribution
 *  project, the code behind Docker Hub's registry), serving plain HTTP on a free port of
 *  127.0.0.1 with its storage in a temporary directory. Used by the tests, the tour and the
 *  benchmarks; stop() stops it and removes its storage. `npm run registry` (scripts/registry.ts)
 *  starts one that outlives it, recorded under $NUTSHELL_REGISTRIES. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const STARTUP_MS = 15_000;

export interface LocalRegistry {
  /** `127.0.0.1:PORT`, as image references name it. */
  host: string;
  /** Its filesystem storage: blobs are under docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data. */
  storageDir: string;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  user: string;
  password: string;
}

/** A port nobody listens on right now: bind port 0, read what the kernel chose, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** What a registry needs on disk before it starts: a config that points its storage at a new
 *  directory under `parentDir`, and with `htpasswd` a password file for Basic auth. */
interface RegistryFiles {
  dir: string;
  storageDir: string;
  config: string;
  logPath: string;
  host: string;
}

function prepareRegistry(opts: { htpasswd?: RegistryAuth; parentDir?: string }, port: number): RegistryFiles {
  if (!existsSync(REGISTRY_BIN)) throw new Error('docker-registry is missing: run "apt-get install docker-registry" as root');
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'nutshell-registry-'));
  const storageDir = join(dir, 'storage');
  const host = `127.0.0.1:${port}`;

  let auth = '';
  if (opts.htpasswd) {
    // bcrypt is the only hash distribution's htpasswd backend accepts.
    let line: string;
    try {
      line = execFileSync('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(missing ? 'htpasswd is missing: run "apt-get install apache2-utils" as root' : `htpasswd failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`);
    }
    writeFileSync(join(dir, 'htpasswd'), line.trim() + '\n');
    auth = `auth:\n  htpasswd:\n    realm: nutshell-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\n` +
      `http:\n  addr: ${host}\n` +
      auth,
  );
  return { dir, storageDir, config, logPath: join(dir, 'registry.log'), host };
}

/** Start docker-registry on prepared files. `detached`: in a session of its own, so that it
 *  outlives this program and a Ctrl-C in its terminal (`npm run registry`). */
function spawnRegistry(files: RegistryFiles, detached: boolean): ChildProcess {
  // The registry logs to a file, never to a pipe of ours. Even at level error it writes a line
  // of about 800 bytes for every 404 it answers, and a push asks HEAD /v2/…/blobs/<digest>
  // (404: not there yet) for each of its layers. A pipe is drained only while our event loop
  // runs, and the tests push with execFileSync, which blocks it: after some 100 layers the
  // socket's buffer (212992 bytes of accounting) was full, the registry's logger blocked in
  // write(2) while holding its lock, every request waited behind it, and a push of 128 layers
  // (buildah or skopeo alike) hung for good with six HEAD requests unanswered.
  // A detached registry needs it all the more: nobody would read the pipe once we are gone.
  const logFd = openSync(files.logPath, 'a');
  const child = spawn(REGISTRY_BIN, ['serve', files.config], { stdio: ['ignore', 'ignore', logFd], detached });
  closeSync(logFd);
  return child;
}

function readLog(files: RegistryFiles): string {
  try {
    return readFileSync(files.logPath, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Wait until GET /v2/ answers: 200, or 401 when it wants credentials ("Determining support").
 *  Throws with the registry's log when it exits or stays silent. */
async function waitUntilServing(files: RegistryFiles, child: ChildProcess, withAuth: boolean): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`docker-registry exited with ${child.exitCode ?? child.signalCode}: ${readLog(files)}`);
    const status = await fetch(`http://${files.host}/v2/`).then((r) => r.status, () => 0);
    if (status === 200 || (status === 401 && withAuth)) return;
    if (Date.now() > deadline) throw new Error(`docker-registry on ${files.host} did not answer within ${STARTUP_MS} ms: ${readLog(files)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start a registry; with `htpasswd`, it asks for Basic auth with that one user. Its storage
 *  is a new directory under `parentDir` (default: the system's temporary directory). */
export async function startLocalRegistry(opts: { htpasswd?: RegistryAuth; parentDir?: string } = {}): Promise<LocalRegistry> {
  const files = prepareRegistry(opts, await freePort());
  const child = spawnRegistry(files, false);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Whatever happens to the program that started it, the registry does not outlive it.
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', kill);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(files.dir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(files, child, opts.htpasswd !== undefined);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: files.host, storageDir: files.storageDir, stop };
}

// ------------------------------------------- registries that outlive us (npm run registry)

/** Where `npm run registry` records the registries it left running, one JSON file each, so
 *  that `stop`, `list` and `npm run reset` find them later. A test sets its own. */
export function registriesDir(): string {
  return process.env.NUTSHELL_REGISTRIES || '/tmp/nutshell-registries';
}

/** A registry started by `npm run registry`, as its record says. */
export interface RegistryRecord {
  host: string;
  pid: number;
  /** Its config, storage and log: removed when it stops. */
  dir: string;
  /** The Basic auth user, if it asks for one. */
  user?: string;
  started: string;
}

const recordPath = (host: string) => join(registriesDir(), `${host}.json`);

/** Start a registry that keeps running after this program ends, and record it. The port is
 *  chosen free a moment before the registry binds it; if another program took it meanwhile,
 *  the registry exits, and we try again on another port. */
export async function startDetachedRegistry(opts: { htpasswd?: RegistryAuth } = {}): Promise<RegistryRecord> {
  for (let attempt = 1; ; attempt++) {
    const files = prepareRegistry(opts, await freePort());
    const child = spawnRegistry(files, true);
    try {
      await waitUntilServing(files, child, opts.htpasswd !== undefined);
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(files.dir, { recursive: true, force: true });
      if (attempt < 3 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
    const record: RegistryRecord = { host: files.host, pid: child.pid!, dir: files.dir, started: new Date().toISOString() };
    if (opts.htpasswd) record.user = opts.htpasswd.user;
    mkdirSync(registriesDir(), { recursive: true });
    writeFileSync(recordPath(files.host), JSON.stringify(record, null, 2) + '\n');
    // Our end of the child: without unref, this program would wait for the registry to exit.
    child.unref();
    return record;
  }
}

/** Every recorded registry, by port. */
export function listRecordedRegistries(): RegistryRecord[] {
  let names: string[];
  try {
    names = readdirSync(registriesDir());
  } catch {
    return [];
  }
  const records: RegistryRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    try {
      records.push(JSON.parse(readFileSync(join(registriesDir(), name), 'utf8')) as RegistryRecord);
    } catch {
      // A record half-written or edited by hand: nothing we can stop.
    }
  }
  return records.sort((a, b) => Number(a.host.split(':')[1]) - Number(b.host.split(':')[1]));
}

export function findRecordedRegistry(host: string): RegistryRecord | undefined {
  return listRecordedRegistries().find((r) => r.host === host);
}

/** The recorded process is still that registry: alive, not a zombie, and serving the config
 *  of this record (a PID can be reused by anything once the registry is gone). */
export function isRegistryRunning(record: RegistryRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0').includes(join(record.dir, 'config.yml'));
  } catch {
    return false;
  }
}

/** Stop a recorded registry (SIGTERM, then SIGKILL after 5 s), remove its storage and its
 *  record. Safe on a registry that already died. */
export async function stopRecordedRegistry(record: RegistryRecord): Promise<void> {
  if (isRegistryRunning(record)) {
    process.kill(record.pid, 'SIGTERM');
    const deadline = Date.now() + 5_000;
    while (isRegistryRunning(record)) {
      if (Date.now() > deadline) {
        try {
          process.kill(record.pid, 'SIGKILL');
        } catch {
          // It exited between the check and the kill.
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  rmSync(record.dir, { recursive: true, force: true });
  rmSync(recordPath(record.host), { force: true });
}

/** Where the registry keeps a blob's bytes on disk. */
export function blobPath(registry: LocalRegistry, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}
