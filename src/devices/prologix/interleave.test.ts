/**
 * Load through one simulated adapter: three instrument-daemon-style clients (an Exchange on a
 * gpib:// link each, over the bus daemon's labwire port) and two CCDLab-style clients sharing
 * addresses with them, 1,000 transactions interleaved. Every reply must reach its own asker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Exchange } from '../../links/exchange.js';
import { lineSplitter } from '../../links/splitters.js';
import { eventually } from '../../testing/eventually.js';
import { GpibLink } from '../kits/gpib/link.js';
import { startGpibBench, type GpibBench } from './test-helpers/bench.js';

let bench: GpibBench | undefined;
const exchanges: Exchange[] = [];
afterEach(async () => {
  await Promise.all(exchanges.splice(0).map((e) => e.stop()));
  await bench?.close();
  bench = undefined;
});

const PER_CLIENT = 200;

describe('1,000 interleaved transactions from five clients through one adapter', () => {
  it('every reply reaches its own asker: zero cross-talk, nothing lost', async () => {
    const b = (bench = await startGpibBench({ addresses: [14, 15, 22] }));
    const links = [14, 15, 22].map((address) => {
      const ex = new Exchange(() => new GpibLink({ kind: 'gpib', host: '127.0.0.1', port: b.port, address }, { useLocalBus: false }), lineSplitter(), {
        timeoutMs: 10_000,
        resyncQuietMs: 50,
      });
      exchanges.push(ex);
      void ex.start();
      return { address, ex };
    });
    await eventually(() => expect(links.every((l) => l.ex.isUp)).toBe(true));

    const daemonStyle = links.map(async ({ address, ex }) => {
      const wrong: string[] = [];
      for (let i = 0; i < PER_CLIENT; i++) {
        const token = `d${address}-${i}`;
        if (i % 5 === 4) {
          await ex.request(`MARK ${token}\n`, { expectReply: false });
          continue;
        }
        const reply = (await ex.request(`ECHO? ${token}\n`))!.toString();
        if (reply !== token) wrong.push(`${token} got ${reply}`);
      }
      return wrong;
    });

    const ccdlabStyle = [14, 22].map(async (address, k) => {
      const c = await b.client();
      c.write(`set_addr ${address}\n`);
      const from = c.lines.length;
      const expected: string[] = [];
      let text = '';
      for (let i = 0; i < PER_CLIENT; i++) {
        const token = `c${k}-${i}`;
        if (i % 5 === 4) {
          text += `MARK ${token}\n`;
        } else {
          text += `?$ECHO? ${token}\n`;
          expected.push(token);
        }
      }
      c.write(text);
      const got = await c.replies(expected.length, from, 60_000);
      return got.flatMap((g, i) => (g === expected[i] ? [] : [`${expected[i]} got ${g}`]));
    });

    const wrong = (await Promise.all([...daemonStyle, ...ccdlabStyle])).flat();
    expect(wrong).toEqual([]);
    // Writes reached their own instrument, each exactly once and in order.
    const marks = (address: number): string[] => b.instruments.get(address)!.texts().filter((t) => t.startsWith('MARK '));
    const own = (prefix: string): string[] => Array.from({ length: PER_CLIENT / 5 }, (_, j) => `MARK ${prefix}-${j * 5 + 4}`);
    expect(marks(15)).toEqual(own('d15'));
    expect(marks(14).filter((m) => m.startsWith('MARK d'))).toEqual(own('d14'));
    expect(marks(14).filter((m) => m.startsWith('MARK c'))).toEqual(own('c0'));
    expect(marks(22).filter((m) => m.startsWith('MARK c'))).toEqual(own('c1'));
    const status = await (await b.client()).request('bus_status');
    expect(status).toMatch(/a14_transactions=400 /);
    expect(status).toMatch(/a15_transactions=200 /);
    expect(status).toMatch(/a22_timeouts=0 /);
  }, 120_000);
});
