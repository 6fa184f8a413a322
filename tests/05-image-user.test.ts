/** Chapter 05 on · the image's user, as runc sets it up: uid and gid from the image's
 *  /etc/passwd, supplementary groups from every /etc/group line that lists the user (what
 *  umoci writes into config.json as additionalGids, and runc gives setgroups(2)), and HOME from
 *  the passwd entry — `/` for a uid without one — unless the image's Env sets HOME itself. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertOneLineError, engineFor, ROOTFS, tempDir } from './helpers/chapter.ts';
import { chaptersFrom } from './helpers/ladder.ts';

/** A layer on top of busybox that replaces its /etc/passwd and /etc/group. */
const users = join(tempDir(), 'users');
mkdirSync(join(users, 'etc'), { recursive: true });
writeFileSync(join(users, 'etc/passwd'), [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000::/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
  '',
].join('\n'));
writeFileSync(join(users, 'etc/group'), [
  'root:x:0:',
  'wheel:x:10:root,app',
  'app:x:1000:',
  'audio:x:29:app',
  'staff:x:50:nobody,app',
  'other:x:60:root',
  '',
].join('\n'));
const LAYERS = [ROOTFS, users];
const SHOW = ['sh', '-c', 'echo "$(id -u) $(id -g) [$(id -G)] $HOME"'];

for (const ch of chaptersFrom('05')) {
  describe(`chapter ${ch}`, () => {
    const engine = engineFor(ch);
    const as = async (options: string[]) => {
      const r = await engine.runContainer(options, LAYERS, SHOW);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };

    test('-u app: uid, gid, the groups that list app, and HOME from its passwd line', async () => {
      assert.equal(await as(['-u', 'app']), '1000 1000 [1000 10 29 50] /home/app');
      assert.equal(await as(['-u', '1000']), '1000 1000 [1000 10 29 50] /home/app', 'a uid with an entry is that entry');
    });

    test('no user: root with root\'s groups and HOME; an explicit group gives no extra groups', async () => {
      assert.equal(await as([]), '0 0 [0 10 60] /root');
      assert.equal(await as(['-u', 'app:staff']), '1000 50 [50] /home/app');
      assert.equal(await as(['-u', '1000:29']), '1000 29 [29] /home/app');
    });

    test('a uid with no passwd entry: gid 0, no extra groups, HOME=/', async () => {
      assert.equal(await as(['-u', '4242']), '4242 0 [0] /');
      assert.equal(await as(['-u', '4242:77']), '4242 77 [77] /');
    });

    test('HOME from the environment wins over the passwd entry', async () => {
      assert.equal(await as(['-u', 'app', '-e', 'HOME=/srv']), '1000 1000 [1000 10 29 50] /srv');
    });

    test('a user or group the image does not have: one line', async () => {
      assertOneLineError(await engine.runContainer(['-u', 'nosuch'], LAYERS, ['true']), /user "nosuch" not found/);
      assertOneLineError(await engine.runContainer(['-u', 'app:nosuch'], LAYERS, ['true']), /group "nosuch" not found/);
    });
  });
}
