/** Tooling: how `npm run check` reports, for a learner rather than for CI (a node:test
 *  reporter: node --test-reporter=./scripts/check-reporter.ts).
 *    ✓ chapter 02 › the hostname inside is --hostname, and the host keeps its own   (2.1 s)
 *    ✗ chapter 02 › a container does not outlive a killed engine   (300.0 s)
 *        the test did not finish within 300 s: the engine exited, but …
 *  then one summary line, then the whole message of the first failure. A test that failed only
 *  because one before it in its file did is counted as "not run", not as another failure. */
import { inspect } from 'node:util';

interface TestError extends Error {
  failureType?: string;
  cause?: unknown;
}

interface TestEventData {
  name: string;
  message?: string; // test:stderr
  nesting: number;
  skip?: string | boolean;
  details?: { duration_ms?: number; type?: string; error?: TestError };
}

interface TestEvent {
  type: string;
  data: TestEventData;
}

/** Failures that are not the test's own: its parent ended, or the run was stopped. */
const NOT_RUN = new Set(['cancelledByParent', 'parentAlreadyFinished']);

/** At most `lines` lines of `text`, each cut at `width` characters. */
function trim(text: string, lines: number, width = 160): string {
  const all = text.trimEnd().split('\n');
  const kept = all.slice(0, lines).map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
  if (all.length > lines) kept.push(`… (${all.length - lines} more lines)`);
  return kept.join('\n');
}

/** The error a test threw, unwrapped from node:test's own. */
function causeOf(error: TestError | undefined): unknown {
  return error?.failureType === 'testCodeFailure' || error?.failureType === 'hookFailed' ? error.cause : (error?.cause ?? error);
}

/** One or two lines: what was expected and what happened. */
function shortly(cause: unknown): string {
  if (cause instanceof Error && 'expected' in cause && 'actual' in cause && (cause as { generatedMessage?: boolean }).generatedMessage) {
    const show = (value: unknown) => inspect(value, { breakLength: Infinity, maxStringLength: 120, depth: 2 });
    return `expected ${show(cause.expected)}\ngot      ${show(cause.actual)}`;
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return trim(message.replace(/\n\s*\n/g, '\n'), 2);
}

/** Everything the first failure said, without node:test's frames. */
function details(cause: unknown): string {
  if (!(cause instanceof Error)) return trim(String(cause), 40);
  const frames = (cause.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line) && line.includes('/tests/') && !line.includes('test-timeout'));
  return trim(`${cause.message}${frames.length ? `\n${frames.slice(0, 3).join('\n')}` : ''}`, 40, 400);
}

const seconds = (ms: number | undefined) => `${((ms ?? 0) / 1000).toFixed(1)} s`;

export default async function* checkReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const path: string[] = [];
  let passed = 0;
  let failed = 0;
  let notRun = 0;
  let first: { name: string; cause: unknown } | undefined;
  const began = Date.now();
  let stderr = ''; // what test files printed outside of tests: why a file failed to load
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:stderr') stderr = `${stderr}${data.message ?? ''}`.slice(-4000);
    if (event.type === 'test:start') path[data.nesting] = data.name;
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    path[data.nesting] = data.name;
    const error = data.details?.error;
    // A suite passes or fails with its tests; a file that failed on its own (it did not load,
    // or it was killed) is a failure like any other.
    if (data.details?.type === 'suite' && (event.type === 'test:pass' || error?.failureType === 'subtestsFailed')) continue;
    // A file that --bail left unloaded passes as a whole, with no test in it.
    if (event.type === 'test:pass' && data.nesting === 0 && /^\/.*\.test\.ts$/.test(data.name)) continue;
    // A failure of a whole file is named by its path; a test, by its suite and its own name.
    const name = path.slice(0, data.nesting + 1).filter((part) => !/^\/.*\.test\.ts$/.test(part)).join(' › ') || data.name;
    if (event.type === 'test:pass' && data.skip) {
      notRun++;
      yield `- ${name}   (not run: ${typeof data.skip === 'string' ? data.skip : 'skipped'})\n`;
      continue;
    }
    if (event.type === 'test:pass') {
      passed++;
      yield `✓ ${name}   (${seconds(data.details?.duration_ms)})\n`;
      continue;
    }
    if (NOT_RUN.has(error?.failureType ?? '')) {
      notRun++;
      yield `- ${name}   (not run: the test file stopped before it)\n`;
      continue;
    }
    failed++;
    // A whole file failed (it did not load, or it was killed): what it printed says why.
    const cause = data.nesting === 0 && error?.failureType !== 'testCodeFailure' && stderr.trim() ? new Error(`${error?.message ?? 'failed'}\n${stderr.trim()}`) : causeOf(error);
    first ??= { name, cause };
    yield `✗ ${name}   (${seconds(data.details?.duration_ms)})\n${shortly(cause).replace(/^/gm, '    ')}\n`;
  }
  const counts = [`${passed} passed`, `${failed} failed`, ...(notRun ? [`${notRun} not run`] : [])].join(', ');
  yield `\n${failed === 0 && notRun === 0 ? 'all tests passed' : 'some tests failed'}: ${counts} (${seconds(Date.now() - began)})\n`;
  if (first) yield `\nthe first failure: ${first.name}\n${details(first.cause).replace(/^/gm, '  ')}\n`;
}
