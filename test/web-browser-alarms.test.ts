/**
 * Issue 6, "done means", in headless Chromium against the real chain (Julabo simulator → daemon →
 * monitor with a threshold alarm → SQLite archive → web): the alarm raises after its delay, the
 * page shows the banner and a browser notification, an operator acknowledges it with the button,
 * and it clears only past its hysteresis; every transition is in the archive and on the page.
 *
 * Headless Chromium has no notification centre, so the page's Notification API is replaced by a
 * recorder before the page loads: the test sees exactly what the page asked the browser to show.
 */
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { parseTokenFile } from '../src/server/index.js';
import { startWebLab, type WebLab } from '../src/web/test-helpers/web-lab.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';
import { eventually } from './helpers/julabo-lab.js';

warnIfNoChromium('alarm browser tests');

const TEST = { who: 'test', peer: 'test' };

interface Recorded {
  title: string;
  body: string;
  tag: string;
}

declare global {
  interface Window {
    recordedNotifications?: Recorded[];
  }
}

describe.skipIf(!haveChromium)('an alarm on the page', () => {
  let lab: WebLab;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    lab = await startWebLab({
      sim: { running: true, setpoint: 20, initialTemperature: 20, timeScale: 300 },
      chillerOptions: { settleSeconds: 0.3, tolerance: 0.3 },
      alarms: [
        { id: 'bath_hot', type: 'threshold', param: 'chiller.temperature', above: 24, hysteresis: 2, delayMs: 1000, severity: 'critical', description: 'bath above 24 °C' },
        { id: 'chiller_link', type: 'disconnected', client: 'chiller', delayMs: 5000, severity: 'warning' },
      ],
      web: { tokens: parseTokenFile('operator oper-token-0123456789 otto\n', 'test') },
    });
    browser = await openBrowser({ allowOnly: lab.web.url });
    page = browser.page;
    await browser.ctx.addInitScript(() => {
      const recorded: Recorded[] = [];
      window.recordedNotifications = recorded;
      let permission: NotificationPermission = 'default';
      class RecordingNotification {
        static get permission(): NotificationPermission {
          return permission;
        }
        static requestPermission(): Promise<NotificationPermission> {
          permission = 'granted';
          return Promise.resolve(permission);
        }
        constructor(title: string, opts: NotificationOptions = {}) {
          recorded.push({ title, body: opts.body ?? '', tag: opts.tag ?? '' });
        }
      }
      Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true });
    });
    await page.goto(`${lab.web.url}#/alarms`);
    await page.getByLabel('Token').fill('oper-token-0123456789');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('[data-testid="chip-chiller"].on').waitFor({ timeout: 15_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  });

  it('raises after its delay, notifies, is acknowledged in the browser, clears with hysteresis, all archived', async () => {
    const panel = page.getByTestId('alarms-panel');
    expect(await panel.getByTestId('alarms-none').textContent()).toBe('No active alarms.');
    expect(await page.getByTestId('alarm-banner').count()).toBe(0);
    await panel.getByTestId('enable-notifications').click();
    await panel.getByTestId('notifications-on').waitFor();

    // Heat the bath past 24 °C: the alarm waits its delay, then raises.
    const heatedAt = Date.now();
    expect(await lab.monitor.send('chiller', 'set setpoint=30', TEST)).toMatch(/^ok set/);
    const banner = page.getByTestId('alarm-banner');
    await banner.waitFor({ timeout: 20_000 });
    expect(await banner.textContent()).toContain('bath_hot (critical) bath above 24 °C');
    expect(await banner.getAttribute('role')).toBe('alert');
    expect(await panel.getByTestId('alarm-state-bath_hot').textContent()).toBe('raised');
    expect(await page.title()).toMatch(/^\(1\) /);
    await page.screenshot({ path: path.join(os.tmpdir(), 'labwire-web-alarm-raised.png'), fullPage: true });
    // The overview colours the value the alarm watches, the banner stays, the tab counts it.
    await page.getByTestId('nav-overview').click();
    await expect.poll(() => page.getByTestId('kv-chiller-temperature').getAttribute('class'), { timeout: 5000 }).toContain('al-critical');
    expect(await page.getByTestId('kv-chiller-setpoint').getAttribute('class')).not.toContain('al-');
    expect(await page.getByTestId('alarm-banner').count()).toBe(1);
    expect(await page.getByTestId('nav-alarms-count').textContent()).toBe('1');
    await page.getByTestId('nav-alarms').click();
    const raised = lab.monitor.alarms().find((a) => a.id === 'bath_hot')!;
    expect(raised.raisedAt! - heatedAt).toBeGreaterThanOrEqual(1000);
    const notes = await eventually(async () => {
      const n = await page.evaluate(() => window.recordedNotifications ?? []);
      expect(n).toHaveLength(1);
      return n;
    }, 5000);
    expect(notes[0]).toMatchObject({ title: 'labwire alarm: bath_hot (critical)', tag: 'labwire-alarm-bath_hot' });
    expect(notes[0]!.body).toMatch(/above 24/);

    // The operator acknowledges it on the page: the banner goes, who and when are shown.
    await panel.getByTestId('ack-bath_hot').click();
    await expect.poll(() => panel.getByTestId('alarm-state-bath_hot').textContent(), { timeout: 5000 }).toBe('acknowledged');
    expect(await panel.getByTestId('alarm-ackby-bath_hot').textContent()).toMatch(/^otto, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(await page.getByTestId('alarm-banner').count()).toBe(0);
    expect(await panel.getByTestId('ack-bath_hot').count()).toBe(0);
    expect(lab.monitor.alarms().find((a) => a.id === 'bath_hot')).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'otto' });

    // Cooling: below 24 °C but above 22 °C it stays; it clears only past the hysteresis band.
    expect(await lab.monitor.send('chiller', 'set setpoint=18', TEST)).toMatch(/^ok set/);
    await expect.poll(() => panel.getByTestId('alarms-none').count(), { timeout: 20_000 }).toBe(1);
    const cleared = lab.monitor.alarms().find((a) => a.id === 'bath_hot')!;
    expect(cleared.state).toBe('cleared');
    expect(cleared.value).toBeLessThanOrEqual(22);

    // All of it is in the archive's alarm history, and the page's history table shows it.
    const history = await eventually(async () => {
      const h = await lab.archive.alarmHistory!({ id: 'bath_hot' });
      expect(h.map((e) => e.to)).toEqual(['cleared', 'acknowledged', 'raised']);
      return h;
    }, 5000);
    expect(history[1]).toMatchObject({ who: 'otto', severity: 'critical' });
    expect(history[0]!.value).toBeLessThanOrEqual(22);
    const table = page.getByTestId('alarm-history');
    await expect.poll(async () => (await table.textContent()) ?? '', { timeout: 10_000 }).toMatch(/cleared.*acknowledged.*otto.*raised/s);
    // One notification: acknowledging and clearing do not notify again.
    expect(await page.evaluate(() => window.recordedNotifications?.length)).toBe(1);
    // Defect 9: the alarm history table was 405 px wide on a 390 px phone; now it scrolls in its own box.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => page.evaluate(() => document.scrollingElement!.scrollWidth), { timeout: 5000 }).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(browser.errors).toEqual([]);
  }, 60_000);
});
