/** Test helper: a real local registry (scripts/local-registry.ts) that is stopped and removed
 *  when the test file ends. Call it at the top level of a test file: its after() hook then
 *  belongs to the file, not to one test. */
import { after } from 'node:test';
import { startLocalRegistry, type LocalRegistry, type RegistryAuth } from '../../scripts/local-registry.ts';

export { blobPath, freePort, type RegistryAuth } from '../../scripts/local-registry.ts';
export type TestRegistry = LocalRegistry;

export async function startRegistry(opts: { htpasswd?: RegistryAuth } = {}): Promise<TestRegistry> {
  const registry = await startLocalRegistry(opts);
  after(() => registry.stop());
  return registry;
}
