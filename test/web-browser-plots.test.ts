/**
 * Card plots in headless Chromium: the Cryo-con and Arbin plots of a demo-like lab (real
 * simulators, daemons, monitor, SQLite archive) draw their dotted parameters (`chA.temperature`,
 * `ch1.voltage`) with no /api/history 404; an hour of ~700 samples is drawn raw, not as bins; time
 * axes are labelled in 24-hour form.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { labConfigSchema, resolvePaths } from '../src/config/lab.js';
import { deviceFamilies } from '../src/devices/index.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { startWeb, type WebServer } from '../src/web/server.js';
import { FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';

warnIfNoChromium('card plot browser tests');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-plots-page-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const points = (page: Page, testid: string): Promise<number> =>
  page.getByTestId(testid).getAttribute('data-points').then((p) => Number(p ?? 0));

describe.skipIf(!haveChromium)('card plots of a demo-like lab', () => {
  let lab: RunningLab;
  let browser: TestBrowser;
  const historyStatus: Array<{ url: string; status: number }> = [];

  beforeAll(async () => {
    const data = path.join(dir, 'data');
    const types = ['cryocon', 'arbin'];
    const extras = types.map((type) => deviceFamilies[type]!.demo?.({ dataDir: data, name: type }) ?? {});
    const config = labConfigSchema.parse({
      name: 'plots',
      data,
      simulators: types.map((type, i) => ({ name: `${type}-sim`, type, timeScale: 10, options: extras[i]!.simulatorOptions ?? {} })),
      daemons: types.map((type, i) => ({ name: type, type, link: `sim:${type}-sim`, listen: '127.0.0.1:0', options: extras[i]!.deviceOptions ?? {}, plots: deviceFamilies[type]!.plots ?? [] })),
      monitor: { listen: '127.0.0.1:0', web: '127.0.0.1:0', archive: { path: path.join(dir, 'archive.sqlite') } },
    });
    lab = await startLab(resolvePaths(config, dir), silentLogger());
    browser = await openBrowser({ allowOnly: lab.web.url });
    browser.page.on('response', (r) => {
      if (r.url().includes('/api/history?')) historyStatus.push({ url: r.url(), status: r.status() });
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  });

  it('draws the Cryo-con "Cryostat temperatures" and "Loop outputs" and the Arbin "Channel 1" plots', async () => {
    const { page } = browser;
    await page.goto(`${lab.web.url}#/devices`);
    // The same card is grouped (issue 15: "a grouped Cryo-con card with a working plot").
    await expect.poll(() => page.getByTestId('device-cryocon').locator('[data-testid^="group-cryocon-"]').count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(8);
    for (const id of ['plot-cryocon-temperatures', 'plot-cryocon-heaters', 'plot-arbin-ch1']) {
      await expect.poll(() => page.getByTestId(id).locator('canvas').count(), { timeout: 20_000 }).toBe(1);
      await expect.poll(() => points(page, id), { timeout: 20_000 }).toBeGreaterThan(1);
    }
    // Reloaded, the plots come from the archive: every history query is answered (no 404).
    await page.reload();
    await expect.poll(() => historyStatus.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(9);
    await expect.poll(() => points(page, 'plot-cryocon-temperatures'), { timeout: 20_000 }).toBeGreaterThan(1);
    expect(historyStatus.filter((r) => r.status !== 200)).toEqual([]);
    expect(historyStatus.some((r) => decodeURIComponent(r.url).includes('name=chA.temperature') && r.url.includes('device=cryocon'))).toBe(true);
    // The time axis in the page's one form: 24-hour clock, ISO date.
    const labels = await page.getByTestId('plot-cryocon-temperatures').getAttribute('data-x-labels');
    expect(labels).toMatch(/\d\d:\d\d/);
    expect(labels).not.toMatch(/am|pm/i);
    expect(browser.errors).toEqual([]);
  });
});

describe.skipIf(!haveChromium)('card plot of an hour of samples', () => {
  let web: WebServer;
  let browser: TestBrowser;

  afterAll(async () => {
    await browser?.close();
    await web?.close();
  });

  it('draws an hour of ~700 samples raw (not 15 one-minute bins)', async () => {
    const archive = new FakeArchive();
    const now = Date.now();
    const samples = [];
    // A ramp sampled every 5 s for an hour: 720 samples.
    for (let k = 0; k < 720; k++) samples.push({ device: 'cryo', name: 'temperature', t: now - 3_600_000 + k * 5000 + 2500, value: 300 - k * 0.1 });
    await archive.write(samples);
    const monitor = new FakeMonitor({
      archive,
      peers: [{ name: 'cryo', protocol: 'ccdlab', values: { temperature: 228 }, plots: [{ id: 'temps', name: 'Cryostat temperatures', values: ['time', 'temperature'] }] }],
    });
    web = await startWeb({ monitor, port: 0, logger: silentLogger() });
    browser = await openBrowser({ allowOnly: web.url, viewport: { width: 1280, height: 900 } });
    const { page } = browser;
    await page.goto(`${web.url}#/devices`);
    await expect.poll(() => points(page, 'plot-cryo-temps'), { timeout: 20_000 }).toBeGreaterThanOrEqual(720);
    expect(browser.errors).toEqual([]);
  });
});
