/** Test helper: what a piece of engine code prints with --trace on, for tests that call a
 *  chapter's modules in-process. */
import { enableTrace } from '../../lib/trace.ts';

/** Run `work` with tracing on and return everything it wrote on stderr. */
export async function traceOf(work: () => unknown): Promise<string> {
  const chunks: string[] = [];
  const write = process.stderr.write;
  await enableTrace();
  process.stderr.write = ((chunk: string | Uint8Array) => chunks.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    await work();
  } finally {
    process.stderr.write = write;
    delete process.env.NUTSHELL_TRACE;
  }
  return chunks.join('');
}
