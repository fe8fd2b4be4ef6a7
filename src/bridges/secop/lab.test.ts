/**
 * `secop:` in the lab file: `labwire up` serves a SECoP node, named after the lab, for the lab's
 * daemons, writing with the monitor's token so that the daemons' audit names the SECoP peer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../../config/lab.js';
import { startLab } from '../../lab/run.js';
import { bridgeLabYaml } from '../../../test/helpers/bridge-lab.js';
import { silentLogger } from '../../util/logger.js';
import { SpecClient } from './test-helpers.js';

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
      expect(audit).toMatch(/"who":"secop:127\.0\.0\.1:\d+ via secop-beamline"/);
      const refused = await c.request('change chiller:target 31', 'changed', 'chiller:target');
      expect((refused.data as [string])[0]).toBe('RangeError');
    } finally {
      c?.close();
      await lab.close();
    }
  }, 90_000);
});
