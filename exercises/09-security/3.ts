/** Exercise 09-3: a seccomp allow-list. The profile allow-echo.json, in the copy's folder,
 *  refuses every syscall it does not name, and names only what `sh -c 'echo hi'` needs (and
 *  the child stage between loading the filter and execve). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineExercise, notYet } from '../lib.ts';
import { importDemoImage } from './escape.ts';

const PROFILE = 'allow-echo.json';

interface Profile {
  defaultAction?: string;
  syscalls?: Array<{ names?: string[]; name?: string; action?: string }>;
}

export default defineExercise({
  title: 'Allow-list',
  async check(copy) {
    const file = join(copy.dir, PROFILE);
    if (!existsSync(file)) notYet(`there is no ${PROFILE} in ${copy.dir}`);
    let profile: Profile;
    try {
      profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    } catch (err) {
      notYet(`${PROFILE} is not JSON: ${(err as Error).message}`);
    }
    if (profile.defaultAction !== 'SCMP_ACT_ERRNO') notYet(`${PROFILE} has defaultAction ${JSON.stringify(profile.defaultAction)}, not "SCMP_ACT_ERRNO": it is not an allow-list`);
    const allowed = [...new Set((profile.syscalls ?? []).filter((rule) => rule.action === 'SCMP_ACT_ALLOW').flatMap((rule) => rule.names ?? (rule.name ? [rule.name] : [])))];

    await importDemoImage(copy, 'demo/busybox:1');
    const opt = `seccomp=${file}`;
    const echo = await copy.run(['run', '--rm', '--security-opt', opt, 'demo/busybox:1', 'sh', '-c', 'echo hi'], { timeout: 60_000 });
    if (echo.stdout.trim() !== 'hi') notYet(`with ${PROFILE}, sh -c 'echo hi' printed ${JSON.stringify(echo.stdout.trim())} (exit code ${echo.code}): ${echo.stderr.trim().split('\n').at(-1) ?? ''}`);
    const more = await copy.run(['run', '--rm', '--security-opt', opt, 'demo/busybox:1', 'sh', '-c', 'echo hi; mkdir /made && echo made'], { timeout: 60_000 });
    if (more.stdout.includes('made')) notYet(`with ${PROFILE}, sh could also run mkdir: the profile allows more than echo needs (${allowed.length} syscalls)`);
    const refused = more.stderr.trim().split('\n').at(-1) ?? '';
    return `${PROFILE} allows ${allowed.length} syscalls (${allowed.join(', ')}): echo hi prints hi, and mkdir does not run (${refused})`;
  },
});
