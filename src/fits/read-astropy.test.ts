/**
 * The reader against files astropy wrote (Debian's python3-astropy under /usr/bin/python3):
 * unsigned 16- and 32-bit images with BZERO, a CONTINUE string, HIERARCH, COMMENT, logicals.
 * Skipped where astropy is not installed (`.ci/run` installs it).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { headerValue, readImage } from './index.js';

const PYTHON = '/usr/bin/python3';
function hasAstropy(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import astropy.io.fits, numpy'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-fits-read-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
import json, sys, numpy as np
from astropy.io import fits
out = sys.argv[1]
w, h = 37, 23
y, x = np.mgrid[0:h, 0:w]
u16 = ((x * 1777 + y * 9001) % 65536).astype(np.uint16)
u16[0, 0] = 0; u16[0, 1] = 65535
hdu = fits.PrimaryHDU(u16)
hdr = hdu.header
hdr['EXPTIME'] = (2.5, '[s]')
hdr['OBJECT'] = ('M42 ' * 30).strip()
hdr['SHUTTER'] = (True, 'open')
hdr['HIERARCH ESO DET CHIP TEMP'] = (-100.5, 'detector temperature')
hdr['COMMENT'] = 'written by astropy for the labwire reader test'
hdu.writeto(out + '/u16.fits', checksum=True, overwrite=True)
u32 = ((x.astype(np.uint64) * 123456791 + y * 2654435761) % 4294967296).astype(np.uint32)
u32[0, 0] = 0; u32[0, 1] = 4294967295
fits.PrimaryHDU(u32).writeto(out + '/u32.fits', overwrite=True)
json.dump({'u16': u16.ravel().tolist(), 'u32': u32.ravel().tolist(), 'object': hdr['OBJECT']}, open(out + '/expected.json', 'w'))
`;

describe.skipIf(!hasAstropy())('FITS reader: files written by astropy', () => {
  it('reads every pixel and every header value back', () => {
    execFileSync(PYTHON, ['-c', SCRIPT, dir], { timeout: 120_000 });
    const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { u16: number[]; u32: number[]; object: string };
    const a = readImage(fs.readFileSync(path.join(dir, 'u16.fits')));
    expect([a.width, a.height, a.bitpix, a.bzero]).toEqual([37, 23, 16, 32768]);
    expect(Array.from(a.pixels)).toEqual(expected.u16);
    expect(headerValue(a.header, 'EXPTIME')).toBe(2.5);
    expect(a.header.find((c) => c.key === 'EXPTIME')?.comment).toBe('[s]');
    expect(headerValue(a.header, 'OBJECT')).toBe(expected.object);
    expect(headerValue(a.header, 'SHUTTER')).toBe(true);
    expect(a.header.find((c) => c.key === 'ESO DET CHIP TEMP')).toEqual({ key: 'ESO DET CHIP TEMP', value: -100.5, comment: 'detector temperature' });
    expect(headerValue(a.header, 'COMMENT')).toBe('written by astropy for the labwire reader test');
    expect(typeof headerValue(a.header, 'CHECKSUM')).toBe('string');
    const b = readImage(fs.readFileSync(path.join(dir, 'u32.fits')));
    expect([b.width, b.height, b.bitpix, b.bzero]).toEqual([37, 23, 32, 2147483648]);
    expect(Array.from(b.pixels)).toEqual(expected.u32);
  });
});
