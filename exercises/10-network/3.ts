/** Exercise 10-3: `run --ip A.B.C.D`, an address of the subnet chosen by the user instead of
 *  the lowest free one; refused, in one line and before anything runs, when another running
 *  container holds it or when it is not an address of the subnet. */
import { defineExercise, notYet } from '../lib.ts';
import { addressOf, errorLines, IMAGE, inOwnNetwork, SUBNET } from './common.ts';

const WANTED = '10.208.0.50';
const OUTSIDE = '10.209.0.5';

export default defineExercise({
  title: 'An address of your choice',
  async check(copy) {
    const net = await inOwnNetwork(copy);
    await net.detached('chosen', ['--ip', WANTED, IMAGE, 'sleep', '120']);
    const leased = await addressOf(net, 'chosen');
    if (leased !== WANTED) notYet(`run --ip ${WANTED} gave the container ${leased} (inspect's state.network.ipAddress)`);
    const inside = await net.step(['exec', 'chosen', 'ip', '-4', 'addr', 'show', 'eth0']);
    if (!inside.includes(`inet ${WANTED}/24`)) notYet(`inspect says ${WANTED}, but eth0 inside has no inet ${WANTED}/24: ${inside.trim()}`);

    const refusals: string[] = [];
    for (const [address, why] of [[WANTED, 'held by the running container "chosen"'], [OUTSIDE, `outside ${SUBNET}`]] as const) {
      const r = await net.run(['run', '--rm', '--ip', address, IMAGE, 'echo', 'it ran']);
      const said = errorLines(r);
      if (r.code === 0 || r.stdout.includes('it ran')) notYet(`run --ip ${address} ran a container, though ${address} is ${why}`);
      if (said.length !== 1) notYet(`run --ip ${address} (${why}) was refused in ${said.length} lines instead of one: ${said.join(' / ')}`);
      refusals.push(said[0]!);
    }
    // The refusals must not have taken anything from the container that holds the address.
    if ((await addressOf(net, 'chosen')) !== WANTED) notYet(`after the refused runs, "chosen" no longer holds ${WANTED}`);
    return `--ip ${WANTED} leased and on eth0; refused: ${refusals.join(' / ')}`;
  },
});
