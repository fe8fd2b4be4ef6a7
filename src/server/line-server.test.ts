/**
 * Refused connections, over real loopback TCP: the reason reaches a peer that keeps writing (a
 * graceful close, not a reset that would discard it unread), and what refused sockets cost while
 * they close stays bounded.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../testing/eventually.js';
import { silentLogger } from '../util/logger.js';
import { LineServer, MAX_LINGERING, type LineService } from './line-server.js';
import { TokenStore } from './tokens.js';

const service: LineService = { notices: new Set(), dispatch: () => 'pong', refused: () => undefined };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(): Promise<LineServer> {
  const s = new LineServer({
    label: 'test', host: '127.0.0.1', port: 0, tokens: new TokenStore([]), anonymousRole: 'admin',
    rateLimit: { perSecond: 0, burst: 0 }, maxConnections: 1, idleTimeoutMs: 0, maxLineLength: 1024, logger: silentLogger(),
  }, service);
  await s.listen();
  cleanups.push(() => s.close());
  return s;
}

/** A peer that records what it reads and whether it was closed by the server. */
function peer(port: number): Promise<{ socket: net.Socket; text: () => string; ended: () => boolean }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let ended = false;
    const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve({ socket, text: () => text, ended: () => ended }));
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('end', () => (ended = true));
    socket.on('error', () => undefined);
    socket.once('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

describe('a refused connection', () => {
  it('gets the reason and a graceful close even while it keeps writing', async () => {
    const s = await server();
    const holder = await peer(s.port);
    await eventually(() => expect(s.socketCount).toBe(1));
    const refused = await Promise.all(Array.from({ length: 20 }, () => peer(s.port)));
    const timer = setInterval(() => {
      for (const r of refused) if (!r.socket.destroyed) r.socket.write('ping\n');
    }, 5);
    cleanups.push(() => clearInterval(timer));
    await eventually(() => expect(refused.every((r) => r.ended())).toBe(true));
    for (const r of refused) expect(r.text()).toBe('error - code=RateLimited message="connection limit of 1 reached; try again later"\n');
    await eventually(() => expect(s.lingeringCount).toBe(0));
    expect(holder.ended()).toBe(false);
  });

  it('lingers at most MAX_LINGERING at once, and each no longer than its deadline', async () => {
    const s = await server();
    await peer(s.port);
    await eventually(() => expect(s.socketCount).toBe(1));
    // Peers that never read to the end nor close: the server must let go of them by itself.
    const refused = await Promise.all(Array.from({ length: MAX_LINGERING + 20 }, () => peer(s.port)));
    for (const r of refused) r.socket.pause();
    await eventually(() => expect(s.lingeringCount).toBeGreaterThan(0));
    expect(s.lingeringCount).toBeLessThanOrEqual(MAX_LINGERING);
    await eventually(() => expect(s.lingeringCount).toBe(0));
  }, 30_000);
});
