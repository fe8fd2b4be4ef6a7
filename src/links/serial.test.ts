import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLink } from './index.js';
import { SerialLink, explainSerialOpenError } from './serial.js';
import { FakePtyDevice, nextEvent, sleep, waitFor } from '../testing/fake-devices.js';
import type { SerialLinkSpec } from './types.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

// PTYs stay 8N1 whatever is asked, and re-opening one with only 7E changed fails: test at 8N1.
const at8N1 = (p: string): SerialLinkSpec => ({
  kind: 'serial',
  path: p,
  baudRate: 9600,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
});

function ptyDevice(): FakePtyDevice {
  const device = new FakePtyDevice((line) => `got ${line}\r\n`);
  cleanup.push(() => device.close());
  return device;
}

describe('SerialLink on a real PTY', () => {
  it('opens, writes, receives, flushes and closes', async () => {
    const device = ptyDevice();
    const link = new SerialLink(at8N1(device.path));
    expect(link.description).toBe(`${device.path} 9600 8N1`);
    await link.open();
    cleanup.push(() => link.close());
    expect(link.isOpen).toBe(true);
    const chunks: Buffer[] = [];
    link.on('data', (c: Buffer) => chunks.push(c));
    await link.write(Buffer.from('in_pv_00\r'));
    await waitFor(() => Buffer.concat(chunks).toString() === 'got in_pv_00\r\n', 'the reply');
    expect(device.received).toEqual(['in_pv_00']);
    await link.flushInput();
    const closed = nextEvent<[Error | undefined]>(link, 'close');
    await link.close();
    expect((await closed)[0]).toBeUndefined();
    expect(link.isOpen).toBe(false);
    await expect(link.write(Buffer.from('x'))).rejects.toThrow(/not open/);
  });

  it('flushInput() drops bytes the driver holds', async () => {
    const device = ptyDevice();
    const link = createLink(at8N1(device.path));
    await link.open();
    cleanup.push(() => link.close());
    // Flushing must not break the link: bytes sent afterwards still arrive.
    await link.flushInput();
    const data = nextEvent<[Buffer]>(link, 'data');
    device.send('after\n');
    expect((await data)[0].toString()).toBe('after\n');
  });

  it('reports the device side vanishing as close with a disconnect error', async () => {
    const device = ptyDevice();
    const link = new SerialLink(at8N1(device.path));
    await link.open();
    cleanup.push(() => link.close());
    const closed = nextEvent<[Error | undefined]>(link, 'close');
    device.close();
    const [reason] = await closed;
    expect(reason?.message).toMatch(new RegExp(`^${device.path} (disconnected|closed)`));
    expect(link.isOpen).toBe(false);
  });

  it('re-opens through a stable symlink after the device came back on a new PTY', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-links-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const stable = path.join(dir, 'ttyJULABO');
    const first = ptyDevice();
    fs.symlinkSync(first.path, stable);
    const link = new SerialLink(at8N1(stable));
    await link.open();
    cleanup.push(() => link.close());
    const closed = nextEvent(link, 'close');
    first.close();
    await closed;

    const second = ptyDevice();
    fs.unlinkSync(stable);
    fs.symlinkSync(second.path, stable);
    await link.open();
    const chunks: Buffer[] = [];
    link.on('data', (c: Buffer) => chunks.push(c));
    await link.write(Buffer.from('version\r'));
    await waitFor(() => Buffer.concat(chunks).toString() === 'got version\r\n', 'the reply from the new PTY');
  });

  it('says clearly when the port does not exist', async () => {
    const link = new SerialLink(at8N1('/dev/ttyDOESNOTEXIST9'));
    await expect(link.open()).rejects.toThrow('cannot open /dev/ttyDOESNOTEXIST9: no such port — is the adapter plugged in and the path right?');
    expect(link.isOpen).toBe(false);
  });

  it('says clearly when the path is not a serial port', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-links-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, '');
    await expect(new SerialLink(at8N1(file)).open()).rejects.toThrow(`cannot open ${file}: not a serial port`);
  });

  it('refuses settings the platform cannot do, before touching the port', async () => {
    if (process.platform === 'win32') return;
    await expect(new SerialLink({ ...at8N1('/dev/null'), parity: 'mark' }).open()).rejects.toThrow(
      'cannot open /dev/null: mark parity is supported on Windows only',
    );
  });

  it('close() while opening wins', async () => {
    const device = ptyDevice();
    const link = new SerialLink(at8N1(device.path));
    const opening = link.open();
    await link.close();
    await expect(opening).rejects.toThrow(/closed while opening/);
    await sleep(10);
    expect(link.isOpen).toBe(false);
  });
});

describe('explainSerialOpenError', () => {
  it.each([
    ['Error: No such file or directory, cannot open /dev/ttyUSB0', 'cannot open /dev/ttyUSB0: no such port'],
    ['Error: Permission denied, cannot open /dev/ttyUSB0', 'cannot open /dev/ttyUSB0: permission denied — add the user to the dialout group'],
    ['Error Resource temporarily unavailable Cannot lock port', 'cannot open /dev/ttyUSB0: the port is in use by another program'],
    ['Error: Inappropriate ioctl for device, cannot set', 'cannot open /dev/ttyUSB0: not a serial port'],
    ['Error: No such device or address, cannot open /dev/ttyUSB0', 'cannot open /dev/ttyUSB0: the device is gone'],
    ['Error: Something odd', 'cannot open /dev/ttyUSB0: Something odd'],
  ])('%s', (raw, expected) => {
    expect(explainSerialOpenError('/dev/ttyUSB0', new Error(raw))).toContain(expected);
  });
});
