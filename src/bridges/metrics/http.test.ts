import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { silentLogger } from '../../util/logger.js';
import { eventually } from '../../testing/eventually.js';
import { METRICS_MAX_PER_ADDRESS, startMetricsListener, type MetricsListener } from './http.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
    cleanup.push(() => void s.destroy());
  });
}

describe('metrics listener limits', () => {
  it('refuses connections beyond its per-address limit, so idle sockets cannot take the daemon\'s descriptors', async () => {
    const listener: MetricsListener = await startMetricsListener({ host: '127.0.0.1', port: 0, registry: new Registry(), logger: silentLogger(), label: 'test' });
    cleanup.push(() => listener.close());
    // Sockets that never send a request hold their slots…
    const idle: net.Socket[] = [];
    for (let i = 0; i < METRICS_MAX_PER_ADDRESS; i++) idle.push(await connect(listener.port));
    // …and one more from the same address is closed by the listener at once.
    const extra = net.connect(listener.port, '127.0.0.1');
    extra.on('error', () => undefined);
    cleanup.push(() => void extra.destroy());
    await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    // A freed slot serves a scrape again.
    idle[0]!.destroy();
    await eventually(async () => {
      const res = await fetch(listener.url, { signal: AbortSignal.timeout(2000) });
      expect(res.status).toBe(200);
    }, 10_000, 100);
    for (const s of idle) s.destroy();
  }, 30_000);
});
