/**
 * Issue 12's "done" on the demo lab, as a newcomer would run it: `labwire demo` (real processes),
 * `labwire expose <archon> 1 --type dark --wait` prints a FITS file that Debian's fitsverify and
 * astropy accept, whose pixels are exactly the simulator's model of that frame, and whose header
 * holds the Julabo's temperature and the Cryo-con's loop values as the monitor saw them; the page,
 * open in Chromium, shows the new frame on the camera's card without a reload.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHeader, headerValue } from '../src/fits/index.js';
import { modelImage } from '../src/devices/archon/simulator/index.js';
import { astropyCheck, fitsverify } from '../src/devices/archon/test-helpers/fits-check.js';
import { eventually } from '../src/testing/eventually.js';
import { kv } from '../src/testing/status-lines.js';
import { haveChromium, openBrowser, warnIfNoChromium, type TestBrowser } from './helpers/browser.js';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';

warnIfNoChromium('e2e-archon-demo browser part');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-archon-demo-'));
let demo: CliProcess;
let web = '';
let archon = '';
let julabo = '';
let cryocon = '';
let browser: TestBrowser | undefined;

beforeAll(async () => {
  assertBuilt();
  demo = new CliProcess(['demo', '--port', '0', '--web', '0', '--monitor', '0', '--data', path.join(tmp, 'data'), '--time-scale', '10']);
  web = (await demo.waitFor(/web page\s+(http:\/\/127\.0\.0\.1:\d+\/)/, 30_000))[1]!;
  const addr = async (name: string): Promise<string> => (await demo.waitFor(new RegExp(`^\\s+${name}\\s+(127\\.0\\.0\\.1:\\d+) `, 'm'), 30_000))[1]!;
  archon = await addr('archon');
  julabo = await addr('julabo');
  cryocon = await addr('cryocon');
  await eventually(async () => {
    const health = (await (await fetch(`${web}api/health`)).json()) as { peers: Array<{ name: string; connected: boolean }> };
    for (const name of ['archon', 'julabo', 'cryocon']) expect(health.peers.find((p) => p.name === name)?.connected, name).toBe(true);
  }, 60_000, 250);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function status(address: string): Promise<Record<string, string>> {
  const r = await runCli(['send', address, 'get_status']);
  expect(r.code, r.stderr).toBe(0);
  return kv(r.stdout.trim());
}

describe('the Archon in the demo lab', () => {
  it('labwire expose … 1 --type dark --wait: a verified FITS file with the model pixels and the lab state; the page shows it', async () => {
    if (haveChromium) {
      browser = await openBrowser({ allowOnly: web });
      await browser.page.goto(`${web}#/device/archon`);
      await browser.page.getByTestId('device-archon').waitFor({ timeout: 30_000 });
    }
    const cryoBefore = await status(cryocon);
    const chillerBefore = Number((await status(julabo)).temperature);

    const run = await runCli(['expose', archon, '1', '--type', 'dark', '--wait', '--timeout', '60'], { timeoutMs: 90_000 });
    expect(run.code, run.stderr).toBe(0);
    const file = run.stdout.trim();
    expect(file).toMatch(/\/images\/\d{4}-\d{2}-\d{2}\/archon-\d{8}-\d{6}-f\d{6}\.fits$/);
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.existsSync(`${file}.part`)).toBe(false);

    await fitsverify(file);
    const cards = readHeader(fs.readFileSync(file)).cards;
    const frame = headerValue(cards, 'FRAMENUM');
    expect(typeof frame).toBe('number');
    const pixels = modelImage({ width: 512, height: 512, sampleMode: 0, frame: frame as number, exposureMs: 1000, shutterOpen: false, seed: 1 });
    expect(await astropyCheck(file, pixels as Uint16Array, 512, 512, { IMAGETYP: 'dark', EXPTIME: 1, FRAMENUM: frame, NAXIS1: 512, NAXIS2: 512 })).toBe('ok');

    // The lab at the start of the exposure, from the monitor: the chiller's temperature with its
    // unit, and the Cryo-con's loop settings exactly as the controller reports them.
    const temperature = cards.find((c) => c.key === 'LABWIRE JULABO TEMPERATURE');
    expect(typeof temperature?.value).toBe('number');
    expect(temperature?.comment).toBe('[degC]');
    // Taken between the two readings around the exposure (the bath drifts; its noise is ~0.01 °C).
    const chillerAfter = Number((await status(julabo)).temperature);
    expect(temperature!.value as number).toBeGreaterThanOrEqual(Math.min(chillerBefore, chillerAfter) - 0.5);
    expect(temperature!.value as number).toBeLessThanOrEqual(Math.max(chillerBefore, chillerAfter) + 0.5);
    for (const key of ['loop1.setpoint', 'loop1.type', 'loop1.source', 'loop1.range']) {
      const card = cards.find((c) => c.key === `LABWIRE CRYOCON ${key.toUpperCase()}`);
      expect(card, key).toBeDefined();
      expect(String(card!.value), key).toBe(cryoBefore[key]);
    }
    expect(headerValue(cards, 'LABSTATE')).toMatch(/^monitor /);

    if (browser) {
      const caption = browser.page.getByTestId('image-caption-archon');
      await expect.poll(async () => (await caption.textContent()) ?? '', { timeout: 20_000 }).toContain(`frame ${frame as number} · dark · 1 s`);
      expect(await browser.page.getByTestId('image-list-archon').locator('li').count()).toBeGreaterThanOrEqual(1);
      expect(browser.errors).toEqual([]);
    }
  }, 180_000);
});
