/**
 * Headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) for the browser tests:
 * a fresh profile, page errors and failed requests collected, and every request that would leave
 * the server under test refused and counted as an error. Tests skip, with a message, where
 * Chromium is not installed (CI installs it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = fs.existsSync(CHROMIUM);

export function warnIfNoChromium(suite: string): void {
  if (!haveChromium) console.warn(`${suite} skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
}

export interface TestBrowser {
  ctx: BrowserContext;
  page: Page;
  /** Page errors, failed requests and attempts to reach other hosts. */
  errors: string[];
  close(): Promise<void>;
}

/** Opens Chromium; with `allowOnly`, requests to anything but that URL prefix are refused. */
export async function openBrowser(opts: { allowOnly?: string; viewport?: { width: number; height: number } } = {}): Promise<TestBrowser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: opts.viewport ?? { width: 1280, height: 900 },
  });
  const errors: string[] = [];
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => {
    // The live stream ends when the page goes; superseded queries are aborted on purpose.
    if (r.url().includes('/api/stream') || r.failure()?.errorText === 'net::ERR_ABORTED') return;
    errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  const allowed = opts.allowOnly;
  if (allowed) {
    await ctx.route((url) => !url.href.startsWith(allowed) && !url.href.startsWith('data:'), (route) => {
      errors.push(`external request: ${route.request().url()}`);
      return route.abort();
    });
  }
  return {
    ctx,
    page,
    errors,
    async close() {
      await ctx.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
