/**
 * `secop:` in the lab file: `labwire up` serves a SECoP node, named after the lab, for every
 * labwire device the monitor watches (its daemons, peer daemons, lower monitors' devices),
 * writing through the monitor so that its audit and the daemons' name the SECoP peer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../../config/lab.js';
import { startLab } from '../../lab/run.js';
import { BRIDGE_LAB_TOKEN, bridgeLabYaml } from '../../../test/helpers/bridge-lab.js';
import { silentLogger } from '../../util/logger.js';
import { SpecClient } from './test-helpers.js';
import { FakeDaemon } from '../../testing/fake-daemon.js';
import { startMonitor } from '../../monitor/monitor.js';
import { eventually } from '../../testing/eventually.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-secop-lab-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const yaml = bridgeLabYaml;

describe('secop in the lab file', () => {
  it('refuses an unknown key of secop: with its path', () => {
    expect(() => parseLabConfig(yaml('secop: { listen: "127.0.0.1:0", open: yes }'), path.join(dir, 'lab.yaml'), dir)).toThrow(/secop/);
  });

  it('labwire up serves the lab\'s daemons as a SECoP node; a change is audited with the SECoP peer', async () => {
    fs.writeFileSync(path.join(dir, 'tokens.txt'), 'operator monitor-token-0123456789 monitor\n');
    const config = parseLabConfig(yaml('secop: { listen: "127.0.0.1:0" }'), path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    let c: SpecClient | undefined;
    try {
      expect(lab.secop).toBeDefined();
      c = await SpecClient.connect(lab.secop!.port);
      const d = await c.request('describe', 'describing');
      const doc = d.data as { equipment_id: string; modules: Record<string, { accessibles: Record<string, { datainfo: { max?: number } }> }> };
      expect(doc.equipment_id).toBe('beamline');
      expect(doc.modules.chiller!.accessibles.target!.datainfo.max).toBe(30);
      const changed = await c.request('change chiller:target 21.5', 'changed', 'chiller:target');
      expect(changed.action).toBe('changed');
      expect((changed.data as [number])[0]).toBe(21.5);
      const audit = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8');
      // The daemon names the SECoP peer, forwarded by the lab's monitor (named "monitor" here).
      expect(audit).toMatch(/"who":"secop:127\.0\.0\.1:\d+ via monitor"/);
      const refused = await c.request('change chiller:target 31', 'changed', 'chiller:target');
      expect((refused.data as [string])[0]).toBe('RangeError');
    } finally {
      c?.close();
      await lab.close();
    }
  }, 90_000);

  it('under labwire up a change is followed by the status codes: the Julabo BUSY (3xx) then IDLE (100); Cryo-con loop 1 to 77 BUSY then IDLE', async () => {
    fs.writeFileSync(path.join(dir, 'tokens.txt'), 'operator monitor-token-0123456789 monitor\n');
    // A quick bath and a Cryo-con that settle within seconds (the defaults settle in 30 s).
    const text = yaml(['secop: { listen: "127.0.0.1:0" }'].join('\n'))
      .replace('options: { byteTiming: false }', 'options: { byteTiming: false }, timeScale: 20')
      .replace('auditFile: audit.jsonl,', 'auditFile: audit.jsonl, options: { settleSeconds: 1, tolerance: 0.5 },')
      .replace('daemons:\n', 'daemons:\n  - { name: cryo, type: cryocon, link: "sim:cc", options: { settleSeconds: 1 } }\n')
      .replace('simulators:\n', 'simulators:\n  - { name: cc, type: cryocon, timeScale: 2000, options: { noise: 0 } }\n');
    expect(text).toMatch(/settleSeconds: 1, tolerance/);
    expect(text).toMatch(/type: cryocon, link/);
    const config = parseLabConfig(text, path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data3') }, silentLogger());
    let c: SpecClient | undefined;
    type Report = [[number, string], { t: number }];
    const code = (m: { data: unknown }): number => (m.data as Report)[0][0];
    try {
      c = await SpecClient.connect(lab.secop!.port);
      const client = c;
      const doc = (await c.request('describe', 'describing')).data as { modules: Record<string, { interface_classes: string[] }> };
      expect(doc.modules.chiller!.interface_classes[0]).toBe('Drivable');
      expect(doc.modules.cryo_loop1!.interface_classes[0]).toBe('Drivable');
      await c.request('activate', 'active');
      // Wait until the bath reads steadily IDLE before moving it.
      await eventually(async () => expect(code(await client.request('read chiller:status', 'reply', 'chiller:status'))).toBe(100), 30_000, 200);
      const now = (await c.request('read chiller:value', 'reply', 'chiller:value')).data as [number];
      const target = Math.min(29, Math.round(now[0]) + 3);
      let mark = c.messages.length;
      const changed = await c.request(`change chiller:target ${target}`, 'changed', 'chiller:target');
      expect(changed.line).toMatch(/^changed chiller:target /);
      const busy = await c.next((m) => m.action === 'update' && m.specifier === 'chiller:status' && code(m) >= 300 && code(m) < 400, mark, 30_000);
      await c.next((m) => m.action === 'update' && m.specifier === 'chiller:status' && code(m) === 100, c.messages.indexOf(busy), 60_000);

      mark = c.messages.length;
      const loop = await c.request('change cryo_loop1:target 77', 'changed', 'cryo_loop1:target');
      expect((loop.data as [number])[0]).toBe(77);
      const loopBusy = await c.next((m) => m.action === 'update' && m.specifier === 'cryo_loop1:status' && code(m) >= 300 && code(m) < 400, mark, 30_000);
      await c.next((m) => m.action === 'update' && m.specifier === 'cryo_loop1:status' && code(m) === 100, c.messages.indexOf(loopBusy), 60_000);
      const value = await c.request('read cryo_loop1:value', 'reply', 'cryo_loop1:value');
      expect(Math.abs((value.data as [number])[0] - 77)).toBeLessThan(0.5);
    } finally {
      c?.close();
      await lab.close();
    }
  }, 120_000);

  it('serves the devices the monitor watches beyond the lab: a peer daemon and a lower monitor\'s device (room1/cryo → room1_cryo)', async () => {
    // A daemon the lab does not start, and a lower monitor "room1" watching another one as "cryo".
    const remote = new FakeDaemon({ token: BRIDGE_LAB_TOKEN, values: { temperature: 4.2, setpoint: 5 } });
    await remote.start();
    const below = new FakeDaemon({ values: { temperature: 77.5, setpoint: 77 } });
    await below.start();
    const room1 = await startMonitor({ name: 'room1', peers: [{ name: 'cryo', host: '127.0.0.1', port: below.port }], listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
    fs.writeFileSync(path.join(dir, 'tokens.txt'), 'operator monitor-token-0123456789 monitor\n');
    const peers = `peers:\n  - { name: remote, host: 127.0.0.1, port: ${remote.port} }\n  - { name: room1, protocol: monitor, host: 127.0.0.1, port: ${room1.port} }\n`;
    const config = parseLabConfig(yaml(`${peers}secop: { listen: "127.0.0.1:0" }`), path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data2') }, silentLogger());
    let c: SpecClient | undefined;
    try {
      c = await SpecClient.connect(lab.secop!.port);
      const client = c;
      // Devices join the node as the monitor describes them (a lower monitor's come later).
      const doc = await eventually(async () => {
        const d = (await client.request('describe', 'describing')).data as { modules: Record<string, { interface_classes: string[] }> };
        expect(Object.keys(d.modules)).toEqual(expect.arrayContaining(['chiller', 'remote', 'room1_cryo']));
        return d;
      }, 30_000, 200);
      for (const name of Object.keys(doc.modules)) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/);
      expect(doc.modules.remote!.interface_classes[0]).toBe('Writable');
      const v = await c.request('read remote:value', 'reply', 'remote:value');
      expect((v.data as [number])[0]).toBe(4.2);
      const low = await c.request('read room1_cryo:value', 'reply', 'room1_cryo:value');
      expect((low.data as [number])[0]).toBe(77.5);
      // activate: updates of a peer's device come from the monitor's subscription.
      await c.request('activate room1_cryo', 'active', 'room1_cryo');
      const mark = c.messages.length;
      below.set({ temperature: 78.25 });
      await c.next((m) => m.action === 'update' && m.specifier === 'room1_cryo:value' && (m.data as [number])[0] === 78.25, mark);
      // Writes go through the monitor (through room1 for its device) to the daemons.
      const changed = await c.request('change remote:target 6.5', 'changed', 'remote:target');
      expect(changed.line).toMatch(/^changed remote:target \[6\.5,/);
      expect(remote.received.some((l) => /set setpoint=6\.5$/.test(l))).toBe(true);
      const changedBelow = await c.request('change room1_cryo:target 30', 'changed', 'room1_cryo:target');
      expect(changedBelow.line).toMatch(/^changed room1_cryo:target \[30,/);
      expect(below.received.some((l) => /set setpoint=30$/.test(l))).toBe(true);
      const refused = await c.request('change remote:target 41', 'changed', 'remote:target');
      expect((refused.data as [string])[0]).toBe('RangeError');
      // The peer daemon's log lines, as the monitor receives them, on request.
      await c.request('logging remote "info"', 'logging', 'remote');
      const logMark = c.messages.length;
      await eventually(() => {
        remote.log('warning', 'compressor hot');
        expect(client.messages.slice(logMark).some((m) => m.line === 'log remote:info "compressor hot"')).toBe(true);
      }, 15_000, 200);
      // A peer that goes away: CommunicationFailed, and back by itself.
      await remote.stop();
      await eventually(async () => expect(((await client.request('read remote:value', 'reply')).data as [string])[0]).toBe('CommunicationFailed'), 30_000, 200);
      await remote.start();
      await eventually(async () => expect((await client.request('read remote:value', 'reply')).action).toBe('reply'), 30_000, 200);
    } finally {
      c?.close();
      await lab.close();
      await room1.close();
      await remote.stop();
      await below.stop();
    }
  }, 90_000);
});
