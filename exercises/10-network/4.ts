/** Exercise 10-4: `--network container:<name|id>`: the child stage joins a running container's
 *  network namespace with setns(2) instead of unsharing a new one, as docker does, and as every
 *  container of a Kubernetes pod joins its pod's. Both then share one lo, one eth0, one set of
 *  ports. */
import { defineExercise, notYet } from '../lib.ts';
import { addressOf, IMAGE, inOwnNetwork } from './common.ts';

// busybox's httpd may not listen yet when `run -d` returns: try for a few seconds.
const FETCH = 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:80/ && break; sleep 0.5; done';

export default defineExercise({
  title: 'One network, two containers',
  async check(copy) {
    const net = await inOwnNetwork(copy);
    const id = await net.detached('web', [IMAGE, 'sh', '-c', 'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www']);
    const address = await addressOf(net, 'web');
    const mac = (await net.step(['exec', 'web', 'cat', '/sys/class/net/eth0/address'])).trim();

    const r = await net.run(['run', '--rm', '--network', 'container:web', IMAGE, 'sh', '-c', `${FETCH}; echo ---; cat /sys/class/net/eth0/address; ip -4 addr show eth0`]);
    if (r.code !== 0 && !r.stdout.includes('---')) notYet(`run --network container:web failed with ${r.code}: ${r.stderr.trim().split('\n').at(-1)}`);
    const [page = '', seen = ''] = r.stdout.split('---\n');
    if (!page.includes('served by')) notYet(`inside run --network container:web, nothing answered on 127.0.0.1:80 (web's httpd listens there in web's network namespace): ${page.trim() || r.stderr.trim().split('\n').at(-1) || 'no output'}`);
    if (!seen.includes(`inet ${address}/`)) notYet(`run --network container:web sees another eth0 than web's (${address}): ${seen.trim() || 'none'}`);
    if (!seen.startsWith(`${mac}\n`)) notYet(`run --network container:web sees eth0 with MAC ${seen.split('\n')[0]}, web's is ${mac}: not the same interface`);

    const byId = await net.step(['run', '--rm', '--network', `container:${id.slice(0, 12)}`, IMAGE, 'cat', '/sys/class/net/eth0/address']);
    if (byId.trim() !== mac) notYet(`run --network container:${id.slice(0, 12)} (web's id) sees eth0 with MAC ${byId.trim()}, web's is ${mac}`);
    return `through --network container:web (and by id), 127.0.0.1:80 answers "${page.trim()}", and eth0 is web's: ${address}, ${mac}`;
  },
});
