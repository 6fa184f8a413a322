/** What the checks of chapter 05's exercises share: a registry of the check's own with the test
 *  images of tests/helpers/images.ts in it (umoci and skopeo make and push them). */
import { join } from 'node:path';
import { buildTestImage, pushImage, type PushOptions } from '../../tests/helpers/images.ts';
import { notYet, type Copy } from '../lib.ts';

/** The three-layer test image (busybox; /etc/greeting; /srv/data/hello.txt) pushed as
 *  `<registry>/<repo>:v1`, by default as OCI. Returns the reference. */
export async function pushTestImage(copy: Copy, repo: string, opts: Pick<PushOptions, 'format'> = {}): Promise<string> {
  const registry = await copy.registry();
  const layout = buildTestImage(join(copy.scratch('nutshell-exercise-layout-'), 'layout'), 'v1');
  pushImage(layout, 'v1', registry.host, repo, opts);
  return `${registry.host}/${repo}:v1`;
}

/** `pull <ref>`, which must work; returns the digest it printed. */
export async function pull(copy: Copy, ref: string, extra: string[] = []): Promise<string> {
  const r = await copy.run(['pull', ...extra, ref], { timeout: 60_000 });
  if (r.code !== 0) notYet(`pull ${[...extra, ref].join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.match(/Digest: (sha256:[0-9a-f]{64})/)?.[1] ?? '';
}
