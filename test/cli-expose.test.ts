/**
 * `labwire expose` against a camera daemon with the Archon exposure contract (a test family run
 * by the real daemon, test/helpers/fake-camera.ts) on 127.0.0.1 port 0: the CLI runs in this
 * process with its stdout, stderr and exit code captured.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../src/testing/eventually.js';
import { RawClient } from '../src/testing/raw-client.js';
import { frameBytes, startCameraDaemon, type CameraDaemon } from './helpers/fake-camera.js';
import { startDaemon } from '../src/daemon/daemon.js';
import { archonFamily } from '../src/devices/archon/device.js';
import { createArchonSimulator } from '../src/devices/archon/simulator/index.js';
import { silentLogger } from '../src/util/logger.js';
import { cliInProcess } from './helpers/cli-in-process.js';

const cli = cliInProcess;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function camera(): Promise<{ cam: CameraDaemon; address: string; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-expose-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cam = await startCameraDaemon(path.join(dir, 'images'));
  cleanups.push(() => cam.close());
  const probe = await RawClient.connect(cam.daemon.port);
  cleanups.push(() => probe.close());
  await eventually(async () => expect(await probe.request('get_status')).toMatch(/hw_connected=1 state=idle .*phase=idle/));
  return { cam, address: `127.0.0.1:${cam.daemon.port}`, dir };
}

describe('labwire expose', () => {
  it('--wait prints the path of the FITS file the daemon wrote', async () => {
    const { address, dir } = await camera();
    const r = await cli('expose', address, '0.2', '--type', 'dark', '--wait');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(path.join(dir, 'images', '2026-12-03', 'fakecam-dark-f000001.fits'));
    expect(fs.readFileSync(lines[0]!).equals(frameBytes(1))).toBe(true);
  });

  it('--count 3 --output dir/ prints one local path per frame and downloads each over the labwire connection', async () => {
    const { address, dir } = await camera();
    const out = path.join(dir, 'here/');
    const r = await cli('expose', address, '0.1', '--count', '3', '--type', 'bias', '--object', 'two words "quoted"', '--output', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const local = r.stdout.trim().split('\n');
    expect(local).toEqual([1, 2, 3].map((n) => path.join(out, `fakecam-bias-f00000${n}.fits`)));
    for (const [i, f] of local.entries()) expect(fs.readFileSync(f).equals(frameBytes(i + 1))).toBe(true);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('--output file.fits writes one file; without --wait the reply comes at once and wait state=idle follows', async () => {
    const { address, dir } = await camera();
    const file = path.join(dir, 'one.fits');
    const r = await cli('expose', address, '0.1', '--output', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${file}\n`);
    expect(fs.readFileSync(file).equals(frameBytes(1))).toBe(true);
    const quick = await cli('expose', address, '0.3');
    expect(quick.code).toBe(0);
    expect(quick.stdout).toMatch(/^ok expose .*phase=exposing/);
    const waited = await cli('wait', address, 'state=idle', '--timeout', '30s');
    expect(waited.code).toBe(0);
  });

  it('a daemon that refuses (IsBusy while an exposure runs) ends with its message and exit code 2', async () => {
    const { address } = await camera();
    expect((await cli('expose', address, '30')).code).toBe(0);
    const r = await cli('expose', address, '1', '--wait');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^labwire: IsBusy: an exposure is running \(exposing\)/);
    expect(r.stdout).toBe('');
  });

  it('--wait on an exposure that fails prints the daemon’s last_error and exits 1', async () => {
    const { address, cam } = await camera();
    cam.setFault('fetchFails');
    const r = await cli('expose', address, '0.1', '--wait');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('labwire: the exposure failed: frame 1: the link dropped during FETCH; no file written\n');
    expect(r.stdout).toBe('');
  });

  it('--wait with a frame that never completes gives up after --timeout with exit 1', async () => {
    const { address, cam } = await camera();
    cam.setFault('stuck');
    const r = await cli('expose', address, '0.1', '--wait', '--timeout', '1s');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^labwire: the exposure has not finished within 1 s: /);
  });

  it('the daemon going away during --wait ends with a clear message and exit code 2', async () => {
    const { address, cam } = await camera();
    cam.setFault('stuck');
    const running = cli('expose', address, '0.1', '--wait', '--timeout', '60s');
    await eventually(() => expect(cam.daemon.runner.values().find(([k]) => k === 'phase')?.[1]).toBe('reading_out'));
    await cam.close();
    const r = await running;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^labwire: CommunicationFailed: .*(closed|lost)/);
  });

  it('refuses bad arguments before connecting', async () => {
    const port = '127.0.0.1:9';
    expect(await cli('expose', port, '-1')).toMatchObject({ code: 2, stderr: expect.stringMatching(/exposure time "-1" must be a number of seconds ≥ 0/) });
    expect(await cli('expose', port, 'ten')).toMatchObject({ code: 2, stderr: expect.stringMatching(/exposure time "ten"/) });
    expect(await cli('expose', port, '1', '--count', '0')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--count "0" must be a whole number ≥ 1/) });
    expect(await cli('expose', port, '1', '--type', 'science')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--type "science" must be one of object, bias, dark, flat/) });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-expose-args-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    expect(await cli('expose', port, '1', '--count', '2', '--output', path.join(dir, 'x.fits'))).toMatchObject({ code: 2, stderr: expect.stringMatching(/with --count 2 give a directory/) });
  });
});

describe('labwire expose against the Archon daemon and simulator', () => {
  it('--wait on an exposure whose controller is unplugged during it ends at once with the reason and exit 1, not at --timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-expose-archon-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sim = createArchonSimulator({ seed: 3, fetchRate: 0 });
    const simPort = await sim.listenTcp('127.0.0.1', 0);
    cleanups.push(() => sim.close());
    const daemon = await startDaemon({
      definition: archonFamily.definition,
      options: { dataDir: dir, prefix: 'cam' },
      link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
      name: 'cam',
      port: 0,
      logger: silentLogger(),
      version: 'test',
    });
    cleanups.push(() => daemon.close());
    const probe = await RawClient.connect(daemon.port);
    cleanups.push(() => probe.close());
    await eventually(async () => expect(await probe.request('get_status')).toMatch(/hw_connected=1 .*phase=idle.* power=on/), 20_000);
    // A 20 s exposure; the cable is pulled while it integrates.
    const run = cli('expose', `127.0.0.1:${daemon.port}`, '20', '--type', 'dark', '--wait', '--timeout', '10m');
    await eventually(async () => expect(await probe.request('get_status')).toMatch(/phase=exposing/));
    sim.setFault!('linkDrop', true);
    const r = await run;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the exposure (failed|did not finish).*(no link|closed|lost)/);
    expect(fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.fits'))).toEqual([]);
  }, 120_000);
});
