/**
 * The half-open link (issue 10 §1): the TCP connection to the device stays open, but nothing
 * comes through — a serial-to-TCP bridge whose instrument was switched off, a cable pulled behind
 * a USB adapter. The daemon must notice after its silent-link time (configurable), show
 * hw_connected=0 with a reason a person can act on, and come back by itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../../src/config/lab.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { julaboFamily } from '../../src/devices/julabo/device.js';
import { JulaboSimulator } from '../../src/devices/julabo/simulator.js';
import { silentLogger } from '../../src/util/logger.js';
import { LateReplyProxy } from '../../src/testing/conformance/late-reply-proxy.js';
import { RawClient } from '../../src/testing/raw-client.js';
import { eventually, kv } from '../helpers/julabo-lab.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function chillerBehindProxy(silentLinkMs: number): Promise<{ proxy: LateReplyProxy; daemon: Daemon; client: RawClient }> {
  const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1 });
  cleanup.push(() => sim.close());
  const proxy = await LateReplyProxy.start({ target: { host: '127.0.0.1', port: await sim.listenTcp('127.0.0.1', 0) } });
  cleanup.push(() => proxy.close());
  const daemon = await startDaemon({
    definition: julaboFamily.definition,
    link: { kind: 'tcp', host: '127.0.0.1', port: proxy.port },
    name: 'chiller',
    port: 0,
    logger: silentLogger(),
    version: 'test',
    silentLinkMs,
  });
  cleanup.push(() => daemon.close());
  const client = await RawClient.connect(daemon.port);
  cleanup.push(() => client.close());
  return { proxy, daemon, client };
}

describe('half-open link', () => {
  it('is detected after the silent-link time, with hw_connected=0 and the reason, and recovers by itself', async () => {
    // The shortest the Julabo allows: its 2 s timeout, 2 s of silence and a 2 s probe.
    const silentLinkMs = 6000;
    const { proxy, client } = await chillerBehindProxy(silentLinkMs);
    const status = async (): Promise<Record<string, string>> => kv(await client.request('get_status'));
    await eventually(async () => {
      const s = await status();
      expect(s.hw_connected).toBe('1');
      expect(s.state).not.toBe('busy');
    }, 15_000);
    expect(await client.request('subscribe hw_connected')).toBe('ok subscribe');

    const pausedAt = Date.now();
    proxy.pause();
    const down = await client.waitLine((l) => /^update t=\d+ hw_connected=0/.test(l), 30_000);
    // Not before the time given: the first unanswered request was written after the pause.
    expect(Number(kv(down).t) - pausedAt).toBeGreaterThanOrEqual(silentLinkMs - 50);
    const s = await status();
    expect(s.state).toBe('error');
    expect(s.state_text).toMatch(/^no link to the device: the device does not answer: nothing came from tcp:\/\/127\.0\.0\.1:\d+ for 6 s \(is it switched on, cabled, and in remote mode\?\)/);
    // While away, writes fail at once with the reason instead of waiting.
    expect(await client.request('set setpoint=12')).toMatch(/^error set code=CommunicationFailed message="no link to the device: the device does not answer/);

    proxy.resume();
    await client.waitLine((l) => /^update t=\d+ hw_connected=1/.test(l), 30_000);
    expect(await client.request('set setpoint=12', 15_000)).toBe('ok set setpoint=12');
  }, 60_000);

  it('refuses a silent-link time shorter than one resync, saying how long one takes', async () => {
    await expect(chillerBehindProxy(1000)).rejects.toThrow(
      'a silent-link time of 1000 ms is too short: one resync with this device takes up to 6000 ms (reply timeout 2000 ms, silence 2000 ms, probe 2000 ms); give at least 6000 ms',
    );
  });

  it('is configured per daemon in the lab file', () => {
    const lab = parseLabConfig(
      'daemons:\n  - { name: chiller, type: julabo, link: "tcp://127.0.0.1:5050", silentLink: 20s }\n  - { name: cryo, type: cryocon, link: "tcp://127.0.0.1:5000", silentLink: 15000 }\n',
      'lab.yaml',
      '/tmp',
    );
    expect(lab.daemons.map((d) => d.silentLink)).toEqual(['20s', 15000]);
    expect(() => parseLabConfig('daemons:\n  - { name: c, type: julabo, link: "tcp://127.0.0.1:1", silentLink: soon }\n', 'lab.yaml', '/tmp')).toThrow(/silentLink/);
  });
});
