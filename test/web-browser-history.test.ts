/**
 * The history explorer in headless Chromium: opened from a `#/history?…` URL with two series of
 * different units it draws both on two y axes; a range change updates the URL, a reload restores
 * the view, live follow appends values, and the CSV download holds both series' columns.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWeb, type WebServer } from '../src/web/server.js';
import { FakeArchive, FakeMonitor, CHILLER_DESCRIBE } from '../src/web/test-helpers/fake-monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';

warnIfNoChromium('history explorer browser tests');

describe.skipIf(!haveChromium)('the history explorer', () => {
  let web: WebServer;
  let browser: TestBrowser;
  let page: Page;
  let monitor: FakeMonitor;

  let archive: FakeArchive;

  beforeAll(async () => {
    archive = new FakeArchive();
    archive.configureSeries('cryo', 'chA.temperature', { unit: 'K' });
    archive.configureSeries('chiller', 'setpoint', { unit: '°C' });
    const now = Date.now();
    const samples = [];
    // Two days of samples every 10 minutes: the last hour holds six of each.
    for (let t = now - 2 * 86_400_000; t <= now; t += 600_000) {
      samples.push({ device: 'cryo', name: 'chA.temperature', t, value: 4 + Math.sin(t / 3e6) });
      samples.push({ device: 'chiller', name: 'setpoint', t: t + 300_000 - 600_000, value: 20 });
    }
    await archive.write(samples);
    monitor = new FakeMonitor({
      archive,
      peers: [
        { name: 'chiller', describe: CHILLER_DESCRIBE, values: { setpoint: 20, temperature: 21 } },
        { name: 'cryo', protocol: 'ccdlab', values: { 'chA.temperature': 4.5 } },
      ],
    });
    web = await startWeb({ monitor, port: 0, logger: silentLogger() });
    browser = await openBrowser({ allowOnly: web.url });
    page = browser.page;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await web?.close();
  });

  it('opens a shared URL with two series of different units: both drawn, two y axes', async () => {
    await page.goto(`${web.url}#/history?device=cryo&name=chA.temperature&device=chiller&name=setpoint&range=1d`);
    const plot = page.getByTestId('history-plot');
    await expect.poll(() => plot.locator('canvas').count(), { timeout: 20_000 }).toBe(1);
    await expect.poll(() => plot.getAttribute('data-points').then(Number), { timeout: 20_000 }).toBeGreaterThanOrEqual(2 * 140);
    expect(await plot.getAttribute('data-y-axes')).toBe('2');
    expect(await page.getByTestId('hx-chip-cryo-chA_temperature').count()).toBe(1);
    expect(await page.getByTestId('hx-chip-chiller-setpoint').count()).toBe(1);
    expect(await page.getByRole('button', { name: '1 day' }).getAttribute('aria-pressed')).toBe('true');
    expect(await plot.getAttribute('data-x-labels')).not.toMatch(/am|pm/i);
  });

  it('puts a range change in the URL, and a reload restores the view', async () => {
    await page.getByRole('button', { name: '1 h' }).click();
    await expect.poll(() => page.evaluate(() => location.hash), { timeout: 10_000 }).toContain('range=1h');
    const hash = await page.evaluate(() => location.hash);
    expect(new URLSearchParams(hash.slice(hash.indexOf('?') + 1)).getAll('name')).toEqual(['chA.temperature', 'setpoint']);
    await page.reload();
    const plot = page.getByTestId('history-plot');
    await expect.poll(() => plot.getAttribute('data-points').then(Number), { timeout: 20_000 }).toBeGreaterThanOrEqual(10);
    expect(Number(await plot.getAttribute('data-points'))).toBeLessThan(40);
    expect(await page.getByRole('button', { name: '1 h' }).getAttribute('aria-pressed')).toBe('true');
    expect(await plot.getAttribute('data-y-axes')).toBe('2');
  });

  it('takes an absolute range from the from/to inputs', async () => {
    const from = await page.getByTestId('hx-from').inputValue();
    expect(from).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    const earlier = new Date(new Date(from.replace(' ', 'T')).getTime() - 3 * 3_600_000);
    const pad = (n: number): string => String(n).padStart(2, '0');
    await page.getByTestId('hx-from').fill(`${earlier.getFullYear()}-${pad(earlier.getMonth() + 1)}-${pad(earlier.getDate())} ${pad(earlier.getHours())}:${pad(earlier.getMinutes())}`);
    await page.getByTestId('hx-from').press('Enter');
    await expect.poll(() => page.evaluate(() => location.hash), { timeout: 10_000 }).toMatch(/from=\d+&to=\d+/);
    await expect.poll(() => page.getByTestId('history-plot').getAttribute('data-points').then(Number), { timeout: 20_000 }).toBeGreaterThanOrEqual(40);
    expect(await page.getByRole('button', { name: '1 h' }).getAttribute('aria-pressed')).toBe('false');
  });

  it('finds series with the search box and adds them', async () => {
    await page.getByRole('button', { name: '1 h' }).click();
    await page.getByLabel('Find series').fill('chill set');
    await expect.poll(() => page.locator('.hx-list input[type=checkbox]').count(), { timeout: 10_000 }).toBe(1);
    await page.getByTestId('hx-pick-chiller-setpoint').uncheck();
    await expect.poll(() => page.getByTestId('hx-chip-chiller-setpoint').count(), { timeout: 10_000 }).toBe(0);
    await page.getByTestId('hx-pick-chiller-setpoint').check();
    await expect.poll(() => page.getByTestId('hx-chip-chiller-setpoint').count(), { timeout: 10_000 }).toBe(1);
  });

  it('follows live values while follow is on', async () => {
    await page.getByTestId('hx-follow').check();
    await expect.poll(() => page.evaluate(() => location.hash), { timeout: 10_000 }).toContain('follow=1');
    const plot = page.getByTestId('history-plot');
    await expect.poll(() => plot.getAttribute('data-points').then(Number), { timeout: 20_000 }).toBeGreaterThan(0);
    const before = Number(await plot.getAttribute('data-points'));
    // A stream of live values until the plot has drawn more points (bounded).
    await expect
      .poll(async () => {
        monitor.setValues('cryo', { 'chA.temperature': 4 + Math.random() });
        return Number(await plot.getAttribute('data-points'));
      }, { timeout: 20_000 })
      .toBeGreaterThan(before);
  });

  it('downloads a CSV of what is shown, with a column per series', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const text = fs.readFileSync((await download.path())!, 'utf8');
    const [head, ...rows] = text.trim().split('\n');
    expect(head).toBe('time_iso,t_ms,cryo chA.temperature (K),chiller setpoint (°C)');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.some((r) => /^[^,]+,\d+,[\d.]+,$/.test(r))).toBe(true);
    expect(rows.some((r) => /^[^,]+,\d+,,20$/.test(r))).toBe(true);
    expect(browser.errors).toEqual([]);
  });

  it('in follow mode the CSV holds what the moving range shows, not every point since loading', async () => {
    // Samples a second apart around the 10-minute cut, so a cut that stayed at load time shows.
    const now = Date.now();
    const dense = [];
    for (let t = now - 660_000; t <= now - 540_000; t += 1000) dense.push({ device: 'cryo', name: 'chA.temperature', t, value: 5 });
    await archive.write(dense);
    await page.goto(`${web.url}#/history?device=cryo&name=chA.temperature&range=10m&follow=1`);
    await page.reload();
    const plot = page.getByTestId('history-plot');
    await expect.poll(() => plot.getAttribute('data-points').then(Number), { timeout: 20_000 }).toBeGreaterThan(50);
    // Let the range move on by a few seconds of samples.
    await page.waitForTimeout(4000);
    const cut = Date.now() - 600_000;
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const rows = fs.readFileSync((await download.path())!, 'utf8').trim().split('\n').slice(1);
    expect(rows.length).toBeGreaterThan(10);
    const early = rows.map((r) => Number(r.split(',')[1])).filter((t) => t < cut);
    expect(early, 'rows older than the range shown').toEqual([]);
    expect(browser.errors).toEqual([]);
  }, 60_000);
});
