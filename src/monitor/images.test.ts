import { describe, expect, it } from 'vitest';
import { LabwireError, type DescribeDoc } from '../wire/index.js';
import type { ImageRecord, LogLevel } from '../archive/types.js';
import { ImageIngest, basename, imageInfoFrom, isImageSource, type ImageSource } from './images.js';
import { MemoryArchive } from './test-helpers/memory-archive.js';
import { silentLogger } from '../util/logger.js';
import { openSqliteArchive } from '../archive/index.js';

const describeWith = (commands: string[]): DescribeDoc => ({
  name: 'ccd', type: 'archon', title: '', protocol: 'labwire/1', version: 't', readOnly: false, params: {},
  commands: Object.fromEntries(commands.map((c) => [c, { description: c, write: false, args: {} }])),
});

function source(reply: (line: string) => Record<string, string> | Error, commands = ['image_info']): ImageSource & { lines: string[] } {
  const lines: string[] = [];
  return {
    name: 'ccd',
    protocol: 'labwire',
    describe: describeWith(commands),
    lines,
    async request(line: string) {
      lines.push(line);
      await new Promise((r) => setTimeout(r, 1));
      const r = reply(line);
      if (r instanceof Error) throw r;
      return { command: { name: 'ok', kwargs: r } };
    },
  };
}

const info = (path: string): Record<string, string> => ({ path, t: '1764781200000', frame: '3', exptime: '2.5', type: 'flat', object: 'dome', width: '10', height: '20', bitpix: '16', bytes: '5760', min: '1', max: '9', mean: '4.5', median: '4' });

async function harness() {
  const archive = await openSqliteArchive(':memory:');
  const logs: Array<[string, LogLevel, string]> = [];
  const images: ImageRecord[] = [];
  const ingest = new ImageIngest({ archive, logger: silentLogger(), log: (s, l, t) => logs.push([s, l, t]), indexed: (i) => images.push(i) });
  return { archive, logs, images, ingest };
}

describe('image ingestion', () => {
  it('an image source is a labwire peer whose describe lists image_info', () => {
    expect(isImageSource({ protocol: 'labwire', describe: describeWith(['image_info']) })).toBe(true);
    expect(isImageSource({ protocol: 'labwire', describe: describeWith(['expose']) })).toBe(false);
    expect(isImageSource({ protocol: 'labwire', describe: undefined })).toBe(false);
    expect(isImageSource({ protocol: 'ccdlab', describe: describeWith(['image_info']) })).toBe(false);
  });

  it('reads image_info fields; missing numbers are null, a missing size is an error', () => {
    expect(imageInfoFrom('ccd', '/a.fits', info('/a.fits'))).toEqual({ t: 1764781200000, device: 'ccd', path: '/a.fits', frame: 3, exptime: 2.5, type: 'flat', object: 'dome', width: 10, height: 20, bitpix: 16, bytes: 5760, min: 1, max: 9, mean: 4.5, median: 4 });
    expect(imageInfoFrom('ccd', '/b.fits', { width: '4', height: '4' }, 42)).toMatchObject({ t: 42, path: '/b.fits', frame: null, exptime: null, type: '', bitpix: 16, min: null });
    expect(() => imageInfoFrom('ccd', '/c.fits', { width: '4' })).toThrow(/no usable width and height/);
    expect(basename('/data/x/y.fits')).toBe('y.fits');
  });

  it('asks once per new path, in order, indexes, logs and emits; the full snapshot after a reconnect adds nothing new', async () => {
    const { archive, logs, images, ingest } = await harness();
    const src = source((line) => info(/path=(\S+)/.exec(line)![1]!));
    ingest.values(src, { last_image: '/d/1.fits' }, true);
    ingest.values(src, { last_image: '/d/2.fits' }, false);
    ingest.values(src, { last_image: '/d/2.fits' }, false);
    ingest.values(src, { state: 'idle' }, false);
    ingest.values(src, { last_image: '' }, false);
    await ingest.idle();
    expect(src.lines).toEqual(['image_info path=/d/1.fits', 'image_info path=/d/2.fits']);
    expect(images.map((i) => i.path)).toEqual(['/d/1.fits', '/d/2.fits']);
    expect(logs).toEqual([
      ['ccd', 'info', 'new image 1.fits (ccd, 2.5 s, flat)'],
      ['ccd', 'info', 'new image 2.fits (ccd, 2.5 s, flat)'],
    ]);
    ingest.values(src, { last_image: '/d/2.fits', state: 'idle' }, true);
    await ingest.idle();
    expect(src.lines).toHaveLength(3);
    expect(images).toHaveLength(2);
    expect(await archive.listImages({})).toHaveLength(2);
    await archive.close();
  });

  it('a daemon error or an unusable reply is logged and not indexed; the same path is asked again later', async () => {
    const { archive, logs, images, ingest } = await harness();
    let broken = true;
    const src = source((line) => (broken ? new LabwireError('HardwareError', 'controller rebooting', 'image_info') : info(/path=(\S+)/.exec(line)![1]!)));
    ingest.values(src, { last_image: '/d/1.fits' }, false);
    await ingest.idle();
    expect(images).toEqual([]);
    expect(logs).toEqual([['ccd', 'warning', 'ccd: cannot index image 1.fits: HardwareError: controller rebooting']]);
    broken = false;
    ingest.values(src, { last_image: '/d/1.fits' }, false);
    await ingest.idle();
    expect(images.map((i) => i.path)).toEqual(['/d/1.fits']);
    const odd = source(() => ({ width: 'lots' }));
    ingest.values(odd, { last_image: '/d/9.fits' }, false);
    await ingest.idle();
    expect(logs[logs.length - 1]![2]).toMatch(/cannot index image 9.fits: its image_info reply gives no usable width/);
    await archive.close();
  });

  it('peers that are no image source, and archives without an index, are left alone', async () => {
    const { ingest, images } = await harness();
    const plain = source(() => info('/x'), ['expose']);
    ingest.values(plain, { last_image: '/d/1.fits' }, true);
    const noIndex = new ImageIngest({ archive: new MemoryArchive(), logger: silentLogger(), log: () => undefined, indexed: (i) => images.push(i) });
    const src = source(() => info('/x'));
    noIndex.values(src, { last_image: '/d/1.fits' }, true);
    await ingest.idle();
    await noIndex.idle();
    expect(plain.lines).toEqual([]);
    expect(src.lines).toEqual([]);
    expect(images).toEqual([]);
  });
});
