/**
 * `labwire up` (startLab) tells every daemon it starts where its monitor is, with a token when the
 * monitor wants one: the lab's state a handler asks for holds every daemon of the lab.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-labstate-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('labwire up and the lab state', () => {
  it('daemons ask their monitor (tokens required there) and see each other with units', async () => {
    fs.writeFileSync(path.join(dir, 'web-tokens.txt'), 'admin ada-token-0123456789 ada\nviewer vera-token-0123456789 vera\n');
    const yaml = [
      'simulators:',
      '  - { name: bath, type: julabo, options: { byteTiming: false } }',
      '  - { name: bath2, type: julabo, options: { byteTiming: false } }',
      'daemons:',
      '  - { name: chiller, type: julabo, link: "sim:bath" }',
      '  - { name: chiller2, type: julabo, link: "sim:bath2" }',
      'monitor:',
      '  listen: 127.0.0.1:0',
      '  web: 127.0.0.1:0',
      '  tokenFile: web-tokens.txt',
      '  archive: { path: archive.sqlite }',
      '',
    ].join('\n');
    const config = parseLabConfig(yaml, path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    try {
      const chiller = lab.daemons.find((d) => d.name === 'chiller')!.daemon;
      expect(chiller.lab?.endpoint).toBe(`127.0.0.1:${lab.monitor.port}`);
      await eventually(async () => {
        const state = await chiller.lab!.get();
        expect(state.source).toBe('monitor monitor');
        const other = state.devices.find((d) => d.name === 'chiller2');
        expect(other?.connected).toBe(true);
        expect(typeof other?.values.temperature).toBe('number');
        expect(other?.units.temperature).toBe('°C');
      }, 30_000, 200);
    } finally {
      await lab.close();
    }
  }, 60_000);
});
