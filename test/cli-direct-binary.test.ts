/**
 * `labwire direct <type> … call <command> --output FILE` for a command that answers with bytes:
 * a test family (registered for this file only) on a fake instrument over real TCP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceFamily, type DeviceFamily } from '../src/daemon/api.js';
import { deviceFamilies } from '../src/devices/index.js';
import { FakeTcpDevice } from '../src/testing/fake-devices.js';
import { blobBytes, blobDefinition } from './helpers/blob-device.js';
import { cliInProcess } from './helpers/cli-in-process.js';

const cli = cliInProcess;

const registry = deviceFamilies as Record<string, DeviceFamily>;
const instrument = new FakeTcpDevice((line) => (line === 'READ' ? '1.5\n' : undefined));
let dir: string;

beforeAll(async () => {
  registry.blob = deviceFamily(blobDefinition);
  await instrument.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-direct-binary-'));
});

afterAll(async () => {
  delete registry.blob;
  await instrument.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('labwire direct … call with a binary answer', () => {
  it('--output FILE writes exactly the bytes and prints the header line', async () => {
    const file = path.join(dir, 'blob.bin');
    const r = await cli('direct', 'blob', '--link', instrument.url, 'call', 'blob', '200000', '5', '--output', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('binary raw size=200000 seed=5 note="a b"\n');
    expect(fs.readFileSync(file).equals(blobBytes(200_000, 5))).toBe(true);
  });

  it('without --output it refuses to print bytes and says how to save them', async () => {
    const r = await cli('direct', 'blob', '--link', instrument.url, 'call', 'blob', 'size=10', 'seed=1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/blob answered with 10 bytes \(raw\); say where to write them with --output <file>/);
    expect(r.stdout).toBe('');
  });

  it('an unwritable --output is a clear error', async () => {
    const r = await cli('direct', 'blob', '--link', instrument.url, 'call', 'blob', '10', '1', '--output', path.join(dir, 'no', 'such', 'dir', 'x.bin'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot write the raw bytes of blob to .*x\.bin/);
  });

  it('--output - writes the bytes to stdout and the header to stderr', async () => {
    const r = await cli('direct', 'blob', '--link', instrument.url, 'call', 'blob', '64', '2', '--output', '-');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('<64 bytes>');
    expect(r.stderr).toBe('binary raw size=64 seed=2 note="a b"\n');
  });
});
