/** Tooling: build the sample root filesystem that every chapter runs, from one static busybox.
 *  Usage: npm run rootfs [-- <dir>]   (default build/rootfs; rebuilt only when missing) */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './project.mjs';

export { PROJECT_ROOT };

export const DEFAULT_ROOTFS = join(PROJECT_ROOT, 'build', 'rootfs');
const BUSYBOX = '/bin/busybox';

/** busybox-static's /bin/busybox needs no shared library, so it runs in an empty rootfs. */
function ensureStaticBusybox(): void {
  const installed = () => spawnSync('dpkg-query', ['-W', '-f=${Status}', 'busybox-static'], { encoding: 'utf8' }).stdout?.includes('install ok installed');
  if (installed() && existsSync(BUSYBOX)) return;
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error('busybox-static is missing: installing it with apt-get');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['install', '-y', '-qq', 'busybox-static'], { stdio: 'inherit', env });
    if (installed()) return;
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', 'busybox-static'], { stdio: 'inherit', env });
    if (installed()) return;
  }
  throw new Error('busybox-static is missing: run "apt-get install busybox-static" as root');
}

/** Build the rootfs in a temporary directory and rename it into place, so that a build
 *  interrupted half-way never leaves a broken rootfs behind. */
export function buildRootfs(dest = DEFAULT_ROOTFS): string {
  if (existsSync(join(dest, 'bin', 'busybox'))) return dest;
  ensureStaticBusybox();
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'root', 'home', 'var', 'tmp']) {
    mkdirSync(join(tmp, dir), { recursive: true });
  }
  chmodSync(join(tmp, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(tmp, 'bin', 'busybox'));
  chmodSync(join(tmp, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) {
    const link = join(tmp, applet);
    if (applet === 'bin/busybox' || existsSync(link)) continue;
    symlinkSync('/bin/busybox', link);
  }
  writeFileSync(join(tmp, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  writeFileSync(join(tmp, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(tmp, 'etc', 'hostname'), 'nutshell\n');
  writeFileSync(join(tmp, 'etc', 'os-release'), 'NAME="nutshell busybox rootfs"\nID=nutshell\n');
  mkdirSync(dirname(dest), { recursive: true });
  try {
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true }); // another build won the race: keep its result
    if (!existsSync(join(dest, 'bin', 'busybox'))) throw err;
  }
  return dest;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(buildRootfs(process.argv[2] ? resolve(process.argv[2]) : DEFAULT_ROOTFS));
  } catch (err) {
    console.error(`nutshell: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
