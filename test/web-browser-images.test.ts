/**
 * The images panel in real headless Chromium against the real chain: a labwire image daemon on
 * 127.0.0.1:0 (src/monitor/test-helpers/image-daemon.ts) → the monitor, which indexes each new
 * `last_image` in a SQLite archive → the web server's image routes and live `image` event → the
 * page. The card of the image source shows the latest frame drawn from its pixels, its histogram,
 * header and recent images with downloads, live exposure progress, and loads a new image when the
 * event arrives — without a page reload; after the live stream dropped it catches up on what it
 * missed; a file the daemon fails to deliver shows an error; the page fits a phone.
 * With LABWIRE_SCREENSHOTS=<dir>, also writes the card at desktop and phone sizes there.
 * Skipped, with a message, where Chromium is not installed (CI installs it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openArchive, type Archive, type ImageRecord } from '../src/archive/index.js';
import { writeImage16 } from '../src/fits/index.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { ImageDaemon } from '../src/monitor/test-helpers/image-daemon.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';
import type { Hub } from '../src/web/hub.js';
import { createWebApp } from '../src/web/server.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';

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

const W = 256;
const H = 192;

/**
 * A recognisable frame: bias 1000 with a gradient, a hot column, stars whose places depend on
 * the frame number, and a bright block in the lower-left corner (FITS pixel 1,1) that shows
 * whether the page flips rows.
 */
function testFrame(frame: number): Uint16Array {
  const px = new Uint16Array(W * H);
  let seed = 1 + frame * 7919;
  const rand = (): number => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px[y * W + x] = 1000 + Math.round((x / W) * 60 + (y / H) * 30 + rand() * 12);
  for (let y = 0; y < H; y++) px[y * W + Math.floor(W * 0.7)] = 30000;
  for (let s = 0; s < 6 + frame; s++) {
    const cx = Math.floor(rand() * W);
    const cy = Math.floor(rand() * H);
    const peak = 5000 + rand() * 40000;
    for (let dy = -6; dy <= 6; dy++) {
      for (let dx = -6; dx <= 6; dx++) {
        const x = cx + dx;
        const y = cy + dy;
        if (x < 0 || y < 0 || x >= W || y >= H) continue;
        px[y * W + x] = Math.min(65535, Math.round(px[y * W + x]! + peak * Math.exp(-(dx * dx + dy * dy) / 4)));
      }
    }
  }
  for (let y = 0; y < H / 8; y++) for (let x = 0; x < W / 8; x++) px[y * W + x] = 20000;
  return px;
}

function stats(px: Uint16Array): { min: number; max: number; mean: number; median: number } {
  const sorted = Uint16Array.from(px).sort();
  const m = sorted.length >> 1;
  return { min: sorted[0]!, max: sorted[sorted.length - 1]!, mean: px.reduce((a, b) => a + b, 0) / px.length, median: (sorted[m - 1]! + sorted[m]!) / 2 };
}

/** Back to following the newest image, when the user had picked another. */
async function showNewest(page: Page): Promise<void> {
  const button = page.getByRole('button', { name: 'Show newest' });
  if ((await button.count()) > 0) await button.click();
}

describe.skipIf(!haveChromium)('the images panel in headless Chromium', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-browser-images-'));
  let daemon: ImageDaemon;
  let archive: Archive;
  let monitor: Monitor;
  let web: { url: string; hub: Hub; close(): Promise<void> };
  let browser: TestBrowser;
  let page: Page;
  let frames = 0;

  /** The daemon writes frame n and announces it as last_image, as the Archon daemon does. */
  const expose = (spec: { frame: number; type?: string; exptime?: number; object?: string }): string => {
    const pixels = testFrame(spec.frame);
    const type = spec.type ?? 'object';
    const exptime = spec.exptime ?? 1;
    const object = spec.object ?? 'test pattern';
    const t = Date.now();
    const cards = [
      { key: 'DATE-OBS', value: new Date(t).toISOString().replace('Z', ''), comment: 'UTC of exposure start' },
      { key: 'EXPTIME', value: exptime, comment: '[s] exposure time' },
      { key: 'IMAGETYP', value: type },
      { key: 'OBJECT', value: object },
      { key: 'FRAMENUM', value: spec.frame },
      { key: 'LABWIRE CHILLER TEMPERATURE', value: 21.5, comment: 'degC' },
      { key: 'LABWIRE CRYOCON LOOP1_SETPOINT', value: -100, comment: 'K' },
      ...Array.from({ length: 40 }, (_, i) => ({ key: `LABWIRE DEV${i % 7} PARAM${i}`, value: i * 1.5, comment: 'unit' })),
    ];
    const bytes = writeImage16({ width: W, height: H, pixels, cards });
    const file = path.join(dir, `archon-${spec.frame}.fits`);
    daemon.publish(file, bytes, { t, frame: spec.frame, exptime, type, object, width: W, height: H, bitpix: 16, ...stats(pixels) });
    frames++;
    return file;
  };

  /** Waits until the monitor has indexed the file; its record. */
  const indexed = (file: string): Promise<ImageRecord> =>
    eventually(async () => {
      const rec = (await archive.listImages!({ device: 'ccd' })).find((r) => r.path === file);
      expect(rec).toBeDefined();
      return rec!;
    }, 15_000);

  beforeAll(async () => {
    daemon = new ImageDaemon();
    await daemon.start();
    archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
    monitor = await startMonitor({ peers: [{ name: 'ccd', host: '127.0.0.1', port: daemon.port }], archive, listen: false, logger: silentLogger() });
    // The app without startWeb: the test needs the hub to drop the live streams.
    const { app, hub } = await createWebApp({ monitor, logger: silentLogger() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    web = { url: `http://127.0.0.1:${port}/`, hub, close: () => app.close() };
    await eventually(() => expect(monitor.peer('ccd')?.connected).toBe(true), 15_000);
    await indexed(expose({ frame: 1, type: 'dark', exptime: 2, object: '' }));
    browser = await openBrowser({ allowOnly: web.url });
    page = browser.page;
    // The image source's own view (the shell's device route).
    await page.goto(`${web.url}#/device/ccd`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await monitor?.close();
    await archive?.close();
    await daemon?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the latest image of the image source on a canvas, with histogram, header and downloads', async () => {
    const first = (await archive.listImages!({ device: 'ccd' }))[0]!;
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(first.id));
    const facts = await canvasFacts(page);
    expect([facts.width, facts.height]).toEqual([W, H]);
    // A real picture, not a blank: many grey levels.
    expect(facts.levels).toBeGreaterThan(20);
    // The bright block at FITS pixel (1,1) is drawn at the lower left (rows flipped as DS9 does).
    expect(facts.grey).toBe(255);
    expect((await canvasFacts(page, [0.02, 0.02])).grey).toBeLessThan(255);
    expect(await page.getByTestId('image-caption-ccd').textContent()).toContain('frame 1 · dark · 2 s');
    expect(Number(await page.getByTestId('image-hist-ccd').getAttribute('data-bins'))).toBeGreaterThan(10);

    // The header (read by the monitor from the file): folded, then filterable.
    const header = page.getByTestId('image-header-ccd');
    expect(await header.getAttribute('open')).toBeNull();
    await header.locator('summary').click();
    const rows = header.locator('tbody tr');
    expect(await rows.count()).toBeGreaterThan(40);
    await page.getByTestId('image-header-filter-ccd').fill('chiller');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
    expect(await rows.first().textContent()).toContain('LABWIRE CHILLER TEMPERATURE');
    expect(await rows.first().textContent()).toContain('21.5');
    await page.getByTestId('image-header-filter-ccd').fill('');

    // Recent images with their FITS download: the file the daemon wrote, byte for byte.
    const list = page.getByTestId('image-list-ccd');
    expect(await list.locator('li').count()).toBe(1);
    const href = await page.getByTestId(`image-fits-ccd-${first.id}`).getAttribute('href');
    expect(href).toBe(`/api/images/${first.id}/fits`);
    const fits = await page.evaluate(async (u) => {
      const r = await fetch(u);
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), start: new TextDecoder().decode(bytes.slice(0, 30)), length: bytes.length };
    }, href!);
    expect(fits.type).toBe('application/fits');
    expect(fits.disposition).toContain('archon-1.fits');
    expect(fits.start).toMatch(/^SIMPLE {2}= +T/);
    expect(fits.length).toBe(daemon.images.get(first.path)!.bytes.length);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('switches the stretch without fetching again', async () => {
    const before = await canvasFacts(page);
    await page.getByTestId('image-stretch-ccd').selectOption('asinh');
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-stretch'), { timeout: 10_000 }).toBe('asinh');
    expect((await canvasFacts(page)).sum).not.toBe(before.sum);
    await page.getByTestId('image-stretch-ccd').selectOption('zscale');
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-stretch'), { timeout: 10_000 }).toBe('zscale');
    expect((await canvasFacts(page)).sum).toBe(before.sum);
  });

  it('shows exposure progress from the live values', async () => {
    const progress = page.getByTestId('image-progress-ccd');
    expect(await progress.getAttribute('data-phase')).toBe('idle');
    daemon.set({ phase: 'exposing', state: 'busy', state_text: 'exposing 2.5 of 10 s', exposure_time: 10, exposure_elapsed: 2.5 });
    await expect.poll(() => progress.getAttribute('data-phase'), { timeout: 10_000 }).toBe('exposing');
    await expect.poll(() => progress.locator('progress').evaluate((p) => (p as HTMLProgressElement).value), { timeout: 10_000 }).toBeCloseTo(0.25, 6);
    expect(await progress.textContent()).toContain('exposing 2.5 of 10 s');
    daemon.set({ phase: 'reading_out', state_text: 'reading out 40 %', readout_percent: 40 });
    await expect.poll(() => progress.locator('progress').evaluate((p) => (p as HTMLProgressElement).value), { timeout: 10_000 }).toBeCloseTo(0.4, 6);
    daemon.set({ phase: 'fetching', state_text: 'fetching frame 2' });
    await expect.poll(() => progress.textContent(), { timeout: 10_000 }).toContain('fetching frame 2');
    // Fetching has no measure: an indeterminate bar.
    expect(await progress.locator('progress').evaluate((p) => p.hasAttribute('value'))).toBe(false);
  });

  it('loads a new image when the live image event arrives, without a page reload', async () => {
    await page.evaluate(() => {
      (window as unknown as { stillThisPage: boolean }).stillThisPage = true;
    });
    const file = expose({ frame: 2, type: 'object', exptime: 10, object: 'M42' });
    daemon.set({ phase: 'idle', state: 'idle', state_text: 'ready' });
    const second = await indexed(file);
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(second.id));
    expect(await page.getByTestId('image-caption-ccd').textContent()).toContain('frame 2 · object · 10 s · M42');
    expect(await page.getByTestId('image-list-ccd').locator('li').count()).toBe(2);
    expect(await page.getByTestId('image-list-ccd').locator('li').first().getAttribute('data-image-id')).toBe(String(second.id));
    await expect.poll(() => page.getByTestId('image-progress-ccd').getAttribute('data-phase'), { timeout: 10_000 }).toBe('idle');
    expect(await page.evaluate(() => (window as unknown as { stillThisPage?: boolean }).stillThisPage)).toBe(true);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('keeps an older image the user picked when a newer one arrives, and goes back to the newest', async () => {
    const list = page.getByTestId('image-list-ccd');
    const oldest = (await archive.listImages!({ device: 'ccd' })).at(-1)!;
    await list.locator(`li[data-image-id="${oldest.id}"] button`).click();
    const canvas = page.getByTestId('image-canvas-ccd');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 10_000 }).toBe(String(oldest.id));
    const third = await indexed(expose({ frame: 3 }));
    await expect.poll(() => list.locator('li').count(), { timeout: 15_000 }).toBe(3);
    expect(await canvas.getAttribute('data-image-id')).toBe(String(oldest.id));
    await page.getByRole('button', { name: 'Show newest' }).click();
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(third.id));
  }, 60_000);

  it('says so when the daemon cannot deliver the file, and keeps working', async () => {
    const canvas = page.getByTestId('image-canvas-ccd');
    const shownBefore = await canvas.getAttribute('data-image-id');
    // Indexed (image_info answers), but the link drops in the middle of the file's binary block.
    daemon.fault = 'dropMidBlock';
    const broken = await indexed(expose({ frame: 4 }));
    const err = page.getByTestId('image-error-ccd');
    await expect.poll(() => err.textContent(), { timeout: 20_000 }).toMatch(new RegExp(`^image ${broken.id}: cannot fetch archon-4\\.fits from ccd: .*connection.*\\(ImageFetchFailed\\)$`));
    // The frame shown before stays on the canvas.
    expect(await canvas.getAttribute('data-image-id')).toBe(shownBefore);
    daemon.fault = 'none';
    await eventually(() => expect(monitor.peer('ccd')?.connected).toBe(true), 15_000);
    // The next good frame shows, and the error goes.
    const good = await indexed(expose({ frame: 5 }));
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 20_000 }).toBe(String(good.id));
    await expect.poll(() => err.count(), { timeout: 10_000 }).toBe(0);
    expect(browser.errors).toEqual([]);
  }, 90_000);

  it('catches up after the live stream dropped: images indexed meanwhile are listed and shown', async () => {
    const canvas = page.getByTestId('image-canvas-ccd');
    await showNewest(page);
    // The stream ends and cannot come back until the image is indexed: its event is lost.
    const block = (route: { abort(): Promise<void> }): Promise<void> => route.abort();
    await page.route('**/api/stream', block);
    web.hub.closeAll('test: stream dropped');
    await expect.poll(() => page.getByTestId('stream-state').textContent(), { timeout: 15_000 }).toBe('offline');
    const missed = await indexed(expose({ frame: 6, object: 'missed' }));
    await page.unroute('**/api/stream', block);
    await expect.poll(() => page.getByTestId('stream-state').textContent(), { timeout: 20_000 }).toBe('live');
    await expect.poll(() => canvas.getAttribute('data-image-id'), { timeout: 20_000 }).toBe(String(missed.id));
    expect(await page.getByTestId('image-list-ccd').locator('li').first().getAttribute('data-image-id')).toBe(String(missed.id));
    expect(browser.errors.filter((e) => !e.includes('/api/session'))).toEqual([]);
    browser.errors.length = 0;
  }, 60_000);

  it('fits a phone: the canvas scales to the card and nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('images-ccd').scrollIntoViewIfNeeded();
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth), { timeout: 10_000 }).toBeLessThanOrEqual(390);
    const box = await page.getByTestId('image-canvas-ccd').boundingBox();
    expect(box!.width).toBeLessThanOrEqual(390);
    expect(box!.width).toBeGreaterThan(250);
    // The aspect ratio is kept.
    expect(box!.height / box!.width).toBeCloseTo(H / W, 1);
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
  });

  it.skipIf(!process.env.LABWIRE_SCREENSHOTS)('screenshots of the card at desktop and phone sizes', async () => {
    const dir = process.env.LABWIRE_SCREENSHOTS!;
    fs.mkdirSync(dir, { recursive: true });
    await showNewest(page);
    const good = await indexed(expose({ frame: 7, type: 'flat', exptime: 3.5, object: 'dome flat' }));
    await expect.poll(() => page.getByTestId('image-canvas-ccd').getAttribute('data-image-id'), { timeout: 15_000 }).toBe(String(good.id));
    daemon.set({ phase: 'exposing', state: 'busy', state_text: 'exposing 3.2 of 10 s', exposure_time: 10, exposure_elapsed: 3.2 });
    await expect.poll(() => page.getByTestId('image-progress-ccd').getAttribute('data-phase'), { timeout: 10_000 }).toBe('exposing');
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
    expect(frames).toBeGreaterThan(5);
  }, 60_000);
});
