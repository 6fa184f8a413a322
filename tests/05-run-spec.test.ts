/** Chapter 05 · from an image's config to the container's process (runSpec, image.ts): docker's
 *  rules for Entrypoint, Cmd and --entrypoint, case by case, with what docker runs for each. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserError } from '../lib/errors.ts';
import { chapterModule, chaptersFrom } from './helpers/ladder.ts';

/** [image Entrypoint, image Cmd, command line, --entrypoint] → the argv docker runs. */
const CASES: { entrypoint?: string[]; cmd?: string[]; command: string[]; override?: string[]; argv: string[] }[] = [
  { cmd: ['sh'], command: [], argv: ['sh'] },
  { cmd: ['sh'], command: ['ls', '-l'], argv: ['ls', '-l'] },
  { entrypoint: ['/init'], cmd: ['--serve'], command: [], argv: ['/init', '--serve'] },
  { entrypoint: ['/init'], cmd: ['--serve'], command: ['--check'], argv: ['/init', '--check'] },
  // --entrypoint replaces the image's, and its Cmd goes with it.
  { entrypoint: ['/init'], cmd: ['--serve'], command: [], override: ['/bin/echo'], argv: ['/bin/echo'] },
  { entrypoint: ['/init'], cmd: ['--serve'], command: ['hi'], override: ['/bin/echo'], argv: ['/bin/echo', 'hi'] },
  { cmd: ['sh'], command: ['-c', 'true'], override: ['/bin/sh'], argv: ['/bin/sh', '-c', 'true'] },
  // --entrypoint "": no entrypoint at all, and no Cmd either.
  { entrypoint: ['/init'], cmd: ['--serve'], command: ['ls'], override: [''], argv: ['ls'] },
];

for (const ch of chaptersFrom('05')) {
  const { runSpec } = await chapterModule<typeof import('../chapters/05-images/image.ts')>(ch, 'image.ts');

  describe(`chapter ${ch}`, () => {
    test('Entrypoint, Cmd, the command line and --entrypoint make the argv docker would run', () => {
      for (const { entrypoint, cmd, command, override, argv } of CASES) {
        const config = { config: { Entrypoint: entrypoint, Cmd: cmd } };
        assert.deepEqual(runSpec(config as never, command, { entrypoint: override }).argv, argv, JSON.stringify({ entrypoint, cmd, command, override }));
      }
    });

    test('no command at all is one clear line, which says where the command went', () => {
      const refused = (config: object, override: string[] | undefined, pattern: RegExp) =>
        assert.throws(() => runSpec(config as never, [], { entrypoint: override }), (err: unknown) => err instanceof UserError && pattern.test(err.message) && !err.message.includes('\n'));
      refused({ config: {} }, undefined, /^no command: .*Entrypoint or Cmd/);
      refused({ config: { Entrypoint: ['/init'], Cmd: ['--serve'] } }, [''], /^no command: .*--entrypoint ""/);
    });
  });
}
