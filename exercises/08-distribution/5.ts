/** Exercise 08-5: `commit --cmd '["…"]'` sets the new image's Cmd, as docker's
 *  `commit --change 'CMD [...]'` does: the image then runs that command when none is given. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';

const CMD = ['cat', '/srv/index.html'];

export default defineExercise({
  title: 'A new Cmd',
  async check(copy) {
    const imported = await copy.run(['import', ROOTFS, 'demo/app:v1'], { timeout: 60_000 });
    if (imported.code !== 0) notYet(`import failed with ${imported.code}: ${imported.stderr.trim()}`);
    const ran = await copy.run(['run', '--name', 'c5', 'demo/app:v1', 'sh', '-c', 'mkdir -p /srv && echo hello > /srv/index.html'], { timeout: 60_000 });
    if (ran.code !== 0) notYet(`run --name c5 failed with ${ran.code}: ${ran.stderr.trim()}`);
    const commit = await copy.run(['commit', '--cmd', JSON.stringify(CMD), 'c5', 'demo/app:cmd'], { timeout: 60_000 });
    if (commit.code !== 0) notYet(`commit --cmd '${JSON.stringify(CMD)}' c5 demo/app:cmd failed with ${commit.code}: ${commit.stderr.trim().split('\n')[0]}`);
    const inspect = await copy.run(['inspect', 'demo/app:cmd'], { timeout: 30_000 });
    const cmd = (JSON.parse(inspect.stdout) as { config: { config: { Cmd?: string[] } } }).config.config.Cmd;
    if (JSON.stringify(cmd) !== JSON.stringify(CMD)) notYet(`the committed image's Cmd is ${JSON.stringify(cmd)}, not ${JSON.stringify(CMD)}`);
    const run = await copy.run(['run', '--rm', 'demo/app:cmd'], { timeout: 60_000 });
    if (run.stdout.trim() !== 'hello') notYet(`run --rm demo/app:cmd printed ${JSON.stringify(run.stdout.trim())} (exit code ${run.code}), not "hello"`);
    return `the image's Cmd is ${JSON.stringify(cmd)}, and run with no command prints "hello"`;
  },
});
