import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { ArchiveFeed } from './archive-feed.js';
import { MemoryArchive } from './test-helpers/memory-archive.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await tick();
};

function setup() {
  const archive = new MemoryArchive();
  const reports: string[] = [];
  const feed = new ArchiveFeed(archive, (level, text) => {
    reports.push(`${level}: ${text}`);
    // The monitor logs a report into the archive's log too: a failing log stays in the streak.
    feed.log({ t: 0, source: 'monitor', level: level === 'error' ? 'error' : 'info', message: text });
  }, silentLogger());
  return { archive, reports, feed };
}

describe('ArchiveFeed', () => {
  it('hands the samples of one event-loop turn over in one write', async () => {
    const { archive, feed } = setup();
    feed.write([{ device: 'a', name: 'x', t: 1, value: 1 }]);
    feed.write([{ device: 'a', name: 'y', t: 1, value: 'on' }]);
    feed.write([]);
    expect(archive.writes).toBe(0);
    await settle();
    expect(archive.writes).toBe(1);
    expect(archive.samples.map((s) => s.name)).toEqual(['x', 'y']);
  });

  it('reports a failure once per streak, keeps going, and reports the recovery once', async () => {
    const { archive, reports, feed } = setup();
    archive.failWith = new Error('disk full');
    for (let i = 0; i < 5; i++) {
      feed.write([{ device: 'a', name: 'x', t: i, value: i }]);
      feed.log({ t: i, source: 's', level: 'info', message: 'm' });
      feed.audit({ t: i, who: 'w', peer: 'p', device: 'a', command: 'set x=1', before: {}, after: {}, result: 'ok' });
      await settle();
    }
    expect(reports).toEqual(['error: archive: disk full']);
    expect(feed.isFailing).toBe(true);
    archive.failWith = undefined;
    feed.write([{ device: 'a', name: 'x', t: 9, value: 9 }]);
    await settle();
    expect(reports).toEqual(['error: archive: disk full', 'info: archive: writing again']);
    expect(archive.logs.map((l) => l.message)).toEqual(['archive: writing again']);
    archive.failWith = new Error('read-only file system');
    feed.write([{ device: 'a', name: 'x', t: 10, value: 10 }]);
    await settle();
    expect(reports.at(-1)).toBe('error: archive: read-only file system');
  });

  it('catches a synchronous throw of the archive', async () => {
    const { archive, reports, feed } = setup();
    archive.configureSeries = () => {
      throw new Error('no such table');
    };
    archive.write = () => {
      throw new Error('closed');
    };
    feed.configure('a', 'x', { unit: 'K' });
    feed.write([{ device: 'a', name: 'x', t: 1, value: 1 }]);
    await settle();
    expect(reports).toEqual(['error: archive: no such table']);
  });

  it('flush hands over what is queued, waits for it and commits; it never rejects', async () => {
    const { archive, feed } = setup();
    feed.write([{ device: 'a', name: 'x', t: 1, value: 1 }]);
    await feed.flush();
    expect(archive.samples.length).toBe(1);
    expect(archive.flushes).toBe(1);
    archive.failWith = new Error('gone');
    await expect(feed.flush()).resolves.toBeUndefined();
  });

  it('does nothing without an archive', async () => {
    const feed = new ArchiveFeed(undefined, () => undefined, silentLogger());
    feed.write([{ device: 'a', name: 'x', t: 1, value: 1 }]);
    feed.log({ t: 0, source: 's', level: 'info', message: 'm' });
    await expect(feed.flush()).resolves.toBeUndefined();
  });
});

describe('ArchiveFeed streaks', () => {
  it('does not flap when writes fail while log entries still go through', async () => {
    const { archive, reports, feed } = setup();
    const write = archive.write.bind(archive);
    archive.write = () => Promise.reject(new Error('samples table is corrupt'));
    for (let i = 0; i < 4; i++) {
      feed.write([{ device: 'a', name: 'x', t: i, value: i }]);
      await settle();
      feed.log({ t: i, source: 's', level: 'info', message: 'fine' });
      await settle();
    }
    expect(reports).toEqual(['error: archive: samples table is corrupt']);
    archive.write = write;
    feed.write([{ device: 'a', name: 'x', t: 9, value: 9 }]);
    await settle();
    expect(reports).toEqual(['error: archive: samples table is corrupt', 'info: archive: writing again']);
  });
});
