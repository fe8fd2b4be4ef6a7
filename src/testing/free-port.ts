/**
 * A loopback port that was free a moment ago, found by binding port 0: for a listener a test
 * starts in another process (a gateway, a broker), which cannot be handed port 0 and report back.
 */
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
