/**
 * Checks a FITS file with the two outside readers the tests trust: Debian's fitsverify (0 warnings,
 * 0 errors) and astropy (every pixel and the given header values read back exactly, checksums
 * verified), through test/helpers/check-fits.py and Debian's python3.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const CHECK = path.resolve(import.meta.dirname, '../../../../test/helpers/check-fits.py');

type Failed = { stdout?: string; stderr?: string };

/** fitsverify -q prints only "verification OK: <file>" for a file with 0 warnings and 0 errors. */
export async function fitsverify(file: string): Promise<void> {
  const { stdout, stderr } = await run('/usr/bin/fitsverify', ['-q', file]).catch((e: Failed) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  expect(`${stdout}${stderr}`.trim()).toBe(`verification OK: ${file}`);
}

/** astropy reads every pixel and the given header values back exactly ("ok"), else the differences. */
export async function astropyCheck(file: string, pixels: Uint16Array | Uint32Array, width: number, height: number, header: Record<string, unknown>): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'archon-check-'));
  try {
    const raw = path.join(dir, 'pixels.bin');
    fs.writeFileSync(raw, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength));
    const spec = path.join(dir, 'expected.json');
    fs.writeFileSync(spec, JSON.stringify({ pixels: raw, bitpix: pixels instanceof Uint32Array ? 32 : 16, width, height, header }));
    const result = await run(PYTHON, [CHECK, file, spec]).catch((e: Failed) => ({ stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
    return result.stdout.trim();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
