/**
 * Frames written while the monitor was away are indexed when it comes back: a real Archon daemon
 * in front of its simulator, a real monitor on a SQLite archive; the monitor stops, three frames
 * are taken, a new monitor on the same archive indexes them (image_list from its newest image on),
 * in order, each once, and the newest as usual.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchive, type Archive } from '../src/archive/index.js';
import { startDaemon, type Daemon } from '../src/daemon/daemon.js';
import { archonFamily } from '../src/devices/archon/device.js';
import { createArchonSimulator, type ArchonSimulator } from '../src/devices/archon/simulator/index.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { eventually } from '../src/testing/eventually.js';
import { RawClient } from '../src/testing/raw-client.js';
import { kv } from '../src/testing/status-lines.js';
import { silentLogger } from '../src/util/logger.js';

let dir = '';
let sim: ArchonSimulator;
let daemon: Daemon;
let c: RawClient;
let archive: Archive;
let monitor: Monitor | undefined;

const status = async (): Promise<Record<string, string>> => kv(await c.request('get_status'));
const monitorOn = (): Promise<Monitor> => startMonitor({ peers: [{ name: 'cam', host: '127.0.0.1', port: daemon.port }], archive, listen: false, logger: silentLogger() });

async function expose(line: string): Promise<void> {
  const before = Number((await status()).images_written);
  const count = Number(/count=(\d+)/.exec(line)?.[1] ?? 1);
  expect(await c.request(line)).toMatch(/^ok expose/);
  await eventually(async () => {
    const s = await status();
    expect(Number(s.images_written)).toBe(before + count);
    expect(s.phase).toBe('idle');
  }, 60_000);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-archon-backfill-'));
  sim = createArchonSimulator({ timeScale: 4, seed: 5, fetchRate: 0 }) as ArchonSimulator;
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  daemon = await startDaemon({
    definition: archonFamily.definition,
    options: { dataDir: path.join(dir, 'images'), prefix: 'cam' },
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'cam',
    port: 0,
    logger: silentLogger(),
    version: 'test',
  });
  c = await RawClient.connect(daemon.port);
  await eventually(async () => expect(await status()).toMatchObject({ hw_connected: '1', power: 'on' }), 20_000);
  archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
}, 60_000);

afterAll(async () => {
  await monitor?.close();
  await archive?.close();
  c?.close();
  await daemon?.close();
  await sim?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('images written while the monitor was away', () => {
  it('are indexed when it is back, in order, each once', async () => {
    monitor = await monitorOn();
    await expose('expose time=0.05 type=bias');
    await eventually(async () => expect(await archive.listImages!({ device: 'cam' })).toHaveLength(1), 30_000);
    await monitor.close();
    monitor = undefined;

    await expose('expose time=0.05 count=3 type=dark');
    const written = fs.readdirSync(path.join(dir, 'images'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.fits'));
    expect(written).toHaveLength(4);

    monitor = await monitorOn();
    await eventually(async () => expect(await archive.listImages!({ device: 'cam' })).toHaveLength(4), 30_000);
    await monitor.imagesIdle();
    const images = await archive.listImages!({ device: 'cam' });
    expect(images.map((i) => i.frame)).toEqual([4, 3, 2, 1]);
    expect(images.slice(0, 3).every((i) => i.type === 'dark' && i.width === 512)).toBe(true);
    const news = monitor.recentMessages().filter((m) => m.message.startsWith('new image'));
    expect(news.map((m) => /f0*(\d+)\.fits/.exec(m.message)?.[1])).toEqual(['2', '3', '4']);
  }, 120_000);

  it('image_list pages (count, more, a JSON list of paths) and refuses a negative since', async () => {
    expect(await c.request('image_list since=-5')).toMatch(/^error image_list code=RangeError/);
    const listed = kv(await c.request('image_list since=0 limit=2'));
    expect(listed.count).toBe('2');
    expect(listed.more).toBe('1');
    expect(JSON.parse(listed.paths!)).toHaveLength(2);
  });
});
