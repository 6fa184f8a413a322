/** Chapter 09 · /proc and /sys: the files of the host's kernel that no namespace covers. The
 *  container's /proc and /sys are mounts of its own, yet /proc/kcore, /proc/keys, /proc/sys and
 *  /sys/firmware are the host kernel's, and root may read and write them. Chapter 09 covers
 *  docker's MaskedPaths (a file with /dev/null, a directory with an empty read-only tmpfs),
 *  makes its ReadonlyPaths read-only, and shows the container its own cgroups read-only at
 *  /sys/fs/cgroup. Each check runs on chapter 08 too, where the container still reaches them. */
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CGROUP_V2 } from './helpers/cgroups.ts';
import { engineFor, ROOTFS, type Result } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

/** docker's lists (moby oci/defaults.go), as chapter 09 applies them. */
const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READ_ONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The limits the container runs with, and the files inside that show them. */
const LIMITS = ['--pids-limit', '50', '--memory', '64m'];
const PIDS_MAX = CGROUP_V2 ? '/sys/fs/cgroup/pids.max' : '/sys/fs/cgroup/pids/pids.max';
const MEMORY_MAX = CGROUP_V2 ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes';

/** A shell line that prints `<label> written` or `<label> refused <why>` for `echo value > file`. */
const tryWrite = (label: string, value: string, file: string) =>
  `if (echo ${value} > ${file}) 2>/tmp/why; then echo "${label} written"; else echo "${label} refused $(cat /tmp/why)"; fi`;

/** What the container sees of each path, line by line ("mask <path> ..."), its mount table
 *  ("mountinfo ..."), a sysctl written back unchanged, and its cgroup files. Nothing it writes
 *  changes anything: the same swappiness goes back, and pids.max/memory limits are its own. */
const PROBE = [
  `for p in ${MASKED_PATHS.join(' ')}; do`,
  '  if [ ! -e $p ]; then echo "mask $p missing";',
  '  elif [ -d $p ]; then echo "mask $p dir $(stat -f -c %T $p) $(ls -A $p | wc -l)";',
  '  else echo "mask $p file $(stat -f -c %T $p) $(stat -c %t:%T $p) $(head -c 4096 $p | wc -c)"; fi',
  'done',
  'sed "s/^/mountinfo /" /proc/self/mountinfo',
  `swappiness=$(cat /proc/sys/vm/swappiness); ${tryWrite('sysctl', '$swappiness', '/proc/sys/vm/swappiness')}`,
  `for f in ${PIDS_MAX} ${MEMORY_MAX}; do [ -e $f ] && echo "cgroup $f $(cat $f)"; done`,
  `[ -e ${PIDS_MAX} ] && ${tryWrite('pids.max', '100', PIDS_MAX)} && echo "pids.max after $(cat ${PIDS_MAX})"`,
  `[ -e ${MEMORY_MAX} ] && ${tryWrite('memory', '134217728', MEMORY_MAX)}`,
  'echo probe done',
].join('\n');

interface Seen {
  /** path → its line after "mask <path> " */
  masks: Map<string, string>;
  /** mount point → its mount options (mountinfo field 6) */
  mounts: Map<string, string>;
  lines: string[];
  result: Result;
}

function parse(result: Result): Seen {
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.at(-1), 'probe done', `the probe ran to its end: ${result.stderr}`);
  const masks = new Map(lines.filter((l) => l.startsWith('mask ')).map((l) => {
    const [, path, ...rest] = l.split(' ');
    return [path!, rest.join(' ')] as const;
  }));
  const mounts = new Map(lines.filter((l) => l.startsWith('mountinfo ')).map((l) => {
    const fields = l.split(' ').slice(1);
    return [fields[4]!, fields[5]!] as const;
  }));
  return { masks, mounts, lines, result };
}

/** What the host has at `path`: missing, a directory and how many entries, or a file and how
 *  many of its first 4096 bytes read (procfs files say size 0: only a read tells). */
function onTheHost(path: string): { kind: 'missing' | 'dir' | 'file'; size: number } {
  if (!existsSync(path)) return { kind: 'missing', size: 0 };
  if (statSync(path).isDirectory()) return { kind: 'dir', size: readdirSync(path).length };
  const fd = openSync(path, 'r');
  try {
    return { kind: 'file', size: readSync(fd, Buffer.alloc(4096)) };
  } finally {
    closeSync(fd);
  }
}

const hasLine = (seen: Seen, pattern: RegExp) => seen.lines.some((line) => pattern.test(line));

for (const ch of chaptersFrom('08', '08')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);

    test('the host kernel\'s files are open: masked paths show the kernel\'s, a sysctl takes a write, /sys/fs/cgroup is empty', async () => {
      const seen = parse(await engine.runContainer(LIMITS, ROOTFS, ['sh', '-c', PROBE]));
      let shown = 0;
      for (const path of MASKED_PATHS) {
        const host = onTheHost(path);
        const inside = seen.masks.get(path)!;
        if (host.kind === 'missing') continue;
        assert.match(inside, new RegExp(`^${host.kind} (proc|sysfs) `), `${path} is the kernel's own inside: ${inside}`);
        if (host.size > 0 && Number(inside.split(' ').at(-1)) > 0) shown++;
      }
      assert.ok(shown > 0, `at least one masked path shows the kernel's content: ${[...seen.masks.values()].join('; ')}`);
      assert.ok(hasLine(seen, /^sysctl written$/), 'root in the container writes a sysctl of the host\'s kernel');
      assert.ok(!hasLine(seen, /^cgroup /), 'nothing at /sys/fs/cgroup: an empty directory of sysfs');
    });

    test('root in the container mounts its cgroup hierarchy and raises its own pids.max; it remounts /sys read-write', async () => {
      const controller = CGROUP_V2 ? '-t cgroup2 cgroup2' : '-t cgroup -o pids cgroup';
      const r = await engine.runContainer(LIMITS, ROOTFS, ['sh', '-c', [
        `mkdir /tmp/cg && mount ${controller} /tmp/cg && echo 100 > /tmp/cg/pids.max && echo "pids.max $(cat /tmp/cg/pids.max)"`,
        'mount -o remount,rw /sys && grep " /sys " /proc/self/mountinfo',
      ].join('\n')]);
      assert.match(r.stdout, /^pids\.max 100$/m, `the limit was 50: ${r.stderr}`);
      assert.match(r.stdout, / \/sys rw,/, `sysfs is writable now: ${r.stderr}`);
    });
  });
}

for (const ch of chaptersFrom('09')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    let probed: Promise<Seen> | undefined;
    const probe = () => (probed ??= engine.runContainer(LIMITS, ROOTFS, ['sh', '-c', PROBE]).then(parse));

    test('masked paths: /dev/null over each file, an empty read-only tmpfs over each directory', async () => {
      const seen = await probe();
      for (const path of MASKED_PATHS) {
        const host = onTheHost(path);
        const inside = seen.masks.get(path)!;
        if (host.kind === 'missing') assert.equal(inside, 'missing', `${path}: this kernel has none, and neither has the container`);
        // /dev/null is character device 1:3 (stat prints hex), on our /dev's tmpfs; reads are empty.
        else if (host.kind === 'file') assert.equal(inside, 'file tmpfs 1:3 0', `${path} reads as /dev/null`);
        else assert.equal(inside, 'dir tmpfs 0', `${path} is an empty tmpfs`);
        if (host.kind === 'dir') assert.match(seen.mounts.get(path)!, /^ro,/, `${path}'s tmpfs is read-only`);
      }
      assert.ok(MASKED_PATHS.some((path) => onTheHost(path).size > 0), 'this host has something to hide, so the test shows it hidden');
    });

    test('read-only paths: each is a read-only mount; a sysctl written back unchanged fails with EROFS', async () => {
      const seen = await probe();
      for (const path of READ_ONLY_PATHS) {
        if (!existsSync(path)) {
          assert.ok(!seen.mounts.has(path), `${path}: this kernel has none`);
          continue;
        }
        assert.match(seen.mounts.get(path) ?? 'no mount', /^ro,nosuid,nodev,noexec(,|$)/, `${path} is a read-only mount, and still nosuid, nodev, noexec`);
      }
      assert.ok(hasLine(seen, /^sysctl refused .*Read-only file system$/), `the write fails: ${seen.lines.filter((l) => l.startsWith('sysctl'))}`);
      assert.match(seen.mounts.get('/sys')!, /^ro,/, '/sys itself stays read-only');
    });

    test('/sys/fs/cgroup shows the container\'s own cgroup, read-only: its limits are there, and cannot be raised', async () => {
      const seen = await probe();
      assert.ok(hasLine(seen, new RegExp(`^cgroup ${PIDS_MAX} 50$`)), `pids.max is the container's limit: ${seen.lines.filter((l) => l.startsWith('cgroup'))}`);
      assert.ok(hasLine(seen, new RegExp(`^cgroup ${MEMORY_MAX} ${64 * 1024 * 1024}$`)), 'the memory limit is the container\'s');
      assert.ok(hasLine(seen, /^pids\.max refused .*Read-only file system$/), 'pids.max cannot be raised');
      assert.ok(hasLine(seen, /^pids\.max after 50$/), 'pids.max is still 50');
      assert.ok(hasLine(seen, /^memory refused .*Read-only file system$/), 'the memory limit cannot be raised');
      assert.match(seen.mounts.get('/sys/fs/cgroup')!, /^ro,/, 'and nothing can be added beside them');
    });

    // The checks below hold once the capabilities of chapter 09 are dropped (no CAP_SYS_ADMIN):
    // root could otherwise undo any mount, as it can on chapter 08 (the test above).
    test('without CAP_SYS_ADMIN nothing is undone: no cgroup mount, no remount of /sys or /proc/sys read-write, no umount of a mask', async () => {
      const controller = CGROUP_V2 ? '-t cgroup2 cgroup2' : '-t cgroup -o pids cgroup';
      const mask = MASKED_PATHS.find((path) => existsSync(path))!;
      const r = await engine.runContainer(LIMITS, ROOTFS, ['sh', '-c', [
        `mkdir /tmp/cg; mount ${controller} /tmp/cg && echo "cgroup mounted"`,
        'mount -o remount,rw /sys && echo "/sys remounted"',
        'mount -o remount,bind,rw /proc/sys && echo "/proc/sys remounted"',
        `umount ${mask} && echo "${mask} unmasked"`,
        'grep -E " /sys | /proc/sys " /proc/self/mountinfo',
      ].join('\n')]);
      assert.doesNotMatch(r.stdout, /mounted|remounted|unmasked/, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, / \/sys ro,/);
      assert.match(r.stdout, / \/proc\/sys ro,/);
    });

    test('--privileged: nothing is masked, and /proc/sys, /sys and the cgroup view are writable', async () => {
      const r = await engine.runContainer(['--privileged', ...LIMITS], ROOTFS, ['sh', '-c', PROBE]);
      const seen = parse(r);
      for (const path of MASKED_PATHS) {
        const host = onTheHost(path);
        if (host.kind !== 'missing') assert.match(seen.masks.get(path)!, /^(dir|file) (proc|sysfs) /, `${path} is the kernel's own`);
      }
      assert.ok(hasLine(seen, /^sysctl written$/), 'a sysctl takes a write');
      assert.match(seen.mounts.get('/sys')!, /^rw,/, '/sys is writable');
      assert.ok(hasLine(seen, /^pids\.max written$/), 'the cgroup view is writable');
    });
  });
}
