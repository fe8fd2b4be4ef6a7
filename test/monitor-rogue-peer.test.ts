/**
 * A rogue peer answers the monitor's `describe` with hundreds of MB (issue 10: 1.45 GB buffered
 * for a 700 MB reply). The monitor must read no more than its reply limit, drop the connection
 * with a log line naming the peer and the limit, and retry the peer as after any lost connection.
 * Real TCP on loopback; the flood is bounded (FLOOD bytes per connection at most).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { MONITOR_DEFAULTS } from '../src/monitor/options.js';
import { eventually } from '../src/testing/eventually.js';
import { recordingLogger } from '../src/testing/log-sink.js';

const MiB = 1024 * 1024;
/** Far over the default limit of 16 MiB; what today's main reads (and in binary mode keeps twice). */
const FLOOD = 320 * MiB;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Rogue {
  port: number;
  connections: number;
  /** Bytes of flood written per connection (what the monitor let in before closing, plus socket buffers). */
  sent: number[];
}

/**
 * Speaks just enough labwire for the monitor's handshake. The first `floods` connections get a
 * flood for `describe`: one endless line, or a `binary` reply announcing 700 MB. Later ones get
 * a proper describe, so a retry is seen to succeed.
 */
async function startRogue(mode: 'line' | 'binary', floods = 1): Promise<Rogue> {
  const rogue: Rogue = { port: 0, connections: 0, sent: [] };
  const chunk = Buffer.alloc(MiB, 0x61);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const index = rogue.connections++;
    rogue.sent[index] = 0;
    const flooding = index < floods;
    let pending = '';
    let busy = false;
    const queue: string[] = [];
    // Replies stay in request order: lines asked for after describe wait for the flood's end.
    const reply = (line: string): void => {
      if (busy) queue.push(line);
      else socket.write(`${line}\n`);
    };
    const flood = (): void => {
      busy = true;
      socket.write(mode === 'binary' ? `binary describe size=${700 * MiB}\n` : 'describe {"params":{"x":{"description":"');
      const pump = (): void => {
        while (rogue.sent[index]! < FLOOD && !socket.destroyed) {
          rogue.sent[index]! += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (socket.destroyed) return;
        if (mode === 'line') socket.write('"}},"commands":{}}\n');
        busy = false;
        for (const line of queue.splice(0)) socket.write(`${line}\n`);
      };
      pump();
    };
    socket.on('data', (data: Buffer) => {
      pending += data.toString('utf8');
      for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
        const line = pending.slice(0, i).trim();
        pending = pending.slice(i + 1);
        const name = line.split(' ', 1)[0];
        if (name === 'subscribe') reply('ok subscribe');
        else if (name === 'describe') {
          if (flooding) flood();
          else reply('describe {"name":"rogue","type":"rogue","params":{"x":{"type":"float"}},"commands":{}}');
        } else if (name === 'get_status') reply(`status_json {"name":"rogue","t":${Date.now()},"values":{"x":1.5},"units":{},"ts":{}}`);
        else if (name === 'ping') reply('ok ping');
        else if (name !== 'id' && name !== '') reply(`error ${name} code=NoSuchCommand message="no"`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rogue.port = (server.address() as net.AddressInfo).port;
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return rogue;
}

/** Highest RSS growth seen while `run` runs, sampled every few ms. */
async function peakRssGrowth(run: () => Promise<void>): Promise<number> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - base;
}

async function watch(port: number, maxReplyBytes?: number): Promise<{ m: Monitor; log: ReturnType<typeof recordingLogger> }> {
  const log = recordingLogger('info');
  const m = await startMonitor({
    peers: [{ name: 'rogue', host: '127.0.0.1', port, ...(maxReplyBytes !== undefined ? { maxReplyBytes } : {}) }],
    listen: false,
    logger: log.logger,
  });
  cleanups.push(() => m.close());
  return { m, log };
}

describe('a rogue peer flooding the monitor', () => {
  it.each(['line', 'binary'] as const)('a %s reply to describe far over the limit: dropped at the limit, logged, retried', async (mode) => {
    expect(MONITOR_DEFAULTS.peerMaxReplyBytes).toBe(16 * MiB);
    const rogue = await startRogue(mode);
    let monitor: Monitor | undefined;
    let log: ReturnType<typeof recordingLogger> | undefined;
    const growth = await peakRssGrowth(async () => {
      ({ m: monitor, log } = await watch(rogue.port));
      const m = monitor;
      // The retry (second connection) behaves and is monitored as usual.
      await eventually(() => {
        expect(rogue.connections).toBeGreaterThanOrEqual(2);
        expect(m.peer('rogue')!.connected).toBe(true);
        expect(m.peer('rogue')!.values.x).toBe(1.5);
      }, 25_000);
    });
    const warning = log!.records.find((r) => r.level === 40 && r.peer === 'rogue' && /longer than|over the limit/.test(r.msg));
    expect(warning, log!.text()).toBeDefined();
    expect(warning!.msg).toContain(`peer rogue (127.0.0.1:${rogue.port})`);
    expect(warning!.msg).toContain('16 MiB (16777216 bytes)');
    expect(warning!.msg).toMatch(/connection closed; reconnecting/);
    expect(warning!.limit).toBe(16 * MiB);
    // The message log (the web page's) says it too.
    expect(monitor!.recentMessages().some((e) => e.source === 'rogue' && e.level === 'error' && e.message.includes('16 MiB'))).toBe(true);
    // The monitor stopped reading: the rest of the flood never left the rogue.
    expect(rogue.sent[0]!).toBeLessThan(FLOOD);
    // Generous: the limit, what the kernel and the sockets hold, garbage not yet collected.
    expect(growth).toBeLessThan(120 * MiB);
  }, 60_000);

  it('the limit is configurable per peer, and a reply within it is accepted', async () => {
    const rogue = await startRogue('line');
    const { m, log } = await watch(rogue.port, 2 * MiB);
    await eventually(() => {
      expect(m.peer('rogue')!.connected).toBe(true);
      expect(rogue.connections).toBeGreaterThanOrEqual(2);
    }, 25_000);
    expect(log.text()).toContain('longer than the limit of 2 MiB (2097152 bytes)');
    // The peer's lastError while it was down named the limit; it is cleared once it is back.
    expect(m.peer('rogue')!.lastError).toBeUndefined();
  }, 60_000);
});
