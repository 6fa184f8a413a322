/** Chapter 05 · image references: parsed as docker parses them, bad ones refused in one line.
 *  reference.ts is tested in every chapter from 05 on. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserError } from '../lib/errors.ts';
import type { Reference } from '../chapters/05-images/reference.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

const GOOD: [string, Reference][] = [
  ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
  ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }],
  ['library/busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }],
  ['someone/tool', { registry: 'docker.io', repository: 'someone/tool', tag: 'latest' }],
  ['docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
  ['index.docker.io/library/alpine:3', { registry: 'docker.io', repository: 'library/alpine', tag: '3' }],
  ['ghcr.io/org/app:tag', { registry: 'ghcr.io', repository: 'org/app', tag: 'tag' }],
  ['ghcr.io/org/team/app', { registry: 'ghcr.io', repository: 'org/team/app', tag: 'latest' }],
  [`127.0.0.1:5000/repo@${DIGEST}`, { registry: '127.0.0.1:5000', repository: 'repo', digest: DIGEST }],
  [`127.0.0.1:5000/repo:v1@${DIGEST}`, { registry: '127.0.0.1:5000', repository: 'repo', tag: 'v1', digest: DIGEST }],
  ['localhost/x', { registry: 'localhost', repository: 'x', tag: 'latest' }],
  ['localhost:5000/a/b:c', { registry: 'localhost:5000', repository: 'a/b', tag: 'c' }],
  ['[::1]:5000/app', { registry: '[::1]:5000', repository: 'app', tag: 'latest' }],
  ['Registry.Example.com/x_y.z__w-v---u', { registry: 'Registry.Example.com', repository: 'x_y.z__w-v---u', tag: 'latest' }],
  // "localhost" is a host only when spelled alone: "localhostx" is a Docker Hub user.
  ['localhostx/app', { registry: 'docker.io', repository: 'localhostx/app', tag: 'latest' }],
];

const BAD: [string, RegExp][] = [
  ['', /it is empty/],
  ['UPPER/case', /must be lowercase/],
  ['busybox:UPPER/x', /must be lowercase|not a valid/],
  ['a:b:c', /"a:b" is not a valid name component/],
  ['busybox@sha256:abc', /not a valid digest/],
  [`busybox@md5:${'a'.repeat(32)}`, /not a valid digest/],
  [`busybox@sha256:${'A'.repeat(64)}`, /not a valid digest/],
  ['busybox:', /"" is not a valid tag/],
  ['busybox:-x', /"-x" is not a valid tag/],
  ['ghcr.io/', /repository name is empty/],
  ['a//b', /"" is not a valid name component/],
  ['x-/y', /"x-" is not a valid name component/],
  ['ab'.repeat(32), /image ID/],
  ['bad_host.io:port/x', /not a valid registry host/],
];

for (const ch of chaptersFrom('05')) {
  const { formatReference, parseReference, registryApiHost } = await chapterModule<typeof import('../chapters/05-images/reference.ts')>(ch, 'reference.ts');

  describe(`chapter ${ch}`, () => {
    for (const [input, expected] of GOOD) {
      test(`parse ${input}`, () => {
        assert.deepEqual(parseReference(input), expected);
      });
    }

    for (const [input, message] of BAD) {
      test(`refuse ${JSON.stringify(input)} in one line`, () => {
        assert.throws(
          () => parseReference(input),
          (err: unknown) => err instanceof UserError && message.test(err.message) && !err.message.includes('\n') && err.message.includes(`"${input}"`),
        );
      });
    }

    test('formatReference gives the full form, and parsing it again gives the same reference', () => {
      for (const [input, expected] of GOOD) {
        const text = formatReference(expected);
        assert.deepEqual(parseReference(text), expected, `${input} → ${text}`);
      }
      assert.equal(formatReference(parseReference('busybox')), 'docker.io/library/busybox:latest');
      assert.equal(formatReference(parseReference(`localhost:5000/r@${DIGEST}`)), `localhost:5000/r@${DIGEST}`);
    });

    test('the API of docker.io is served by registry-1.docker.io; other registries serve their own', () => {
      assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
      assert.equal(registryApiHost('ghcr.io'), 'ghcr.io');
      assert.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
    });
  });
}
