/** Chapter 09 · seccomp: a STUB with the interface of the real module, which another part of
 *  this chapter writes (the default filter as classic BPF, docker's JSON profiles) and which
 *  replaces this file. Until then the engine parses a profile as JSON and loads nothing. */
import { UserError } from '../../lib/errors.ts';
import { traceStep } from '../../lib/trace.ts';

/** 'default': docker's default filter; 'unconfined': none; a profile: docker's JSON format, parsed by the engine from `source` (a host path). */
export type SeccompSetting = 'default' | 'unconfined' | { profile: unknown; source: string };

/** Parse and check a docker seccomp JSON profile (one-line UserError when invalid). */
export function parseSeccompProfile(json: string, source: string): { profile: unknown; source: string } {
  try {
    return { profile: JSON.parse(json) as unknown, source };
  } catch (err) {
    throw new UserError(`invalid seccomp profile ${source}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Load the filter for `setting` into this thread (and so into the program execve starts). */
export function installSeccomp(setting: SeccompSetting, why: string): void {
  const name = typeof setting === 'string' ? setting : setting.source;
  traceStep(`seccomp filter "${name}": not loaded (seccomp.ts is a stub)`, why);
}
