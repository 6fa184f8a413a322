/** Test helper: a time limit on every test, loaded by `npm run check` before the test files
 *  (node --import). A learner's wrong answer often hangs rather than fails: a container that
 *  outlives its engine keeps the engine's output open, and a test waiting for it would wait
 *  forever. Node 20's --test-timeout limits a whole file and then kills it, leaving its
 *  containers behind; this limits each test and stops what it waits on instead.
 *
 *  How: test() and it() of node:test are replaced, for the test files that import them after
 *  this module, by versions that race each test against a timer (NUTSHELL_TEST_TIMEOUT
 *  seconds, default 300). When the timer wins, the engines still running are killed with
 *  whatever holds their output (tests/helpers/chapter.ts), and the test fails saying so. Only
 *  tests are limited, not suites (describe), whose time is the sum of their tests'. */
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

type TestFn = (...args: unknown[]) => unknown;

export const TEST_TIMEOUT_SECONDS = Number(process.env.NUTSHELL_TEST_TIMEOUT ?? 300);

/** With --bail, `npm run check` names a file here: a failed test writes it, and every test
 *  after that, in this file or a later one, is skipped, so that a wrong answer is found fast. */
const BAIL_FILE = process.env.NUTSHELL_CHECK_BAIL;

// A test file that starts after the first failure is not even loaded.
if (BAIL_FILE && existsSync(BAIL_FILE)) process.exit(0);

/** `fn` raced against the time limit. A test written with a done callback is left as it is. */
function limited(fn: unknown): unknown {
  if (typeof fn !== 'function' || fn.length > 1) return fn;
  return function (this: unknown, context: { skip(message: string): void }) {
    if (BAIL_FILE && existsSync(BAIL_FILE)) return context.skip('an earlier test failed, and --bail stops at the first failure');
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(async () => {
        // Loaded only now: importing it first would load node:test before test() is replaced.
        const hung = (await import('./chapter.ts')).stopHungEngines();
        const why = hung.length ? `: ${hung.join('; ')}` : ' (on a slow machine, give it more: NUTSHELL_TEST_TIMEOUT=<seconds>)';
        reject(new Error(`the test did not finish within ${TEST_TIMEOUT_SECONDS} s${why}`));
      }, TEST_TIMEOUT_SECONDS * 1000);
    });
    const body = Promise.resolve().then(() => (fn as TestFn).call(this, context));
    const raced = Promise.race([body, limit]).finally(() => clearTimeout(timer));
    if (BAIL_FILE) raced.catch(() => writeFileSync(BAIL_FILE, ''));
    return raced;
  };
}

const nodeTest = createRequire(import.meta.url)('node:test') as Record<string, TestFn>;
for (const name of ['test', 'it'] as const) {
  const original = nodeTest[name]!;
  const withLimit = (...args: unknown[]) => original(...args.map((arg, i) => (i === args.length - 1 ? limited(arg) : arg)));
  nodeTest[name] = Object.assign(withLimit, original);
}
syncBuiltinESMExports();
