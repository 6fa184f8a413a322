/** Chapter 03 · the docker-style limit values (units.ts, from chapter 03 on): what is accepted,
 *  what it means in bytes, CPUs and tasks, and that every bad value is refused with a clear
 *  one-line UserError. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserError } from '../lib/errors.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';

const MiB = 1024 * 1024;

/** Assert that `parse(input)` throws a UserError of one line matching `pattern`. */
function assertRefused(parse: (text: string) => number, input: string, pattern: RegExp): void {
  assert.throws(
    () => parse(input),
    (err: unknown) => err instanceof UserError && !err.message.includes('\n') && pattern.test(err.message),
    `${JSON.stringify(input)} should be refused with ${pattern}`,
  );
}

for (const ch of chaptersFrom('03')) {
  const { formatBytes, parseCpus, parseMemory, parsePidsLimit } = await chapterModule<typeof import('../chapters/03-cgroups/units.ts')>(ch, 'units.ts');

  describe(`chapter ${ch}`, () => {
    test('parseMemory: units are powers of 1024, any case, with or without b / ib', () => {
      const good: [string, number][] = [
        ['64m', 64 * MiB],
        ['64M', 64 * MiB],
        ['64mb', 64 * MiB],
        ['64MiB', 64 * MiB],
        ['64 m', 64 * MiB],
        ['32768k', 32 * MiB],
        ['32768KB', 32 * MiB],
        ['1g', 1024 * MiB],
        ['1GB', 1024 * MiB],
        ['1.5g', 1536 * MiB],
        ['67108864', 64 * MiB],
        ['67108864b', 64 * MiB],
        ['6m', 6 * MiB],
      ];
      for (const [input, bytes] of good) assert.equal(parseMemory(input), bytes, input);
    });

    test('parseMemory: bad values and values under 6 MiB are refused', () => {
      for (const input of ['abc', '-1', '1x', '', '  ', 'm', '64mm', '1.2.3m', '0x10m']) {
        assertRefused(parseMemory, input, /^invalid memory limit ".*": use a number of bytes/);
      }
      for (const input of ['0', '0m', '5m', '6291455', '4k']) {
        assertRefused(parseMemory, input, /below the minimum of 6 MiB \(docker's minimum too\)/);
      }
      assertRefused(parseMemory, '99999999999g', /too large/);
    });

    test('parseCpus: decimal CPUs from 0.01 up to what the host has', () => {
      assert.equal(parseCpus('0.5', 2), 0.5);
      assert.equal(parseCpus('.25', 2), 0.25);
      assert.equal(parseCpus('2', 2), 2);
      assert.equal(parseCpus('0.01', 1), 0.01);
      for (const input of ['abc', '-1', '', '1x', '1/2']) assertRefused((t) => parseCpus(t, 2), input, /^invalid --cpus ".*": use a decimal number from 0.01 to 2 \(this machine has 2 CPUs\)/);
      for (const input of ['0', '0.001', '2.5', '3']) assertRefused((t) => parseCpus(t, 2), input, /out of range: use from 0.01 to 2/);
    });

    test('parseCpus: by default the limit is the number of CPUs of this machine', async () => {
      const { availableParallelism } = await import('node:os');
      const host = availableParallelism();
      assert.equal(parseCpus(String(host)), host);
      assertRefused(parseCpus, String(host + 1), new RegExp(`this machine has ${host} CPU`));
    });

    test('parsePidsLimit: a positive whole number, or -1 for no limit', () => {
      assert.equal(parsePidsLimit('50'), 50);
      assert.equal(parsePidsLimit('1'), 1);
      assert.equal(parsePidsLimit('-1'), -1);
      assert.equal(parsePidsLimit('4194304'), 4194304);
      for (const input of ['0', '-2', 'abc', '', '1.5', '1x', '4194305']) {
        assertRefused(parsePidsLimit, input, /^invalid --pids-limit ".*": use a whole number from 1 to 4194304, or -1 for no limit$/);
      }
    });

    test('formatBytes: the largest binary unit, at most one decimal', () => {
      assert.equal(formatBytes(32 * MiB), '32 MiB');
      assert.equal(formatBytes(6 * MiB), '6 MiB');
      assert.equal(formatBytes(1536 * MiB), '1.5 GiB');
      assert.equal(formatBytes(1536), '1.5 KiB');
      assert.equal(formatBytes(512), '512 B');
      assert.equal(formatBytes(0), '0 B');
    });
  });
}
