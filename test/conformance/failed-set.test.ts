/**
 * A set whose read-back is lost (it timed out) may still have changed the device; so may a device
 * command whose reply is lost. A poll that read the parameter before that set or command must not
 * publish its older reading afterwards: found by the
 * delaying-proxy scenario (a setpoint published 0.8 s after the unit already held a newer one),
 * made deterministic here with a driver whose reads and writes the test releases by hand.
 */
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { defineDevice, type AnyDeviceDefinition } from '../../src/daemon/api.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { lineSplitter } from '../../src/links/splitters.js';
import { LinkError } from '../../src/links/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { RawClient } from '../../src/testing/raw-client.js';
import { eventually, kv } from '../helpers/julabo-lab.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A device whose value the test holds; reads wait until the test releases them. */
class HeldDevice {
  value = 1;
  readonly pendingReads: Array<(v: number) => void> = [];
  read(): Promise<number> {
    const seen = this.value;
    return new Promise((resolve) => this.pendingReads.push(() => resolve(seen)));
  }
  /** A command that changes the value (say `reset`), then loses its reply. */
  reset(): Promise<void> {
    this.value = 0;
    return Promise.reject(new LinkError('Timeout', 'no reply to "reset" within 100 ms from tcp://test'));
  }
  /** Applies the value, then loses the read-back, as a reply that came too late. */
  write(value: number): Promise<number> {
    this.value = value;
    return Promise.reject(new LinkError('Timeout', 'no reply to "read-back" within 100 ms from tcp://test'));
  }
}

async function heldDaemon(device: HeldDevice): Promise<RawClient> {
  const definition = defineDevice<Record<string, never>, HeldDevice>({
    type: 'held',
    title: 'a device held by the test',
    options: z.object({}).strict() as never,
    exchange: {},
    splitter: () => lineSplitter(),
    params: {
      level: {
        type: 'float',
        description: 'a writable value',
        readonly: false,
        write: async (driver, value) => driver.write(Number(value)),
      },
    },
    commands: {
      reset: { description: 'sets the value to 0', write: true, run: async (driver) => driver.reset() },
    },
    poll: [{ name: 'slow', everyMs: 60_000, read: async (driver) => ({ level: await driver.read() }) }],
    createDriver: () => device,
  }) as unknown as AnyDeviceDefinition;
  // Something to connect to: the link is up, the device itself is the fake above.
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  const daemon = await startDaemon({
    definition,
    link: { kind: 'tcp', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
    name: 'held',
    port: 0,
    logger: silentLogger(),
    version: 'test',
  });
  cleanup.push(() => daemon.close());
  const c = await RawClient.connect(daemon.port);
  cleanup.push(() => c.close());
  return c;
}

it('a poll reading taken before a failed set is not published after it', async () => {
  const device = new HeldDevice();
  const c = await heldDaemon(device);
  // The poll has read level=1 and is still under way (its other reads, say) when the set runs.
  await eventually(() => expect(device.pendingReads.length).toBe(1));
  expect(await c.request('set level=5')).toMatch(/^error set code=Timeout/);
  expect(device.value).toBe(5);
  device.pendingReads.shift()!(1);
  await eventually(async () => expect(kv(await c.request('get_status')).state).not.toBe('busy'));
  // Published: nothing (the value is unknown until the next poll), never the stale 1.
  expect(kv(await c.request('get_status')).level).toBe('nan');
});

it('a poll reading taken before a failed device command is not published after it', async () => {
  const device = new HeldDevice();
  const c = await heldDaemon(device);
  await eventually(() => expect(device.pendingReads.length).toBe(1));
  expect(await c.request('reset')).toMatch(/^error reset code=Timeout/);
  expect(device.value).toBe(0);
  device.pendingReads.shift()!(1);
  await eventually(async () => expect(kv(await c.request('get_status')).state).not.toBe('busy'));
  expect(kv(await c.request('get_status')).level).toBe('nan');
});
