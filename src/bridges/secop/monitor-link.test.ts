/**
 * The SECoP node in front of a real monitor (MonitorLink, the path `labwire up` takes): a daemon
 * that comes back with another describe has its modules rebuilt, and a device left out for a
 * module-name clash is logged once, not at every reconnect.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDaemon } from '../../testing/fake-daemon.js';
import { startMonitor, type Monitor } from '../../monitor/monitor.js';
import { eventually } from '../../testing/eventually.js';
import { recordingLogger } from '../../testing/log-sink.js';
import { silentLogger } from '../../util/logger.js';
import { SecopNode } from './node.js';
import { SpecClient } from './test-helpers.js';

type Doc = { modules: Record<string, { accessibles: Record<string, { datainfo: { max?: number } }> }> };

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function fake(options: ConstructorParameters<typeof FakeDaemon>[0]): Promise<FakeDaemon> {
  const d = new FakeDaemon(options);
  await d.start();
  cleanup.push(() => d.stop());
  return d;
}

async function monitorOf(peers: Array<{ name: string; port: number }>): Promise<Monitor> {
  const m = await startMonitor({ name: 'monitor', peers: peers.map((p) => ({ name: p.name, host: '127.0.0.1', port: p.port })), listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
  cleanup.push(() => m.close());
  return m;
}

async function nodeOf(monitor: Monitor, waitFor: string[], logger = silentLogger()): Promise<SecopNode> {
  const n = new SecopNode({ name: 'lab', monitor, waitFor, port: 0, trusted: true, logger });
  await n.start();
  cleanup.push(() => n.close());
  return n;
}

async function specClient(port: number): Promise<SpecClient> {
  const c = await SpecClient.connect(port);
  cleanup.push(() => c.close());
  return c;
}

describe('SECoP node through a monitor: a device described anew', () => {
  it('a daemon restarted with a higher limit and a new parameter: describe, check and change follow the new describe', async () => {
    const bath = await fake({ values: { temperature: 4.2, setpoint: 5 } });
    const monitor = await monitorOf([{ name: 'bath', port: bath.port }]);
    const node = await nodeOf(monitor, ['bath']);
    const c = await specClient(node.port);
    const before = (await c.request('describe', 'describing')).data as Doc;
    expect(before.modules.bath!.accessibles.target!.datainfo.max).toBe(40);
    expect(((await c.request('check bath:target 50', 'checked', 'bath:target')).data as [string])[0]).toBe('RangeError');

    // The daemon comes back with other site limits and a parameter it did not have.
    await bath.stop();
    bath.setpointMax = 60;
    bath.extraParams = { pump_speed: { type: 'int', readonly: false, min: 0, max: 5, description: 'pump speed' } };
    bath.values.pump_speed = 3;
    await bath.start();

    const after = await eventually(async () => {
      const d = (await c.request('describe', 'describing')).data as Doc;
      expect(d.modules.bath!.accessibles.target!.datainfo.max).toBe(60);
      return d;
    }, 30_000, 200);
    expect(Object.keys(after.modules.bath!.accessibles)).toContain('_pump_speed');
    expect(after.modules.bath!.accessibles._pump_speed!.datainfo.max).toBe(5);
    await eventually(async () => expect((await c.request('read bath:_pump_speed', 'reply', 'bath:_pump_speed')).data).toEqual([3, expect.anything()]), 15_000, 200);
    // 50 was beyond the old limit and is within the new one.
    const checked = await c.request('check bath:target 50', 'checked', 'bath:target');
    expect(checked.action).toBe('checked');
    const changed = await c.request('change bath:target 50', 'changed', 'bath:target');
    expect(changed.line).toMatch(/^changed bath:target \[50,/);
    const refused = await c.request('check bath:target 61', 'checked', 'bath:target');
    expect(refused.action).toBe('error_check');
    expect(refused.data).toEqual(['RangeError', expect.stringMatching(/-20\.\.60/), {}]);
    expect(((await c.request('change bath:target 61', 'changed', 'bath:target')).data as [string])[0]).toBe('RangeError');
  }, 90_000);
});

describe('SECoP node through a monitor: a module-name clash', () => {
  it('is logged once per device and describe, not at every reconnect; the device joins when its clash is gone', async () => {
    // `cryo`'s loop1 group is the module cryo_loop1, which is also the name of another device.
    const cryo = await fake({ values: { 'loop1.temperature': 77 } });
    cryo.extraParams = { 'loop1.temperature': { type: 'float', unit: 'K', readonly: true, description: 'loop 1 temperature' } };
    // The other daemon comes up after cryo has joined the node, so it is the one left out.
    const other = await fake({ values: { temperature: 9 } });
    await other.stop();
    const log = recordingLogger('info');
    const monitor = await monitorOf([{ name: 'cryo', port: cryo.port }, { name: 'cryo_loop1', port: other.port }]);
    const node = await nodeOf(monitor, ['cryo'], log.logger);
    const c = await specClient(node.port);
    expect(Object.keys(((await c.request('describe', 'describing')).data as Doc).modules)).toEqual(['cryo', 'cryo_loop1']);
    await other.start();
    const clashes = (): number => log.records.filter((r) => r.msg.includes('two devices give the SECoP module name cryo_loop1')).length;
    await eventually(() => expect(clashes()).toBe(1), 30_000, 100);
    // Three reconnects of the left-out device, each a `peer` event with the same describe.
    for (let i = 0; i < 3; i++) {
      await other.stop();
      await eventually(() => expect(monitor.peer('cryo_loop1')?.connected).toBe(false), 15_000, 50);
      await other.start();
      await eventually(() => expect(monitor.peer('cryo_loop1')?.connected).toBe(true), 30_000, 50);
    }
    expect(clashes()).toBe(1);
    // cryo drops its loop: the other device's module no longer clashes, and it joins.
    await cryo.stop();
    cryo.extraParams = {};
    delete cryo.values['loop1.temperature'];
    await cryo.start();
    await eventually(async () => {
      const names = Object.keys(((await c.request('describe', 'describing')).data as Doc).modules);
      expect(names.sort()).toEqual(['cryo', 'cryo_loop1']);
      expect(((await c.request('read cryo_loop1:value', 'reply', 'cryo_loop1:value')).data as [number])[0]).toBe(9);
    }, 30_000, 200);
    expect(clashes()).toBe(1);
  }, 120_000);
});
