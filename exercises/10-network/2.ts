/** Exercise 10-2: a MAC address made from the IPv4 address, as docker's bridge driver made them:
 *  02:42, then the address's 4 bytes. The peer of the veth pair gets it at creation, in one more
 *  attribute (IFLA_ADDRESS) of the RTM_NEWLINK message. */
import { defineExercise, notYet } from '../lib.ts';
import { addressOf, IMAGE, inOwnNetwork } from './common.ts';

/** 10.208.0.2 → 02:42:0a:d0:00:02 */
function macOf(ipv4: string): string {
  return ['02', '42', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

export default defineExercise({
  title: 'A MAC from the address',
  async check(copy) {
    const net = await inOwnNetwork(copy);
    const seen: string[] = [];
    // Two containers: a MAC written by hand would be right for one address only.
    for (const name of ['first', 'second']) {
      await net.detached(name, [IMAGE, 'sleep', '120']);
      const address = await addressOf(net, name);
      const mac = (await net.step(['exec', name, 'cat', '/sys/class/net/eth0/address'])).trim();
      if (mac !== macOf(address)) notYet(`eth0 of ${name} (${address}) has the MAC ${mac}; expected ${macOf(address)}: 02:42, then the 4 bytes of ${address} in hex`);
      seen.push(`${address} → ${mac}`);
    }
    return `eth0's MAC follows its address: ${seen.join(', ')}`;
  },
});
