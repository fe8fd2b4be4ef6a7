/**
 * Issue 6, "done means", in headless Chromium against the real chain: a Julabo thermal cycle
 * (15 ↔ 35 °C, 3 cycles) and a Cryo-con ramp with a hold-until-stable step, each uploaded,
 * previewed, started from the device card and run to completion through a daemon restart
 * (onRestart=resume), shown live on the page. The simulators run fast (600× and 3000×) and the
 * programmes last seconds (minutes as fractions).
 */
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { startWebLab, type WebLab } from '../src/web/test-helpers/web-lab.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';
import { eventually } from './helpers/julabo-lab.js';

warnIfNoChromium('programme browser tests');

/** Reads a card's progress text until it changes `times` times: the page follows the run live. */
async function seeProgressMove(cell: Locator, times: number, timeoutMs: number): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (seen.length <= times && Date.now() < deadline) {
    const v = Number.parseFloat((await cell.textContent()) ?? '');
    if (Number.isFinite(v) && v !== seen.at(-1)) seen.push(v);
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

/** The text once two reads half a second apart agree (bounded: 10 s). */
async function steadyText(cell: Locator): Promise<string | null> {
  let last = await cell.textContent();
  const deadline = Date.now() + 10_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await cell.textContent();
    if (now === last || Date.now() > deadline) return now;
    last = now;
  }
}

describe.skipIf(!haveChromium)('programmes from the device card, through daemon restarts', () => {
  let lab: WebLab;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    lab = await startWebLab({
      sim: { running: true, setpoint: 20, initialTemperature: 20, timeScale: 600 },
      chillerOptions: { settleSeconds: 0.3, tolerance: 0.3 },
      cryo: { timeScale: 3000 },
      cryoOptions: { settleSeconds: 3 },
      programme: { tickMs: 50, minStep: 0.05, onRestart: 'resume' },
    });
    browser = await openBrowser({ allowOnly: lab.web.url });
    page = browser.page;
    await page.goto(`${lab.web.url}#/devices`);
    await page.getByTestId('conn-cryo').filter({ hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    await page.getByTestId('conn-chiller').filter({ hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  });

  it('Julabo: a CSV thermal cycle 15 ↔ 35 °C × 3 is uploaded, previewed, started and finishes through a daemon restart', async () => {
    const card = page.getByTestId('device-chiller');
    const form = card.getByTestId('programme-form-chiller');
    // Per cycle: 1.8 s up, 1.8 s at 35 °C, 1.8 s down (3, 3 and 3 minutes for the 600× bath).
    const csv = 'elapsed_minutes,temperature_c\n0,15\n0.03,35\n0.06,35\n0.09,15\n';
    await card.locator('summary', { hasText: 'Programme' }).click();
    await form.getByLabel('File').setInputFiles({ name: 'cycle.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await form.getByLabel('Parameter').selectOption('setpoint');
    await form.getByLabel('Loops').fill('3');
    await form.getByRole('button', { name: 'Load' }).click();
    await expect.poll(() => form.getByTestId('ok-programme-chiller').textContent(), { timeout: 15_000 }).toContain('loaded cycle.csv: 4 points, 0 holds, 3 loop(s)');

    // The preview: 3 loops × 4 vertices, drawn before anything runs.
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('loaded');
    const plot = card.getByTestId('programme-plot-chiller');
    await expect.poll(() => plot.getAttribute('data-vertices'), { timeout: 15_000 }).toBe('12');
    await expect.poll(() => plot.locator('canvas').count(), { timeout: 15_000 }).toBe(1);
    expect(lab.sim.setpoint).toBe(20);

    await card.getByTestId('programme-start-chiller').click();
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('running');
    const progress = card.getByTestId('programme-progress-chiller');
    const moving = await seeProgressMove(progress, 2, 10_000);
    await card.screenshot({ path: path.join(os.tmpdir(), 'labwire-web-programme-running.png') });
    expect(moving.length).toBeGreaterThanOrEqual(3);

    // Pause holds the clock (and the progress); Resume goes on from there.
    await card.getByTestId('programme-pause-chiller').click();
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('paused');
    // A status read that was under way when the pause landed may still show one later figure.
    const held = await steadyText(progress);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await progress.textContent()).toBe(held);
    expect(await card.getByRole('button', { name: 'Resume' }).count()).toBe(1);
    await card.getByTestId('programme-start-chiller').click();
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('running');

    // The daemon goes away mid-programme and comes back: the programme resumes where it was.
    const before = Number.parseFloat((await progress.textContent()) ?? '');
    expect(before).toBeLessThan(100);
    await lab.restartDaemon('chiller');
    // A stopped programme (onRestart=stop) would never finish: finishing means it resumed.
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 20_000 }).toBe('finished');
    expect(await progress.textContent()).toBe('100 %');
    expect(lab.sim.setpoint).toBe(15);
    expect(await card.getByTestId('conn-chiller').textContent()).toBe('connected');

    // Three dwells at 35 °C in the archived setpoint, before and after the restart, ending at 15.
    const applied = await eventually(async () => {
      const h = await lab.archive.history('chiller', 'setpoint', Date.now() - 120_000, Date.now(), 10_000);
      const values = h.points.map((p) => p.v).filter((v): v is number => typeof v === 'number');
      expect(values.filter((v, i) => v === 35 && values[i - 1] !== 35), values.join(' ')).toHaveLength(3);
      expect(values.at(-1)).toBe(15);
      return values;
    }, 15_000);
    expect(Math.max(...applied)).toBe(35);
    // What the restarted daemon said before the monitor reconnected reaches the message log and
    // the archive (replayed with `subscribe log_since=`), with the daemon's time.
    await eventually(async () => {
      const log = await lab.archive.messages({ source: 'chiller', limit: 1000 });
      expect(log.filter((m) => m.message.includes('resuming the programme on setpoint after a daemon restart'))).toHaveLength(1);
    }, 15_000);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('Cryo-con: a YAML ramp with a hold until stable finishes through a daemon restart during the hold', async () => {
    const card = page.getByTestId('device-cryo');
    const form = card.getByTestId('programme-form-cryo');
    const start = Number(await card.getByTestId('value-cryo-loop1_setpoint').textContent());
    expect(Number.isFinite(start)).toBe(true);
    const yaml = ['points:', `  - {minutes: 0, value: ${start}}`, '  - {minutes: 0.02, value: 280}', '  - hold: {until: stable}', '  - {minutes: 0.04, value: 275}', ''].join('\n');
    await card.locator('summary', { hasText: 'Programme' }).click();
    await form.getByLabel('File').setInputFiles({ name: 'ramp.yaml', mimeType: 'application/yaml', buffer: Buffer.from(yaml) });
    await form.getByLabel('Parameter').selectOption('loop1.setpoint');
    await form.getByRole('button', { name: 'Load' }).click();
    await expect.poll(() => form.getByTestId('ok-programme-cryo').textContent(), { timeout: 15_000 }).toContain('3 points, 1 holds');
    await expect.poll(() => card.getByTestId('programme-plot-cryo').getAttribute('data-vertices'), { timeout: 15_000 }).toBe('4');

    await card.getByTestId('programme-start-cryo').click();
    const detail = card.getByTestId('programme-detail-cryo');
    await expect.poll(() => detail.textContent(), { timeout: 15_000 }).toContain('holding until stable');
    await lab.restartDaemon('cryo');
    await expect.poll(() => card.getByTestId('programme-state-cryo').textContent(), { timeout: 30_000 }).toBe('finished');
    await expect.poll(() => card.getByTestId('value-cryo-loop1_setpoint').textContent(), { timeout: 15_000 }).toBe('275');
    expect(lab.cryoSim!.loop(1).setpoint).toBe(275);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('Stop ends a running programme from the card and leaves the setpoint where it was', async () => {
    const card = page.getByTestId('device-chiller');
    const form = card.getByTestId('programme-form-chiller');
    await form.getByLabel('File').setInputFiles({ name: 'slow.csv', mimeType: 'text/csv', buffer: Buffer.from('0,20\n10,30\n') });
    await form.getByLabel('Loops').fill('1');
    await form.getByRole('button', { name: 'Load' }).click();
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('loaded');
    await card.getByTestId('programme-start-chiller').click();
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('running');
    // The first point is on the device (a verified Julabo set takes about half a second).
    await eventually(() => expect(lab.sim.setpoint).toBeGreaterThanOrEqual(20), 5000);
    await card.getByTestId('programme-stop-chiller').click();
    await expect.poll(() => card.getByTestId('programme-state-chiller').textContent(), { timeout: 15_000 }).toBe('stopped');
    // A write already under way when Stop came may still land; after that nothing moves.
    await new Promise((r) => setTimeout(r, 800));
    const at = lab.sim.setpoint;
    expect(at).toBeGreaterThanOrEqual(20);
    expect(at).toBeLessThan(21);
    await new Promise((r) => setTimeout(r, 1500));
    expect(lab.sim.setpoint).toBe(at);
    expect(await card.getByTestId('programme-stop-chiller').isDisabled()).toBe(true);
    expect(browser.errors).toEqual([]);
  }, 30_000);
});
