/**
 * The images panel in real headless Chromium: the card of an image source shows the latest
 * frame drawn from its pixels, its histogram, header and recent images with downloads, live
 * exposure progress, and loads a new image when the live `image` event arrives — without a page
 * reload. Bad pixel answers show an error; the page fits a phone without horizontal scrolling.
 *
 * Until part "web" is on main, the image routes and the event come from test/helpers/images-fixture.ts
 * (the real page, session and stream over a FakeMonitor; FITS files made by src/fits).
 * With LABWIRE_SCREENSHOTS=<dir>, also writes the card at desktop and phone sizes there.
 * Skipped, with a message, where Chromium is not installed (CI installs it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';
import { startImagesFixture, type ImagesFixture } from './helpers/images-fixture.js';

warnIfNoChromium('web-browser-images tests');

/** Distinct grey levels of the drawn canvas and the grey at a point given as fractions of its size. */
async function canvasFacts(page: Page, at: [number, number] = [0.02, 0.98]): Promise<{ width: number; height: number; levels: number; grey: number; sum: number }> {
  return page.getByTestId('image-canvas-ccd').evaluate((el, [fx, fy]) => {
    const c = el as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) {
      seen.add(d[i]!);
      sum += d[i]!;
    }
    const x = Math.floor(fx * c.width);
    const y = Math.floor(fy * c.height);
    return { width: c.width, height: c.height, levels: seen.size, grey: d[(y * c.width + x) * 4]!, sum };
  }, at);
}

/** Back to following the newest image, when the user had picked another. */
async function showNewest(page: Page): Promise<void> {
  const button = page.getByRole('button', { name: 'Show newest' });
  if ((await button.count()) > 0) await button.click();
}

describe.skipIf(!haveChromium)('the images panel in headless Chromium', () => {
  let fx: ImagesFixture;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    fx = await startImagesFixture();
    fx.addImage({ frame: 1, type: 'dark', exptime: 2, object: '' });
    browser = await openBrowser({ allowOnly: fx.url });
    page = browser.page;
    await page.goto(fx.url);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fx?.close();
  });

  it('shows the latest image of the image source on a canvas, with histogram, header and downloads', async () => {
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe('1');
    const facts = await canvasFacts(page);
    expect([facts.width, facts.height]).toEqual([256, 192]);
    // A real picture, not a blank: many grey levels.
    expect(facts.levels).toBeGreaterThan(20);
    // The bright block at FITS pixel (1,1) is drawn at the lower left (rows flipped as DS9 does).
    expect(facts.grey).toBe(255);
    expect((await canvasFacts(page, [0.02, 0.02])).grey).toBeLessThan(255);
    expect(await page.getByTestId('image-caption-ccd').textContent()).toContain('frame 1 · dark · 2 s');
    expect(Number(await page.getByTestId('image-hist-ccd').getAttribute('data-bins'))).toBeGreaterThan(10);

    // The header: folded, then filterable.
    const header = page.getByTestId('image-header-ccd');
    expect(await header.getAttribute('open')).toBeNull();
    await header.locator('summary').click();
    const rows = header.locator('tbody tr');
    expect(await rows.count()).toBeGreaterThan(40);
    await page.getByTestId('image-header-filter-ccd').fill('chiller');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('LABWIRE CHILLER TEMPERATURE');
    expect(await rows.first().textContent()).toContain('21.5');
    await page.getByTestId('image-header-filter-ccd').fill('');

    // Recent images with their FITS download.
    const list = page.getByTestId('image-list-ccd');
    expect(await list.locator('li').count()).toBe(1);
    const href = await page.getByTestId('image-fits-ccd-1').getAttribute('href');
    expect(href).toBe('/api/images/1/fits');
    const fits = await page.evaluate(async (u) => {
      const r = await fetch(u);
      return { type: r.headers.get('content-type'), start: new TextDecoder().decode((await r.arrayBuffer()).slice(0, 30)) };
    }, href!);
    expect(fits.type).toBe('application/fits');
    expect(fits.start).toMatch(/^SIMPLE {2}= +T/);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('switches the stretch without fetching again', async () => {
    const before = await canvasFacts(page);
    await page.getByTestId('image-stretch-ccd').selectOption('asinh');
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-stretch')).toBe('asinh');
    expect((await canvasFacts(page)).sum).not.toBe(before.sum);
    await page.getByTestId('image-stretch-ccd').selectOption('zscale');
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-stretch')).toBe('zscale');
    expect((await canvasFacts(page)).sum).toBe(before.sum);
  });

  it('shows exposure progress from the live values', async () => {
    const progress = page.getByTestId('image-progress-ccd');
    expect(await progress.getAttribute('data-phase')).toBe('idle');
    fx.monitor.setValues('ccd', { phase: 'exposing', state: 'busy', state_text: 'exposing 2.5 of 10 s', exposure_time: 10, exposure_elapsed: 2.5 });
    await expect.poll(() => progress.getAttribute('data-phase'), { timeout: 10_000 }).toBe('exposing');
    expect(await progress.locator('progress').evaluate((p) => (p as HTMLProgressElement).value)).toBeCloseTo(0.25, 6);
    expect(await progress.textContent()).toContain('exposing 2.5 of 10 s');
    fx.monitor.setValues('ccd', { phase: 'reading_out', state_text: 'reading out 40 %', readout_percent: 40 });
    await expect.poll(() => progress.locator('progress').evaluate((p) => (p as HTMLProgressElement).value), { timeout: 10_000 }).toBeCloseTo(0.4, 6);
    fx.monitor.setValues('ccd', { phase: 'fetching', state_text: 'fetching frame 2' });
    await expect.poll(() => progress.textContent(), { timeout: 10_000 }).toContain('fetching frame 2');
    // Fetching has no measure: an indeterminate bar.
    expect(await progress.locator('progress').evaluate((p) => p.hasAttribute('value'))).toBe(false);
  });

  it('loads a new image when the live image event arrives, without a page reload', async () => {
    await page.evaluate(() => {
      (window as unknown as { stillThisPage: boolean }).stillThisPage = true;
    });
    fx.monitor.setValues('ccd', { phase: 'idle', state: 'idle', state_text: 'ready' });
    const second = fx.addImage({ frame: 2, type: 'object', exptime: 10, object: 'M42' });
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(second.id));
    expect(await page.getByTestId('image-caption-ccd').textContent()).toContain('frame 2 · object · 10 s · M42');
    expect(await page.getByTestId('image-list-ccd').locator('li').count()).toBe(2);
    expect(await page.getByTestId('image-list-ccd').locator('li').first().getAttribute('data-image-id')).toBe(String(second.id));
    expect(await page.getByTestId('image-progress-ccd').getAttribute('data-phase')).toBe('idle');
    expect(await page.evaluate(() => (window as unknown as { stillThisPage?: boolean }).stillThisPage)).toBe(true);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('keeps an older image the user picked when a newer one arrives, and goes back to the newest', async () => {
    const list = page.getByTestId('image-list-ccd');
    await list.locator('li[data-image-id="1"] button').click();
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id')).toBe('1');
    const third = fx.addImage({ frame: 3 });
    await expect.poll(() => list.locator('li').count(), { timeout: 15_000 }).toBe(3);
    expect(await canvas.getAttribute('data-image-id')).toBe('1');
    await page.getByRole('button', { name: 'Show newest' }).click();
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(third.id));
  }, 60_000);

  it('draws a 32-bit frame as well', async () => {
    const wide = fx.addImage({ frame: 7 }, { wide: true });
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(wide.id));
    const facts = await canvasFacts(page);
    expect(facts.levels).toBeGreaterThan(20);
    expect(facts.grey).toBe(255);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('says so when an image cannot be read, and keeps working', async () => {
    const err = page.getByTestId('image-error-ccd');
    const short = fx.addImage({ frame: 4 }, { pixels: 'short' });
    await expect.poll(() => err.textContent(), { timeout: 15_000 }).toContain(`image ${short.id}: the pixel data has 49152 bytes; a 256 × 192 frame of 16-bit pixels needs 98304`);
    const failed = fx.addImage({ frame: 5 }, { pixels: 'error' });
    await expect.poll(() => err.textContent(), { timeout: 15_000 }).toContain(`image ${failed.id}: ccd could not deliver the file: the link dropped (ImageFetchFailed)`);
    // Another image shows again, and the error goes.
    await page.getByTestId('image-list-ccd').locator('li[data-image-id="2"] button').click();
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-image-id'), { timeout: 15_000 }).toBe('2');
    await expect.poll(() => err.count()).toBe(0);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('catches up after the live stream dropped: images indexed meanwhile are listed and shown', async () => {
    const canvas = page.getByTestId('image-canvas-ccd');
    await showNewest(page);
    const missed = fx.addImage({ frame: 8, object: 'missed' }, { silent: true });
    fx.dropStreams();
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 20_000 }).toBe(String(missed.id));
    expect(await page.getByTestId('image-list-ccd').locator('li').first().getAttribute('data-image-id')).toBe(String(missed.id));
    await expect.poll(() => page.getByTestId('stream-state').textContent(), { timeout: 20_000 }).toBe('live');
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('fits a phone: the canvas scales to the card and nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('images-ccd').scrollIntoViewIfNeeded();
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const box = await page.getByTestId('image-canvas-ccd').boundingBox();
    expect(box!.width).toBeLessThanOrEqual(390);
    expect(box!.width).toBeGreaterThan(250);
    // The aspect ratio is kept.
    expect(box!.height / box!.width).toBeCloseTo(192 / 256, 1);
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
  });

  it.skipIf(!process.env.LABWIRE_SCREENSHOTS)('screenshots of the card at desktop and phone sizes', async () => {
    const dir = process.env.LABWIRE_SCREENSHOTS!;
    fs.mkdirSync(dir, { recursive: true });
    // A good frame as the newest (the fault test left broken ones).
    const good = fx.addImage({ frame: 6, type: 'flat', exptime: 3.5, object: 'dome flat' });
    await showNewest(page);
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(good.id));
    fx.monitor.setValues('ccd', { phase: 'exposing', state: 'busy', state_text: 'exposing 3.2 of 10 s', exposure_time: 10, exposure_elapsed: 3.2 });
    await expect.poll(() => page.getByTestId('image-progress-ccd').getAttribute('data-phase')).toBe('exposing');
    const header = page.getByTestId('image-header-ccd');
    if ((await header.getAttribute('open')) === null) await header.locator('summary').click();
    await page.getByTestId('image-header-filter-ccd').fill('labwire c');
    for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
      await page.setViewportSize(viewport);
      await page.waitForTimeout(500);
      // The page as it first shows, then the whole card (from a full-page shot, so the sticky header stays at the top).
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(dir, `images-${name}.png`) });
      const box = (await page.getByTestId('device-ccd').boundingBox())!;
      await page.screenshot({ path: path.join(dir, `images-card-${name}.png`), fullPage: true, clip: { x: Math.max(0, box.x - 8), y: Math.max(0, box.y - 8), width: Math.min(viewport.width, box.width + 16), height: box.height + 16 } });
    }
    expect(fs.existsSync(path.join(dir, 'images-card-phone.png'))).toBe(true);
  }, 60_000);
});
