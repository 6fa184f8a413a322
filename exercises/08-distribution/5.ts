/** Exercise 08-5: `commit --cmd '["…"]'` sets the new image's Cmd, as docker's
 *  `commit --change 'CMD [...]'` does: the image then runs that command when none is given. */
import { defineExercise, notYet, ROOTFS } from '../lib.ts';
import { step } from './common.ts';

const CMD = ['cat', '/srv/index.html'];

export default defineExercise({
  title: 'A new Cmd',
  async check(copy) {
    await step(copy, ['import', ROOTFS, 'demo/app:v1']);
    await step(copy, ['run', '--name', 'c5', 'demo/app:v1', 'sh', '-c', 'mkdir -p /srv && echo hello > /srv/index.html']);
    await step(copy, ['commit', '--cmd', JSON.stringify(CMD), 'c5', 'demo/app:cmd']);
    const cmd = (JSON.parse(await step(copy, ['inspect', 'demo/app:cmd'])) as { config: { config: { Cmd?: string[] } } }).config.config.Cmd;
    if (JSON.stringify(cmd) !== JSON.stringify(CMD)) notYet(`the committed image's Cmd is ${JSON.stringify(cmd)}, not ${JSON.stringify(CMD)}`);
    const run = await copy.run(['run', '--rm', 'demo/app:cmd'], { timeout: 60_000 });
    if (run.stdout.trim() !== 'hello') notYet(`run --rm demo/app:cmd printed ${JSON.stringify(run.stdout.trim())} (exit code ${run.code}), not "hello"`);
    return `the image's Cmd is ${JSON.stringify(cmd)}, and run with no command prints "hello"`;
  },
});
