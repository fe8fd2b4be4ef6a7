/**
 * The page in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
 * against the real chain: Julabo simulator → daemon → monitor → SQLite archive → web.
 * Skipped, with a message, where Chromium is not installed (CI installs it).
 */
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startWebLab, type WebLab } from '../src/web/test-helpers/web-lab.js';
import { startWeb, type WebServer } from '../src/web/server.js';
import { FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { parseTokenFile } from '../src/server/index.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually } from './helpers/julabo-lab.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';

warnIfNoChromium('web-browser tests');

const YEAR_MS = 365 * 86_400_000;
const STEP_MS = 600_000;

describe.skipIf(!haveChromium)('the page in headless Chromium', () => {
  let lab: WebLab;
  let browser: TestBrowser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    // Running towards 10 °C at 30× speed: the temperature moves every poll.
    lab = await startWebLab({ sim: { running: true, setpoint: 10, timeScale: 30 } });
    // A year of synthetic samples, one per 10 minutes, for the history explorer.
    const now = Date.now();
    const samples = [];
    for (let t = now - YEAR_MS; t <= now; t += STEP_MS) {
      samples.push({ device: 'test', name: 'year_series', t, value: 20 + 5 * Math.sin((2 * Math.PI * t) / YEAR_MS) + Math.sin((2 * Math.PI * t) / 86_400_000) });
    }
    await lab.archive.write(samples);
    // No request may leave the server under test.
    browser = await openBrowser({ allowOnly: lab.web.url });
    ({ page, errors } = browser);
    // Every device's card: the shell's Devices view; the tools are reached by their tabs below.
    await page.goto(`${lab.web.url}#/devices`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  });

  it('loads with every device connected', async () => {
    const chip = page.getByTestId('chip-chiller');
    await expect.poll(() => chip.getAttribute('class'), { timeout: 10_000 }).toContain('on');
    await expect.poll(() => page.getByTestId('conn-chiller').textContent(), { timeout: 10_000 }).toBe('connected');
    expect(await page.getByTestId('stream-state').textContent()).toBe('live');
    expect(await page.getByTestId('state-chiller').textContent()).toMatch(/^(idle|busy|ramping|stabilizing|warn|error|disabled)$/);
    expect(await page.locator('[data-testid="plot-chiller-temperature"] canvas').count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('updates a live value', async () => {
    const cell = page.getByTestId('value-chiller-temperature');
    await expect.poll(() => cell.textContent(), { timeout: 10_000 }).toMatch(/^-?\d/);
    const first = await cell.textContent();
    await expect.poll(() => cell.textContent(), { timeout: 10_000 }).not.toBe(first);
  });

  it('changes a parameter with a form: the simulator follows and the audit trail has it', async () => {
    const card = page.getByTestId('device-chiller');
    const form = card.getByTestId('form-chiller-setpoint');
    await form.getByLabel('setpoint').fill('15.5');
    await form.getByRole('button', { name: 'Set' }).click();
    await expect.poll(() => form.getByTestId('ok-chiller-setpoint').textContent(), { timeout: 5000 }).toContain('15.5');
    expect(lab.sim.setpoint).toBe(15.5);
    await expect.poll(() => card.getByTestId('value-chiller-setpoint').textContent(), { timeout: 5000 }).toBe('15.5');
    await eventually(async () => {
      const trail = await lab.archive.auditTrail({ device: 'chiller' });
      expect(trail.some((a) => a.command.includes('setpoint=15.5') && a.who === 'web')).toBe(true);
    }, 5000);
  });

  it('shows a validation error inline next to the field', async () => {
    const form = page.getByTestId('form-chiller-setpoint');
    const input = form.getByLabel('setpoint');
    await input.fill('55');
    await form.getByRole('button', { name: 'Set' }).click();
    const err = form.getByTestId('error-chiller-setpoint');
    await expect.poll(() => err.textContent(), { timeout: 5000 }).toMatch(/40/);
    expect(await err.getAttribute('role')).toBe('alert');
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect(lab.sim.setpoint).toBe(15.5);
  });

  it('sends a line from the command line, with history', async () => {
    await page.getByTestId('nav-console').click();
    const line = page.getByLabel('Command', { exact: true });
    await line.fill('get_id');
    await line.press('Enter');
    await expect.poll(() => page.getByTestId('command-output').textContent(), { timeout: 5000 }).toContain('id name=chiller');
    await line.press('ArrowUp');
    expect(await line.inputValue()).toBe('get_id');
  });

  it('draws a year-long series in the history explorer, binned', async () => {
    await page.getByTestId('nav-history').click();
    await page.getByRole('button', { name: '↻' }).click();
    await page.getByLabel('Find series').fill('year');
    await expect.poll(() => page.getByTestId('hx-pick-test-year_series').count(), { timeout: 5000 }).toBe(1);
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/history?') && r.url().includes('name=year_series')),
      page.getByTestId('hx-pick-test-year_series').check(),
    ]);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/history?') && r.url().includes('name=year_series')),
      page.getByRole('button', { name: '1 year' }).click(),
    ]);
    expect(res.status()).toBe(200);
    const url = new URL(res.url());
    const maxPoints = Number(url.searchParams.get('maxPoints'));
    expect(Number(url.searchParams.get('to')) - Number(url.searchParams.get('from'))).toBeGreaterThanOrEqual(YEAR_MS - 1000);
    const body = (await res.json()) as { source: string; binMs: number; points: Array<{ min?: number; max?: number }> };
    expect(maxPoints).toBeGreaterThan(0);
    // About two points per pixel of the plot's width.
    expect(maxPoints).toBeLessThanOrEqual(4000);
    expect(body.points.length).toBeGreaterThan(10);
    expect(body.points.length).toBeLessThanOrEqual(maxPoints);
    expect(body.source).not.toBe('raw');
    expect(body.points[0]).toHaveProperty('min');
    await expect.poll(() => page.locator('[data-testid="history-plot"] canvas').count(), { timeout: 5000 }).toBe(1);
    await expect.poll(() => page.getByTestId('history-info').textContent(), { timeout: 5000 }).toMatch(/bins of/);
    expect(await page.getByRole('link', { name: 'raw CSV' }).getAttribute('href')).toContain('/api/history.csv?device=test&name=year_series');
  });

  it('zooms by dragging across the history plot, re-querying the narrower range', async () => {
    const over = page.locator('[data-testid="history-plot"] .u-over');
    await over.scrollIntoViewIfNeeded();
    const box = (await over.boundingBox())!;
    const y = box.y + box.height / 2;
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/history?') && r.url().includes('name=year_series'), { timeout: 5000 }),
      (async () => {
        await page.mouse.move(box.x + box.width * 0.4, y);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.5, y, { steps: 5 });
        await page.mouse.up();
      })(),
    ]);
    const url = new URL(res.url());
    const span = Number(url.searchParams.get('to')) - Number(url.searchParams.get('from'));
    expect(span).toBeGreaterThan(YEAR_MS * 0.05);
    expect(span).toBeLessThan(YEAR_MS * 0.15);
    const body = (await res.json()) as { binMs: number };
    expect(body.binMs).toBeLessThan(9 * 3_600_000);
    expect(await page.getByRole('button', { name: '1 year' }).getAttribute('aria-pressed')).toBe('false');
    await page.getByRole('button', { name: 'reset zoom' }).click();
    expect(await page.getByRole('button', { name: '1 h' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('looks right on a laptop and on a phone (screenshots)', async () => {
    await page.getByRole('button', { name: '1 year' }).click();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(os.tmpdir(), 'labwire-web-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(os.tmpdir(), 'labwire-web-phone.png'), fullPage: true });
    await page.getByTestId('nav-devices').click();
    await page.getByTestId('device-chiller').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!haveChromium)('login and read-only in headless Chromium', () => {
  let browser: TestBrowser;
  let web: WebServer;

  beforeAll(async () => {
    browser = await openBrowser();
    web = await startWeb({
      monitor: new FakeMonitor({ readOnly: true }),
      port: 0,
      logger: silentLogger(),
      tokens: parseTokenFile('operator oper-token-0123456789 bob', 'test'),
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await web?.close();
  });

  it('asks for a token, keeps an HttpOnly session cookie, and shows read-only without write forms', async () => {
    const { page, ctx } = browser;
    await page.goto(`${web.url}#/devices`);
    await page.getByLabel('Token').fill('wrong-token-xxxxxxxx');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 5000 }).toContain('unknown token');
    await page.getByLabel('Token').fill('oper-token-0123456789');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByTestId('read-only').textContent(), { timeout: 5000 }).toBe('read-only');
    await expect.poll(() => page.getByTestId('value-chiller-temperature').textContent(), { timeout: 5000 }).toBe('21.5');
    expect(await page.getByTestId('form-chiller-setpoint').count()).toBe(0);
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === 'labwire_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.getByRole('button', { name: 'Log out' }).click();
    await expect.poll(() => page.getByLabel('Token').count(), { timeout: 5000 }).toBe(1);
  });
});

describe.skipIf(!haveChromium)('the next person at the page in headless Chromium', () => {
  let browser: TestBrowser;
  let web: WebServer;

  beforeAll(async () => {
    browser = await openBrowser();
    web = await startWeb({
      monitor: new FakeMonitor(),
      port: 0,
      logger: silentLogger(),
      tokens: parseTokenFile('operator alice-token-0123456789 alice\noperator bob-token-01234567890 bob', 'test'),
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await web?.close();
  });

  it("sees none of the previous user's console transcript, command history or log filter after a log out", async () => {
    const { page } = browser;
    const logIn = async (token: string): Promise<void> => {
      await page.getByLabel('Token').fill(token);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByTestId('nav-console').waitFor({ timeout: 10_000 });
    };
    await page.goto(`${web.url}#/console`);
    await logIn('alice-token-0123456789');
    await page.getByTestId('nav-console').click();
    const line = page.getByLabel('Command', { exact: true });
    await line.fill('ping');
    await line.press('Enter');
    await expect.poll(() => page.getByTestId('command-output').textContent(), { timeout: 10_000 }).toContain('pong');
    await page.getByTestId('nav-log').click();
    await page.getByTestId('messages-search').fill('alice was here');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Token').waitFor({ timeout: 10_000 });

    await logIn('bob-token-01234567890');
    await page.getByTestId('nav-console').click();
    const output = page.getByTestId('command-output');
    await page.getByLabel('Command', { exact: true }).waitFor({ timeout: 10_000 });
    expect((await output.count()) === 0 || !(await output.textContent())?.includes('pong')).toBe(true);
    await page.getByLabel('Command', { exact: true }).press('ArrowUp');
    expect(await page.getByLabel('Command', { exact: true }).inputValue()).toBe('');
    await page.getByTestId('nav-log').click();
    expect(await page.getByTestId('messages-search').inputValue()).toBe('');
  });
});
