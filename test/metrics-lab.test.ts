/**
 * `metrics:` per daemon in the lab file (labwire up): each daemon gets its own metrics listener,
 * the monitor answers GET /metrics with the viewer role, and both expositions pass promtool.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';
import { promtoolCheck, promtoolTest, runPromtool } from '../src/testing/promtool.js';

promtoolTest();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-metrics-lab-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const yaml = (metrics: string, tokens = false): string => [
  'simulators:',
  '  - { name: bath, type: julabo, options: { byteTiming: false } }',
  'daemons:',
  `  - { name: chiller, type: julabo, link: "sim:bath", metrics: "${metrics}" }`,
  'monitor:',
  '  listen: 127.0.0.1:0',
  '  web: 127.0.0.1:0',
  ...(tokens ? ['  tokenFile: web-tokens.txt'] : []),
  '  archive: { path: archive.sqlite }',
  '',
].join('\n');

describe('metrics in the lab file', () => {
  it('refuses a bad daemons[].metrics address with the reason', () => {
    expect(() => parseLabConfig(yaml('everywhere'), path.join(dir, 'lab.yaml'), dir)).toThrow(/daemons\.0\.metrics.*metrics "everywhere" is not an address to listen on: give host:port/s);
    expect(parseLabConfig(yaml(':9464'), path.join(dir, 'lab.yaml'), dir).daemons[0]!.metrics).toBe(':9464');
  });

  it('labwire up serves each daemon\'s metrics and the monitor\'s, both clean for promtool; the monitor\'s need a viewer token when tokens are set', async () => {
    fs.writeFileSync(path.join(dir, 'web-tokens.txt'), 'viewer vera-token-0123456789 vera\n');
    const config = parseLabConfig(yaml('127.0.0.1:0', true), path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    try {
      const url = lab.daemons[0]!.metricsUrl!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const monitorUrl = `${lab.web.url}metrics`;
      expect((await fetch(monitorUrl)).status).toBe(401);
      const auth = { Authorization: 'Bearer vera-token-0123456789' };
      let daemonBody = '';
      let monitorBody = '';
      await eventually(async () => {
        daemonBody = await (await fetch(url)).text();
        const res = await fetch(monitorUrl, { headers: auth });
        expect(res.status).toBe(200);
        monitorBody = await res.text();
        expect(daemonBody).toMatch(/^labwire_value\{device="chiller",param="setpoint",unit="°C"\} \d/m);
        expect(monitorBody).toMatch(/^labwire_value\{device="chiller",param="setpoint",unit="°C"\} \d/m);
        expect(monitorBody).toMatch(/^labwire_archive_commit_duration_seconds_count [1-9]/m);
      }, 30_000, 200);
      expect(daemonBody).toMatch(/^labwire_link_up\{device="chiller"\} 1$/m);
      expect(monitorBody).toMatch(/^labwire_peer_up\{peer="chiller",protocol="labwire"\} 1$/m);
      expect(monitorBody).toMatch(/^process_resident_memory_bytes \d+$/m);
      if (runPromtool) for (const body of [daemonBody, monitorBody]) expect(promtoolCheck(body)).toEqual({ status: 0, output: '' });
    } finally {
      await lab.close();
    }
  }, 90_000);
});
