import { describe, expect, it } from 'vitest';
import { parseSize } from './size.js';

describe('parseSize', () => {
  it('reads binary and decimal units and bare bytes', () => {
    expect(parseSize('16MiB')).toBe(16 * 1024 * 1024);
    expect(parseSize('512 KiB')).toBe(512 * 1024);
    expect(parseSize('1gib')).toBe(1024 ** 3);
    expect(parseSize('20MB')).toBe(20_000_000);
    expect(parseSize('1.5 MiB')).toBe(1.5 * 1024 * 1024);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize(65536)).toBe(65536);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', 'lots', '16 furlongs', '-1', '1e6', '16MiB extra']) expect(parseSize(bad)).toBeUndefined();
    expect(parseSize(-5)).toBeUndefined();
    expect(parseSize(1.5)).toBeUndefined();
  });
});
