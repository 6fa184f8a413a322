/** Tooling: a real registry on this machine, Debian's docker-registry (the CNCF distribution
 *  project, the code behind Docker Hub's registry), serving plain HTTP on a free port of
 *  127.0.0.1 with its storage in a temporary directory. Used by the tests, the tour and the
 *  benchmarks; stop() stops it and removes its storage. */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Start a registry; with `htpasswd`, it asks for Basic auth with that one user. Its storage
 *  is a new directory under `parentDir` (default: the system's temporary directory). */
export async function startLocalRegistry(opts: { htpasswd?: RegistryAuth; parentDir?: string } = {}): Promise<LocalRegistry> {
  if (!existsSync(REGISTRY_BIN)) throw new Error('docker-registry is missing: run "apt-get install docker-registry" as root');
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'nutshell-registry-'));
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;

  let auth = '';
  if (opts.htpasswd) {
    // bcrypt is the only hash distribution's htpasswd backend accepts.
    const line = execFileSync('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password], { encoding: 'utf8' });
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

  // The registry logs to a file, never to a pipe of ours. Even at level error it writes a line
  // of about 800 bytes for every 404 it answers, and a push asks HEAD /v2/…/blobs/<digest>
  // (404: not there yet) for each of its layers. A pipe is drained only while our event loop
  // runs, and the tests push with execFileSync, which blocks it: after some 100 layers the
  // socket's buffer (212992 bytes of accounting) was full, the registry's logger blocked in
  // write(2) while holding its lock, every request waited behind it, and a push of 128 layers
  // (buildah or skopeo alike) hung for good with six HEAD requests unanswered.
  const logPath = join(dir, 'registry.log');
  const logFd = openSync(logPath, 'a');
  const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', logFd] });
  closeSync(logFd);
  const logText = () => {
    try {
      return readFileSync(logPath, 'utf8').trim();
    } catch {
      return '';
    }
  };
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
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when GET /v2/ answers: 200, or 401 when it wants credentials ("Determining support").
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    if (child.exitCode !== null) {
      const log = logText();
      await stop();
      throw new Error(`docker-registry exited with ${child.exitCode}: ${log}`);
    }
    const status = await fetch(`http://${host}/v2/`).then((r) => r.status, () => 0);
    if (status === 200 || (status === 401 && opts.htpasswd)) break;
    if (Date.now() > deadline) {
      const log = logText();
      await stop();
      throw new Error(`docker-registry on ${host} did not answer within ${STARTUP_MS} ms: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, storageDir, stop };
}

/** Where the registry keeps a blob's bytes on disk. */
export function blobPath(registry: LocalRegistry, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}
