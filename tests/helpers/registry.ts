/** Test helper: a real local registry (scripts/local-registry.ts) that is stopped and removed
 *  when the test file ends. Call it at the top level of a test file: its after() hook then
 *  belongs to the file, not to one test. */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { UserError } from '../../lib/errors.ts';
import type { Readable } from 'node:stream';
import { startLocalRegistry, type LocalRegistry, type RegistryAuth } from '../../scripts/local-registry.ts';

export { blobPath, freePort, type RegistryAuth } from '../../scripts/local-registry.ts';
export type TestRegistry = LocalRegistry;

export async function startRegistry(opts: { htpasswd?: RegistryAuth } = {}): Promise<TestRegistry> {
  const registry = await startLocalRegistry(opts);
  after(() => registry.stop());
  return registry;
}

/** `await rejects(promise, /pattern/)`: a UserError of one line that matches. */
export async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return true;
  });
}

/** Download a blob the way a pull does: streamed into the store, which keeps it only if it
 *  hashes to its digest. Returns where it is. */
export async function download(store: { putBlob(digest: string, body: Readable): Promise<string> }, from: { fetchBlob(repository: string, digest: string): Promise<{ body: Readable }> }, repository: string, digest: string): Promise<string> {
  const { body } = await from.fetchBlob(repository, digest);
  return store.putBlob(digest, body);
}

