/** Benchmarks · the runner: `npm run bench -- <name> [args]` runs bench/<name>.ts, and
 *  `npm run bench` with no name lists the benches there. Benches are run on demand, not in CI. */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchError, type Bench } from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Files in bench/ that are not benches. */
const NOT_BENCHES = new Set(['run', 'lib']);

function benchNames(): string[] {
  return readdirSync(HERE)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .filter((name) => !NOT_BENCHES.has(name))
    .sort();
}

async function load(name: string): Promise<Bench> {
  return (await import(`./${name}.ts`)) as Bench;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const names = benchNames();
  if (!name || name === '--help' || name === '-h') {
    console.log('usage: npm run bench -- <name> [options]\n\nbenches:');
    for (const n of names) console.log(`  ${n.padEnd(16)} ${(await load(n)).description}`);
    return 0;
  }
  if (!names.includes(name)) throw new BenchError(`no bench named "${name}" (have: ${names.join(', ')})`);
  return (await load(name)).main(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof BenchError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'));
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    if (!known && err instanceof Error) console.error(err.stack);
    process.exitCode = 1;
  },
);
