/** Tooling: `npm run registry`, a local registry for the lessons and for workshops, on a free
 *  port of 127.0.0.1, that keeps running after the command ends.
 *    REG=$(npm run -s registry)                      start one; prints 127.0.0.1:PORT
 *    npm run -s registry -- --auth alice:secret      one that asks for Basic auth
 *    npm run -s registry -- list                     the registries started this way
 *    npm run -s registry -- stop 127.0.0.1:PORT      stop one and remove its storage
 *    npm run -s registry -- stop --all               stop them all
 *  They are recorded under $NUTSHELL_REGISTRIES (default /tmp/nutshell-registries), which is
 *  also where `npm run reset` finds them. */
import { parseArgs } from 'node:util';
import {
  findRecordedRegistry,
  isRegistryRunning,
  listRecordedRegistries,
  registriesDir,
  startDetachedRegistry,
  stopRecordedRegistry,
  type RegistryAuth,
} from './local-registry.ts';

const USAGE = 'usage: npm run -s registry [-- --auth user:password] | -- list | -- stop <127.0.0.1:PORT> | -- stop --all';

class UsageError extends Error {}

function parseAuth(text: string): RegistryAuth {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) throw new UsageError(`--auth takes user:password, not "${text}"`);
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** `127.0.0.1:5000`, `localhost:5000` or `5000`: the address as `start` printed it. */
function hostOf(text: string): string {
  const port = text.match(/^(?:(?:127\.0\.0\.1|localhost):)?(\d{1,5})$/)?.[1];
  if (!port) throw new UsageError(`"${text}" is not an address of this machine's registries (127.0.0.1:PORT)`);
  return `127.0.0.1:${Number(port)}`;
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { auth: { type: 'string' } }, strict: true });
  const htpasswd = values.auth === undefined ? undefined : parseAuth(values.auth);
  const record = await startDetachedRegistry({ htpasswd });
  // stdout holds the address alone, so that REG=$(npm run -s registry) captures just that.
  console.log(record.host);
  const auth = record.user ? ` (Basic auth, user ${record.user})` : '';
  console.error(`registry ${record.host}${auth} runs in the background; stop it with: npm run -s registry -- stop ${record.host}`);
}

async function stop(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { all: { type: 'boolean' } }, strict: true, allowPositionals: true });
  if (values.all ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError(USAGE);
  const records = values.all ? listRecordedRegistries() : [findRecordedRegistry(hostOf(positionals[0]!))];
  if (records[0] === undefined && !values.all) throw new UsageError(`no registry ${hostOf(positionals[0]!)} is recorded in ${registriesDir()} (see: npm run -s registry -- list)`);
  for (const record of records) {
    await stopRecordedRegistry(record!);
    console.log(`stopped registry ${record!.host}`);
  }
}

function list(args: string[]): void {
  if (args.length) throw new UsageError(USAGE);
  for (const record of listRecordedRegistries()) {
    const auth = record.user ? `auth ${record.user}` : 'no auth';
    const state = isRegistryRunning(record) ? `running (pid ${record.pid})` : 'not running';
    console.log(`${record.host}  ${state}  ${auth}  storage ${record.dir}`);
  }
}

const [verb, ...rest] = process.argv.slice(2);
try {
  if (verb === 'stop') await stop(rest);
  else if (verb === 'list') list(rest);
  else if (verb === 'start') await start(rest);
  else if (verb === undefined || verb.startsWith('-')) await start(process.argv.slice(2));
  else throw new UsageError(USAGE);
} catch (err) {
  // One line, whatever went wrong: parseArgs' own messages run on over two sentences.
  console.error(`nutshell: ${(err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, '')}`);
  process.exitCode = 2;
}
