/**
 * The demo lab's page with the GPIB bench, in real headless Chromium: the bus daemon and each
 * instrument behind it are devices of their own, connected, with live plots that get points.
 * With LABWIRE_SCREENSHOTS=<dir>, also writes the page at desktop and phone sizes there.
 * Skipped, with a message, where Chromium is not installed (CI installs it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLabConfig, DEMO_BENCH, DEMO_BUS } from '../src/cli/demo-lab.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { silentLogger } from '../src/util/logger.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';

warnIfNoChromium('web-browser-gpib tests');

const BENCH = [DEMO_BUS.name, ...DEMO_BENCH.map((b) => b.name)];
/** The bench's plots, and how many points each must get: noisy currents and the bus counters move every poll; the generator's settings and the source voltage hold, drawn on to now. */
const PLOTS: Array<[string, string, number]> = [
  ['gpib', 'traffic', 5], ['picoammeter', 'current', 5], ['source', 'current', 5],
  ['source', 'source', 2], ['generator', 'output', 2], ['generator', 'level', 2],
];

describe.skipIf(!haveChromium)('the demo page with the GPIB bench in headless Chromium', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-gpib-web-'));
  let lab: RunningLab;
  let browser: TestBrowser;

  beforeAll(async () => {
    lab = await startLab(demoLabConfig({ basePort: 0, web: 0, monitor: 0, timeScale: 10, data: tmp }), silentLogger());
    browser = await openBrowser({ allowOnly: lab.web.url });
    // Every device's card: the shell's Devices view.
    await browser.page.goto(`${lab.web.url}#/devices`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the bus daemon and every instrument behind it as its own connected device', async () => {
    const { page } = browser;
    for (const name of BENCH) {
      await expect.poll(() => page.getByTestId(`conn-${name}`).textContent(), { timeout: 20_000 }).toBe('connected');
    }
    // The instruments' own readings, not the bus's.
    await expect.poll(async () => Number(await page.getByTestId('value-picoammeter-current').textContent()), { timeout: 20_000 }).toBeGreaterThan(1e-10);
    await expect.poll(() => page.getByTestId('value-generator-frequency').textContent(), { timeout: 20_000 }).toMatch(/^1000(\.0*)?$/);
    // The instrument daemons use the bus in-process: the monitor is the bus daemon's only connection.
    expect(lab.daemons.find((d) => d.name === DEMO_BUS.name)!.daemon.server.connectionCount).toBe(1);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('their plots get points', async () => {
    const { page } = browser;
    for (const [device, plot, atLeast] of PLOTS) {
      const area = page.getByTestId(`plot-${device}-${plot}`);
      await expect.poll(async () => Number((await area.getAttribute('data-points')) ?? 0), { timeout: 30_000, message: `plot ${device}/${plot}` }).toBeGreaterThanOrEqual(atLeast);
    }
    expect(browser.errors).toEqual([]);
  }, 120_000);

  it('a form of an instrument behind the bus works: the generator takes a frequency', async () => {
    const { page } = browser;
    const form = page.getByTestId('form-generator-frequency');
    await form.getByLabel('frequency').fill('2500');
    await form.getByRole('button', { name: 'Set' }).click();
    await expect.poll(() => form.getByTestId('ok-generator-frequency').textContent(), { timeout: 15_000 }).toContain('2500');
    await expect.poll(() => page.getByTestId('value-generator-frequency').textContent(), { timeout: 15_000 }).toMatch(/^2500/);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it.skipIf(!process.env.LABWIRE_SCREENSHOTS)('screenshots at desktop and phone sizes', async () => {
    const dir = process.env.LABWIRE_SCREENSHOTS!;
    fs.mkdirSync(dir, { recursive: true });
    const { page } = browser;
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByTestId('device-picoammeter').scrollIntoViewIfNeeded();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(dir, 'demo-gpib-desktop.png') });
    await page.screenshot({ path: path.join(dir, 'demo-gpib-desktop-full.png'), fullPage: true });
    for (const name of BENCH) await page.getByTestId(`device-${name}`).screenshot({ path: path.join(dir, `card-${name}-desktop.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('device-picoammeter').scrollIntoViewIfNeeded();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(dir, 'demo-gpib-phone.png') });
    await page.screenshot({ path: path.join(dir, 'demo-gpib-phone-full.png'), fullPage: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(dir, 'demo-gpib-phone-top.png') });
    await page.getByTestId('device-generator').screenshot({ path: path.join(dir, 'card-generator-phone.png') });
    expect(fs.existsSync(path.join(dir, 'demo-gpib-phone.png'))).toBe(true);
  }, 60_000);
});
