/**
 * The Archon daemon with the simulator on real TCP, for what the main end-to-end test leaves out:
 * 32-bit samples (BITPIX 32 read back by astropy), the message log of a failed fetch and of the
 * controller's own log, and a `?ID` refusal reaching the client with the controller's reason.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../daemon/daemon.js';
import { eventually } from '../../testing/eventually.js';
import { RawClient } from '../../testing/raw-client.js';
import { kv } from '../../testing/status-lines.js';
import { silentLogger } from '../../util/logger.js';
import { archonFamily } from './device.js';
import { DEMO_ACF, createArchonSimulator, modelImage, type ArchonSimulator } from './simulator/index.js';
import { astropyCheck, fitsverify } from './test-helpers/fits-check.js';

interface Bench {
  sim: ArchonSimulator;
  daemon: Daemon;
  c: RawClient;
  dataDir: string;
  status(): Promise<Record<string, string>>;
  idle(): Promise<Record<string, string>>;
}

let open: Bench | undefined;
afterEach(async () => {
  if (!open) return;
  open.c.close();
  await open.daemon.close();
  await open.sim.close();
  fs.rmSync(open.dataDir, { recursive: true, force: true });
  open = undefined;
});

async function bench(simOptions: Record<string, unknown> = {}): Promise<Bench> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'archon-daemon-'));
  const sim = createArchonSimulator(Object.assign({ timeScale: 4, seed: 3, fetchRate: 0 }, simOptions)) as ArchonSimulator;
  const port = await sim.listenTcp('127.0.0.1', 0);
  const daemon = await startDaemon({
    definition: archonFamily.definition,
    options: { dataDir, prefix: 'd', exposurePollMs: 50, pollMs: 300, blockTimeoutS: 2 },
    link: { kind: 'tcp', host: '127.0.0.1', port },
    name: 'ccd',
    port: 0,
    logger: silentLogger(),
    version: 'test',
  });
  const c = await RawClient.connect(daemon.port);
  const status = async (): Promise<Record<string, string>> => kv(await c.request('get_status'));
  await eventually(async () => expect((await status()).hw_connected).toBe('1'), 15_000);
  const idle = async (): Promise<Record<string, string>> => {
    let s: Record<string, string> = {};
    await eventually(async () => {
      s = await status();
      expect(s.phase).toBe('idle');
    }, 30_000);
    return s;
  };
  open = { sim, daemon, c, dataDir, status, idle };
  return open;
}

describe('archon daemon: 32-bit samples, logs and refusals', () => {
  it('writes 32-bit frames as BITPIX 32 that fitsverify and astropy read back exactly', async () => {
    const b = await bench({ sampleMode: 1, width: 128, height: 64, taps: 2 });
    await b.c.request('expose time=0.1 type=flat');
    const s = await b.idle();
    expect(s.last_error).toBe('');
    await fitsverify(s.last_image!);
    const pixels = modelImage({ width: 128, height: 64, sampleMode: 1, frame: Number(s.frame), exposureMs: 100, shutterOpen: true, seed: 3 });
    expect(pixels).toBeInstanceOf(Uint32Array);
    expect(await astropyCheck(s.last_image!, pixels, 128, 64, { BITPIX: 32, BZERO: 2147483648, IMAGETYP: 'flat' })).toBe('ok');
    const info = kv(await b.c.request('image_info'));
    expect(info.bitpix).toBe('32');
    expect(Number(info.max)).toBe(Math.max(...pixels));
  }, 60_000);

  it('a fetch cut by the link: the failure is in last_error and in the message log', async () => {
    const b = await bench();
    const watcher = await RawClient.connect(b.daemon.port);
    try {
      expect(await watcher.request('subscribe hw_connected')).toBe('ok subscribe');
      b.sim.setFault('dropMidFetch', true);
      await b.c.request('expose time=0.05');
      const line = await watcher.waitLine((l) => /^log t=\d+ level=error message="exposure failed: fetching frame \d+ failed/.test(l), 30_000);
      expect(line).toContain('no file written');
      const s = await b.idle();
      expect(s.last_error).toMatch(/^fetching frame \d+ failed/);
    } finally {
      b.sim.setFault('dropMidFetch', false);
      watcher.close();
    }
  }, 60_000);

  it('load_acf uploads an ACF and applies it; power_on then powers the CCD', async () => {
    const b = await bench({ configured: false });
    const acf = path.join(b.dataDir, 'demo.acf');
    fs.writeFileSync(acf, DEMO_ACF);
    const loaded = kv(await b.c.request(`load_acf path=${acf}`, 60_000));
    expect(Number(loaded.lines)).toBeGreaterThan(10);
    expect(b.sim.transcript.some((t) => /^>[0-9A-F]{2}WCONFIG0000/.test(t.request))).toBe(true);
    await eventually(async () => expect((await b.status()).power).toBe('off'), 15_000);
    expect(await b.c.request('power_on', 60_000)).toMatch(/^ok power_on/);
    await eventually(async () => expect((await b.status()).power).toBe('on'), 15_000);
    expect(await b.c.request(`load_acf path=${path.join(b.dataDir, 'missing.acf')}`)).toMatch(/^error load_acf code=RangeError .*cannot use/);
  }, 90_000);

  it("a refused command reaches the client with the controller's reason; the log entry is not lost", async () => {
    const b = await bench({ configured: false });
    // Before any APPLYALL the controller refuses POWERON and logs why.
    const reply = await b.c.request('power_on');
    expect(reply).toMatch(/^error power_on code=HardwareError message="the Archon refused POWERON: .+"/);
    expect(reply).not.toContain('gives no reason');
    await eventually(async () => expect((await b.status()).power).toBe('not_configured'), 15_000);
  }, 60_000);
});
