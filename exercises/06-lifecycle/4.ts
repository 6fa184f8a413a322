/** Exercise 06-4: `run -d --rm` of a command that ends at once. If the container has run and
 *  been removed before `run -d` looks, the missing state must not read as "the set-up failed".
 *  The check makes the race happen every time: it pauses `run -d` (SIGSTOP) while the container
 *  starts, and lets it go on (SIGCONT) once the monitor has ended. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chapterCommand, chapterProgram } from '../../scripts/chapters.ts';
import { defineExercise, notYet } from '../lib.ts';
import { IMAGE, importImage, startTimeOf, waitUntil } from './common.ts';

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export default defineExercise({
  title: 'A race in run -d',
  async check(copy) {
    await importImage(copy);
    const [node, ...argv] = chapterCommand(chapterProgram(copy.chapter, copy.dir));
    const engine = spawn(node!, [...argv, 'run', '-d', '--rm', IMAGE, 'true'], {
      env: copy.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    engine.stdout.on('data', (d: Buffer) => (stdout += d));
    engine.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number>((done) => engine.once('exit', (code, signal) => done(code ?? (signal ? 128 : 0))));
    copy.defer(() => engine.kill('SIGKILL'));

    // Pause run -d once the monitor has started the container's child stage: the monitor has
    // its configuration by then, and run -d has not yet seen the container run.
    let monitor: number | undefined;
    const paused = await waitUntil(() => {
      monitor = childrenOf(engine.pid!).find((m) => childrenOf(m).length > 0);
      if (monitor === undefined) return engine.exitCode !== null;
      process.kill(engine.pid!, 'SIGSTOP');
      return true;
    }, 30_000);
    if (!paused || monitor === undefined) throw new Error(`could not pause run -d while its container started (it said: ${stderr.trim() || stdout.trim()})`);
    const monitorPid = monitor;
    const ended = await waitUntil(() => startTimeOf(monitorPid) === undefined, 30_000); // its exit, or its zombie
    process.kill(engine.pid!, 'SIGCONT');
    if (!ended) throw new Error(`the monitor (PID ${monitorPid}) of "run -d --rm ${IMAGE} true" did not end within 30 s`);
    const code = await Promise.race([exited, new Promise<number>((done) => setTimeout(() => done(-1), 30_000))]);
    if (code === -1) notYet('run -d did not return within 30 s of its container ending');
    if (code !== 0) {
      notYet(`run -d exited with ${code} (${stderr.trim().split('\n').pop()}) for a container that ran "true" and was removed: it took "already gone" for "the set-up failed"`);
    }
    if (!/^[0-9a-f]{12}$/.test(stdout.trim())) notYet(`run -d exited 0 but printed "${stdout.trim()}", expected the container's id`);
    return `run -d printed the id ${stdout.trim()} and exited 0, although the container had run and been removed before it looked`;
  },
});
