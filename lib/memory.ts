/** Plumbing: keep memory flat while hundreds of megabytes stream through the engine.
 *  A Buffer's bytes live outside V8's heap and are freed only when a garbage collection
 *  finds the Buffer dead. V8 starts one on its own once some 32 MB of such memory has piled
 *  up, so a pull that streams a layer in 64 KB chunks carries ~32 MB of dead chunks at
 *  any moment. Collecting the young generation every few MB (a scavenge takes well under a
 *  millisecond here) returns them early. Measured in bench/README.md (pull). */
import v8 from 'node:v8';
import vm from 'node:vm';

const COLLECT_EVERY_BYTES = 3 << 20;

type CollectGarbage = (options: { type: 'minor' | 'major' }) => void;

let collectGarbage: CollectGarbage | undefined;
let sinceLastCollection = 0;

/** Count `bytes` that have passed through a stream and are no longer needed. */
export function streamed(bytes: number): void {
  sinceLastCollection += bytes;
  if (sinceLastCollection < COLLECT_EVERY_BYTES) return;
  sinceLastCollection = 0;
  collectGarbage ??= exposeGc();
  collectGarbage({ type: 'minor' });
}

/** V8's gc() exists only with --expose-gc. Setting the flag once the program runs, then
 *  asking a new context for the function, gets it without a flag on node's command line. */
function exposeGc(): CollectGarbage {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as CollectGarbage;
}
