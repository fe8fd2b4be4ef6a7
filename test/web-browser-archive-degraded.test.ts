/**
 * The page says "archive degraded (N spooled)" while the database archive is unavailable and the
 * monitor spools (decision 0022), and stops saying it after the replay. Headless Chromium against
 * a real monitor and web server; the database is a back-end that fails like PostgreSQL does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSpoolingArchive } from '../src/archive/spool.js';
import { FakeArchive } from '../src/archive/test-helpers/fake-archive.js';
import { startMonitor } from '../src/monitor/monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { startWeb } from '../src/web/server.js';
import { haveChromium, openBrowser, warnIfNoChromium } from './helpers/browser.js';

warnIfNoChromium('archive degraded browser test');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-degraded-page-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveChromium)('archive degraded on the page', () => {
  it('shows the badge with the spooled count while spooling, and removes it after the replay', async () => {
    const backend = new FakeArchive();
    const archive = await openSpoolingArchive(backend, { path: path.join(dir, 'spool'), probeMinMs: 50, probeMaxMs: 100 });
    const monitor = await startMonitor({ name: 'room1', peers: [], archive, listen: false, logger: silentLogger() });
    const web = await startWeb({ monitor, port: 0, logger: silentLogger() });
    const browser = await openBrowser({ allowOnly: web.url });
    try {
      const page = browser.page;
      await page.goto(web.url);
      await expect.poll(() => page.getByTestId('stream-state').count(), { timeout: 20_000 }).toBe(1);
      expect(await page.getByTestId('archive-degraded').count()).toBe(0);

      backend.down = true;
      await archive.write([{ device: 'd', name: 'x', t: 1, value: 1 }, { device: 'd', name: 'x', t: 2, value: 2 }]);
      const spooled = archive.stats().spooled!;
      expect(spooled).toBeGreaterThanOrEqual(2);
      await expect.poll(() => page.getByTestId('archive-degraded').textContent().catch(() => ''), { timeout: 20_000 }).toBe(`archive degraded (${spooled} spooled)`);

      backend.down = false;
      await expect.poll(() => page.getByTestId('archive-degraded').count(), { timeout: 20_000 }).toBe(0);
      expect(archive.stats().state).toBe('ok');
    } finally {
      await browser.close();
      await web.close();
      await monitor.close();
      await archive.close();
    }
  }, 90_000);
});
