/** Exercise 06-1: state.json is only a claim. A forged one that names a host process with its
 *  right start time passes the PID check; the container's cgroup is what tells it apart. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet } from '../lib.ts';
import { IMAGE, importImage, inspect, startTimeOf, statusOf, waitUntil } from './common.ts';

export default defineExercise({
  title: 'Who decides "running"?',
  async check(copy) {
    await importImage(copy);
    const ran = await copy.run(['run', '--name', 'gone', IMAGE, 'true'], { timeout: 60_000 });
    if (ran.code !== 0) notYet(`run --name gone ${IMAGE} true exited with ${ran.code}: ${ran.stderr.trim()}`);
    const { dir } = await inspect(copy, 'gone');

    // A host process that has nothing to do with the container.
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    copy.defer(() => sleeper.kill('SIGKILL'));
    const pid = sleeper.pid!;
    await waitUntil(() => startTimeOf(pid) !== undefined, 2000);
    const startTime = startTimeOf(pid);
    const statePath = join(dir, 'state.json');
    const recorded = JSON.parse(readFileSync(statePath, 'utf8')) as { cgroupId?: string };
    writeFileSync(statePath, JSON.stringify({ status: 'running', pid, startTime, cgroupId: recorded.cgroupId }));

    const status = await statusOf(copy, 'gone');
    await copy.run(['stop', '-t', '1', 'gone'], { timeout: 30_000 });
    if (startTimeOf(pid) !== startTime) {
      notYet(`stop -t 1 gone killed the host's sleep (PID ${pid}) that the forged state.json named (ps -a said "${status}"): a PID and its start time are not enough`);
    }
    if (/^Up/.test(status)) notYet(`ps -a says "${status}" for a container whose PID is a host process`);
    return `with a forged state.json naming the host's sleep, ps -a says "${status}" and stop left the sleep alive: its PID is not in the container's cgroup`;
  },
});
