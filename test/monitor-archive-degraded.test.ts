/**
 * "archive degraded (N spooled)" where people and programs look (decision 0022): the monitor's
 * get_status (text and JSON), /monitor/status, /api/health and the message log, while the
 * database archive is unavailable and rows go to the spool; and gone again after the replay.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSpoolingArchive } from '../src/archive/spool.js';
import { FakeArchive } from '../src/archive/test-helpers/fake-archive.js';
import { startMonitor } from '../src/monitor/monitor.js';
import { RawClient } from '../src/testing/raw-client.js';
import { silentLogger } from '../src/util/logger.js';
import { createWebApp } from '../src/web/server.js';
import { eventually } from './helpers/julabo-lab.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-degraded-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('archive degraded', () => {
  it('is shown by get_status, /monitor/status, /api/health and the message log while spooling, and not after', async () => {
    const backend = new FakeArchive();
    const archive = await openSpoolingArchive(backend, { path: path.join(dir, 'spool'), probeMinMs: 20, probeMaxMs: 50 });
    const monitor = await startMonitor({ name: 'room1', peers: [], archive, listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
    archive.setReport((level, text) => void monitor.message('room1', level, text));
    const { app } = await createWebApp({ monitor, logger: silentLogger(), uiDir: '/nonexistent' });
    const c = await RawClient.connect(monitor.port);
    try {
      expect(await c.request('get_status')).not.toMatch(/archive/);
      expect((await app.inject({ url: '/monitor/status' })).json()).not.toHaveProperty('archive');

      backend.down = true;
      await archive.write([{ device: 'd', name: 'x', t: 1, value: 1 }]);
      await archive.write([{ device: 'd', name: 'x', t: 2, value: 2 }]);
      expect(archive.stats()).toMatchObject({ state: 'degraded' });
      const spooled = archive.stats().spooled!;
      expect(spooled).toBeGreaterThanOrEqual(2); // the two writes, and the warning's own log row

      expect(await c.request('get_status')).toMatch(new RegExp(`^status nconnected=1 clients_connected=1 devices_connected=0 archive=degraded archive\\.spooled=${spooled}$`));
      const json = JSON.parse((await c.request('get_status format=json')).slice('status_json '.length));
      expect(json.archive).toEqual({ state: 'degraded', spooled, text: `archive degraded (${spooled} spooled)` });
      const status = (await app.inject({ url: '/monitor/status' })).json();
      expect(status.archive).toEqual({ state: 'degraded', spooled, text: `archive degraded (${spooled} spooled)` });
      const health = (await app.inject({ url: '/api/health' })).json();
      expect(health).toMatchObject({ status: 'degraded', archive: { state: 'degraded', spooled } });
      const history = await app.inject({ url: '/api/history?device=d&name=x' });
      expect(history.statusCode).toBe(503);
      expect(history.json()).toMatchObject({ code: 'ArchiveDegraded', message: expect.stringMatching(/^archive degraded: /) });
      const warnings = monitor.recentMessages().filter((m) => m.level === 'warning' && m.message.startsWith('archive degraded'));
      expect(warnings).toHaveLength(1);

      backend.down = false;
      await eventually(() => expect(archive.stats().state).toBe('ok'), 20_000);
      expect(await c.request('get_status')).not.toMatch(/archive/);
      expect((await app.inject({ url: '/monitor/status' })).json()).not.toHaveProperty('archive');
      expect(monitor.recentMessages().some((m) => /^archive: replay complete: \d+ rows replayed/.test(m.message))).toBe(true);
      expect(backend.samples.map((s) => s.t)).toEqual([1, 2]);
    } finally {
      c.close();
      await app.close();
      await monitor.close();
      await archive.close();
    }
  }, 60_000);
});
