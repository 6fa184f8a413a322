/** Exercise 03-4: --stats says how many CPUs the container kept busy on average: its CPU time
 *  divided by the time the command ran. Under --cpus 1.5, one busy loop stays at or below 1 CPU
 *  (one thread runs on one CPU at a time); two loops may reach 1.5, never more. Only these upper
 *  bounds are checked: on a loaded machine the loops get less. */
import { stripVTControlCharacters } from 'node:util';
import { defineExercise, notYet, ROOTFS, type Copy } from '../lib.ts';

const ONE_LOOP = 'while :; do :; done & sleep 2; kill $!';
const TWO_LOOPS = 'while :; do :; done & a=$!; while :; do :; done & b=$!; sleep 2; kill $a $b';

/** Run the script under --cpus 1.5 --stats; the average it reports, checked against the CPU time
 *  and the time it reports alongside. */
async function averageCpus(copy: Copy, script: string): Promise<number> {
  const started = Date.now();
  const r = await copy.run(['run', '--stats', '--cpus', '1.5', ROOTFS, 'sh', '-c', script], { timeout: 60_000 });
  const outside = (Date.now() - started) / 1000;
  const line = stripVTControlCharacters(r.stderr).split('\n').find((l) => l.includes('used:')) ?? '';
  if (r.code !== 0) notYet(`run --stats --cpus 1.5 … exited with ${r.code}: ${r.stderr.trim()}`);
  const match = /CPU ([\d.]+) s in ([\d.]+) s = ([\d.]+) CPUs/.exec(line);
  if (!match) notYet(`the --stats line reads "${line.trim()}": expected "CPU <time> s in <time> s = <average> CPUs"`);
  const [cpuSeconds, seconds, average] = match.slice(1).map(Number) as [number, number, number];
  if (seconds < 1.95 || seconds > outside) notYet(`--stats says the command ran ${seconds} s: it slept 2 s, and the whole run took ${outside.toFixed(1)} s`);
  if (Math.abs(average - cpuSeconds / seconds) > 0.02) notYet(`--stats says ${average} CPUs, but ${cpuSeconds} s of CPU in ${seconds} s is ${(cpuSeconds / seconds).toFixed(2)}`);
  return average;
}

export default defineExercise({
  title: 'How many CPUs on average',
  async check(copy) {
    const one = await averageCpus(copy, ONE_LOOP);
    if (one > 1.05) notYet(`one busy loop averaged ${one} CPUs: a single thread cannot use more than one CPU at a time`);
    const two = await averageCpus(copy, TWO_LOOPS);
    if (two > 1.6) notYet(`two busy loops averaged ${two} CPUs under --cpus 1.5: the quota allows 1.5`);
    return `under --cpus 1.5, one busy loop averaged ${one} CPUs and two loops ${two}: one loop is one thread, which runs on one CPU at a time, so it never reaches 1.5`;
  },
});
