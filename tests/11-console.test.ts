/** Chapter 11 · a container's console, held by its monitor (console.ts): stdout and stderr in two
 *  files that `logs` and followOutput() give back apart; `run -d -t`, whose terminal is served on
 *  console.sock and resized from the host; `run -d -i`, whose stdin is fed from console.sock and
 *  ends when a client ends its side; and exec with a client's streams (execWithStreams), with
 *  pipes and with a terminal. Driven through the chapter's own command line, with a temp root. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildRootfs, PROJECT_ROOT } from '../scripts/build-rootfs.ts';
import { assertOneLineError, engineFor, run, tempDir } from './helpers/chapter.ts';
import { chapterModule, chapterModuleUrl, chaptersFrom } from './helpers/ladder.ts';

type Console = typeof import('../chapters/11-daemon/console.ts');
type Storage = typeof import('../chapters/11-daemon/storage.ts');
type State = typeof import('../chapters/11-daemon/state.ts');

/** Everything a socket sends, and a way to wait for a pattern in it. */
function reader(socket: Socket) {
  let text = '';
  let ended = false;
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  socket.on('end', () => (ended = true));
  const waitFor = async (pattern: RegExp, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!pattern.test(text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; the console showed:\n${text}`);
      await sleep(20);
    }
  };
  const waitForEnd = async (ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!ended) {
      if (Date.now() > deadline) throw new Error(`the console did not end; it showed:\n${text}`);
      await sleep(20);
    }
  };
  return { waitFor, waitForEnd, text: () => text };
}

for (const ch of chaptersFrom('11')) {
  const engine = engineFor(ch);
  const { env } = engine;
  const image = (await engine.rootfsArgs(buildRootfs()))[0]!;
  const consoleModule = await chapterModule<Console>(ch, 'console.ts');
  const storage = await chapterModule<Storage>(ch, 'storage.ts');
  const state = await chapterModule<State>(ch, 'state.ts');

  /** Our modules read NUTSHELL_ROOT: the engine's own. */
  const withRoot = <T>(f: () => T): T => {
    const before = process.env.NUTSHELL_ROOT;
    process.env.NUTSHELL_ROOT = engine.root;
    try {
      return f();
    } finally {
      process.env.NUTSHELL_ROOT = before;
    }
  };
  const dirsOf = (ref: string) => withRoot(() => storage.findContainerDirs(ref));
  const runDetached = async (options: string[], command: string[]) => {
    const r = await run(ch, ['run', '-d', '--network', 'none', ...options, image, ...command], { env });
    assert.equal(r.code, 0, r.stderr);
    return dirsOf(r.stdout.trim());
  };
  /** Until the monitor has recorded the end, exit code and all: readState() says "exited" as
   *  soon as the process is gone, a moment before that record (a full run read no exit code there once). */
  const waitForExit = async (dirs: ReturnType<typeof dirsOf>, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (state.readRecordedState(dirs).status !== 'exited') {
      if (Date.now() > deadline) throw new Error('the container did not exit');
      await sleep(50);
    }
  };

  describe(`chapter ${ch}`, () => {
    test('stdout and stderr are kept apart: logs gives each back on its own stream, followOutput too', async () => {
      const dirs = await runDetached([], ['sh', '-c', 'echo out; echo err >&2; sleep 0.5; echo out2; echo err2 >&2']);
      assert.ok(dirs.errorLogFile.endsWith('stderr.log'));
      const chunks: [number, string][] = [];
      // Following from the start: ends by itself once the container has, with all it wrote.
      await consoleModule.followOutput(dirs, { from: 'start', follow: true, onChunk: (stream, chunk) => void chunks.push([stream, chunk.toString()]) });
      const streamText = (n: number) => chunks.filter(([s]) => s === n).map(([, t]) => t).join('');
      assert.equal(streamText(1), 'out\nout2\n');
      assert.equal(streamText(2), 'err\nerr2\n');
      assert.equal(state.readState(dirs).status, 'exited');
      const logs = await run(ch, ['logs', dirs.spec.id], { env });
      assert.equal(logs.stdout, 'out\nout2\n');
      assert.equal(logs.stderr, 'err\nerr2\n');
      // From the end, not following: nothing.
      const none: Buffer[] = [];
      await consoleModule.followOutput(dirs, { from: 'end', follow: false, onChunk: (_, chunk) => void none.push(chunk) });
      assert.deepEqual(none, []);
    });

    test('followOutput from the end sees only what comes next, and stops when aborted', async () => {
      const dirs = await runDetached([], ['sh', '-c', 'echo early; sleep 1; while true; do echo late; sleep 0.1; done']);
      await sleep(500);
      let text = '';
      const abort = new AbortController();
      const following = consoleModule.followOutput(dirs, { from: 'end', follow: true, signal: abort.signal, onChunk: (_, chunk) => void (text += chunk) });
      while (!text.includes('late')) await sleep(50);
      abort.abort();
      await following;
      assert.ok(!text.includes('early'), text);
      assert.equal((await run(ch, ['rm', '-f', dirs.spec.id], { env })).code, 0);
    });

    test('a failed set-up says why in one line, from the stderr log', async () => {
      // Refused by the child stage as it builds the container: the monitor's stderr has it.
      assertOneLineError(await run(ch, ['run', '-d', '--network', 'none', '-v', `${tempDir()}:/bin/sh`, image, 'true'], { env }), /volume target \/bin\/sh passes through a symlink: refused/);
    });

    test('run -d -t: the monitor serves the terminal on console.sock, replays what came before, and is resized from the host', async () => {
      const dirs = await runDetached(['-t'], ['sh', '-c', 'echo before-we-came; exec sh']);
      const socket = await consoleModule.connectConsole(dirs);
      assert.equal(statSync(dirs.consoleSocket).mode & 0o777, 0o600);
      const out = reader(socket);
      await out.waitFor(/before-we-came/); // printed before we connected: replayed
      assert.match(state.readState(dirs).terminal ?? '', /^\/dev\/pts\/\d+$/);
      consoleModule.resizeTerminal(dirs, 33, 101);
      socket.write('stty size; tty; echo sum=$((40+2))\r');
      await out.waitFor(/33 101/);
      await out.waitFor(/\/dev\/pts\/\d+/);
      await out.waitFor(/sum=42/);
      // A second client sees the output from now on.
      const second = await consoleModule.connectConsole(dirs);
      const out2 = reader(second);
      second.write('echo from-second\r');
      await out.waitFor(/from-second/);
      await out2.waitFor(/from-second/);
      socket.write('exit\r');
      await out.waitForEnd();
      await waitForExit(dirs);
      assert.ok(!existsSync(dirs.consoleSocket), 'the socket goes with the container');
      const logs = await run(ch, ['logs', dirs.spec.id], { env });
      assert.match(logs.stdout, /sum=42/, 'the terminal\'s output is the log too');
      second.destroy();
    });

    test('run -d -t: a resize the moment the container runs reaches it, and hangs nothing up', async () => {
      // Watch for the state to say "running" while `run -d` is still starting it, and resize at
      // once: before the command has opened its terminal, most likely.
      const before = new Set(withRoot(() => storage.listContainers()).map((c) => c.spec.id));
      const started = run(ch, ['run', '-d', '--network', 'none', '-t', image, 'sh', '-c', 'sleep 0.5; stty size'], { env });
      let dirs: ReturnType<typeof dirsOf> | undefined;
      const deadline = Date.now() + 20_000;
      while (!dirs?.spec || state.readRecordedState(dirs).status !== 'running') {
        if (Date.now() > deadline) throw new Error('the container did not start');
        dirs = withRoot(() => storage.listContainers()).find((c) => !before.has(c.spec.id));
        await sleep(2);
      }
      consoleModule.resizeTerminal(dirs, 44, 120);
      assert.equal((await started).code, 0);
      await waitForExit(dirs);
      assert.equal(state.readState(dirs).exitCode, 0);
      assert.match((await run(ch, ['logs', dirs.spec.id], { env })).stdout, /^44 120\r?\n$/);
    });

    test('run -d -i: stdin is fed from console.sock, and ends when the client ends its side', async () => {
      const dirs = await runDetached(['-i'], ['sh', '-c', 'cat; echo cat-ended']);
      const socket = await consoleModule.connectConsole(dirs);
      socket.write('hello through the monitor\n');
      socket.end(); // shutdown(SHUT_WR): EOF for cat
      await waitForExit(dirs);
      const logs = await run(ch, ['logs', dirs.spec.id], { env });
      assert.equal(logs.stdout, 'hello through the monitor\ncat-ended\n');
      socket.destroy();
    });

    test('run -d without -i: stdin is /dev/null, and there is no console', async () => {
      const dirs = await runDetached([], ['sh', '-c', 'cat; echo done']);
      await waitForExit(dirs);
      assert.equal((await run(ch, ['logs', dirs.spec.id], { env })).stdout, 'done\n');
      await assert.rejects(consoleModule.connectConsole(dirs), /has no console/);
    });

    test('exec with a client\'s streams: pipes without -t, a terminal with -t', async () => {
      const dirs = await runDetached([], ['sleep', '60']);
      // execWithStreams starts a child stage, which re-executes the chapter's main.ts: in a
      // process of its own, whose stdio stands for the client's connection. A script file, not
      // -e: the child stage is started with our execArgv, and -e would be in it.
      const scripts = tempDir();
      const execScript = (tty: boolean, argv: string[], input?: string) => {
        const code = `
          import { execWithStreams } from ${JSON.stringify(chapterModuleUrl(ch, 'console.ts'))};
          import { findRunning } from ${JSON.stringify(chapterModuleUrl(ch, 'state.ts'))};
          import { detectCgroups } from ${JSON.stringify(chapterModuleUrl(ch, 'cgroups.ts'))};
          const { dirs, state } = findRunning(${JSON.stringify(dirs.spec.id)});
          const spec = { argv: ${JSON.stringify(argv)}, env: dirs.spec.env, workdir: dirs.spec.workdir, user: dirs.spec.user, security: dirs.spec.security };
          const exec = execWithStreams(state.pid, detectCgroups().open(state.cgroupId), spec, { tty: ${tty}, stdin: ${input === undefined ? 'undefined' : 'process.stdin'}, stdout: process.stdout, stderr: process.stderr });
          exec.resize(21, 77);
          process.exitCode = await exec.exitCode;`;
        const script = join(scripts, `exec-${Math.random().toString(36).slice(2)}.mjs`);
        writeFileSync(script, code);
        const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: PROJECT_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('close', () => clearTimeout(timer));
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.stdin.end(input ?? '');
        return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
      };
      const piped = await execScript(false, ['sh', '-c', 'read x; echo got $x; echo to-stderr >&2; exit 3'], 'abc\n');
      assert.equal(piped.code, 3, piped.stderr);
      assert.equal(piped.stdout, 'got abc\n');
      assert.equal(piped.stderr, 'to-stderr\n');
      const noInput = await execScript(false, ['sh', '-c', 'cat; echo eof-at-once']);
      assert.equal(noInput.stdout, 'eof-at-once\n', noInput.stderr);
      const onTerminal = await execScript(true, ['sh', '-c', 'stty size; tty; exit 5']);
      assert.equal(onTerminal.code, 5, onTerminal.stderr);
      assert.match(onTerminal.stdout, /21 77\r?\n/);
      assert.match(onTerminal.stdout, /\/dev\/pts\/\d+/);
      assert.equal((await run(ch, ['rm', '-f', dirs.spec.id], { env })).code, 0);
    });

    test('containers leave nothing running behind', () => {
      assert.deepEqual(engine.containerProcesses(), []);
      assert.ok(existsSync(join(engine.root, 'containers')));
    });
  });
}
