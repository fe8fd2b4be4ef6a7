import { describe, expect, it } from 'vitest';
import { parseLabConfig } from './lab.js';

const lab = (monitor: string): string => `
monitor:
${monitor}
`;

describe('lab config: images', () => {
  it('takes monitor.imageMaxSize and archive retention of the image index', () => {
    const c = parseLabConfig(lab('  imageMaxSize: 64MiB\n  archive: { retention: { raw: 30d, images: 3650d } }'), 'lab.yaml', '/tmp');
    expect(c.monitor.imageMaxSize).toBe('64MiB');
    expect(c.monitor.archive.retention).toEqual({ raw: '30d', images: '3650d' });
  });

  it('refuses an image limit outside 4KiB–1GiB and an unknown retention tier, by line', () => {
    expect(() => parseLabConfig(lab('  imageMaxSize: 2GiB'), 'lab.yaml', '/tmp')).toThrow(/monitor\.imageMaxSize: expected a size from 4KiB to 1GiB/);
    expect(() => parseLabConfig(lab('  archive: { retention: { pictures: 1d } }'), 'lab.yaml', '/tmp')).toThrow(/retention/);
  });
});
