/** `npm run vm -- COMMAND…` (scripts/vm.ts): the command runs in a guest whose kernel mounts
 *  cgroup v2 only, its output comes out as it printed it, and its exit code is the runner's.
 *  Each test boots a VM under emulation (about 20 s on these machines, more under load); the
 *  tests of a file run one after another, so there is never more than one VM at a time. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../scripts/build-rootfs.ts';

/** `npm run -s vm -- args`, to its end (-s: npm's own banner would be on stdout too). */
function vm(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync('npm', ['run', '-s', 'vm', '--', ...args], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 600_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('the exit code of the command is the exit code of the runner: 0, 1 and 7', () => {
  const ok = vm(['true']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, '');
  assert.equal(vm(['false']).code, 1);
  assert.equal(vm(['sh', '-c', 'exit 7']).code, 7);
});

test('the guest mounts cgroup2 alone on /sys/fs/cgroup', () => {
  const result = vm(['stat', '-fc', '%T', '/sys/fs/cgroup']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'cgroup2fs\n');
});

test('output that looks like the status line is output, stdout and stderr stay apart, and both are pipes', () => {
  // The status travels on a port of its own: these lines are only the command's output.
  // Pipes, as under a test runner: not the serial ports, which are terminals.
  const script = 'echo "exit 0"; echo "error nothing"; echo "exit 0" >&2; [ -t 1 ] || [ -t 2 ] || echo pipes; printf "no newline"; exit 3';
  const result = vm(['sh', '-c', script]);
  assert.equal(result.code, 3, result.stderr);
  assert.equal(result.stdout, 'exit 0\nerror nothing\npipes\nno newline');
  assert.equal(result.stderr, 'exit 0\n');
});

test('the command runs in the current directory with the NUTSHELL_* variables and no others', () => {
  const env = { ...process.env, NUTSHELL_VM_TEST: 'it is "passed"', SOME_OTHER_VARIABLE: 'not passed' };
  const result = vm(['sh', '-c', 'pwd; echo "$NUTSHELL_VM_TEST"; echo "${SOME_OTHER_VARIABLE:-unset}"; touch /tmp/writable && echo tmp'], env);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${PROJECT_ROOT}\nit is "passed"\nunset\ntmp\n`);
});

test('a working directory under /tmp, which the guest\'s own tmpfs hides, is bound back in', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nutshell-vm-cwd-'));
  try {
    writeFileSync(join(dir, 'note'), 'from the host\n');
    // Not through npm, which needs a package.json where it runs: the runner itself, from here.
    const runner = join(PROJECT_ROOT, 'scripts', 'vm.ts');
    const result = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), runner, 'sh', '-c', 'pwd; cat note'], { cwd: dir, encoding: 'utf8', timeout: 600_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `${dir}\nfrom the host\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without qemu on PATH, or without the kernel, the runner says so in one line', () => {
  // A PATH with node, npm and sh, but no qemu-system-x86_64.
  const bin = mkdtempSync(join(tmpdir(), 'nutshell-vm-path-'));
  try {
    for (const tool of ['node', 'npm', 'sh', 'env']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(found, join(bin, tool));
    }
    const noQemu = vm(['true'], { ...process.env, PATH: bin });
    assert.equal(noQemu.code, 125);
    assert.match(noQemu.stderr, /^nutshell vm: qemu-system-x86_64 not found on PATH: apt-get install qemu-system-x86\n$/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  const noKernel = vm(['true'], { ...process.env, NUTSHELL_VM_KERNEL: '/nonexistent/vmlinuz-0.0' });
  assert.equal(noKernel.code, 125);
  assert.match(noKernel.stderr, /^nutshell vm: no kernel at \/nonexistent\/vmlinuz-0\.0 [^\n]*\n$/);
});
