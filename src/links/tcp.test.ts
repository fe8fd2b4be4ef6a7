import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLink } from './index.js';
import { TcpLink } from './tcp.js';
import { FakeTcpDevice, nextEvent, waitFor } from '../testing/fake-devices.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function echoDevice(): Promise<FakeTcpDevice> {
  const device = new FakeTcpDevice((line) => `echo ${line}\n`);
  await device.start();
  cleanup.push(() => device.stop());
  return device;
}

/** A port on which nothing listens (bound, then released). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('TcpLink', () => {
  it('connects, writes, receives and closes', async () => {
    const device = await echoDevice();
    const link = new TcpLink({ kind: 'tcp', host: '127.0.0.1', port: device.port });
    expect(link.description).toBe(`tcp://127.0.0.1:${device.port}`);
    expect(link.isOpen).toBe(false);
    await link.open();
    cleanup.push(() => link.close());
    expect(link.isOpen).toBe(true);
    const data = nextEvent<[Buffer]>(link, 'data');
    await link.write(Buffer.from('hello\r'));
    expect((await data)[0].toString()).toBe('echo hello\n');
    await link.flushInput();
    const closed = nextEvent<[Error | undefined]>(link, 'close');
    await link.close();
    expect((await closed)[0]).toBeUndefined();
    expect(link.isOpen).toBe(false);
    await expect(link.write(Buffer.from('x'))).rejects.toThrow(/not connected/);
  });

  it('rejects open() with a message naming the endpoint', async () => {
    const port = await freePort();
    const link = createLink({ kind: 'tcp', host: '127.0.0.1', port });
    await expect(link.open()).rejects.toThrow(`cannot connect to tcp://127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(link.isOpen).toBe(false);
  });

  it('reports a peer that goes away as close with an error', async () => {
    const device = await echoDevice();
    const link = new TcpLink({ kind: 'tcp', host: '127.0.0.1', port: device.port });
    await link.open();
    cleanup.push(() => link.close());
    await waitFor(() => device.clientCount === 1, 'the device to see the client');
    const closed = nextEvent<[Error | undefined]>(link, 'close');
    device.dropClients();
    const [reason] = await closed;
    expect(reason).toBeInstanceOf(Error);
    expect(reason?.message).toContain(`tcp://127.0.0.1:${device.port}`);
    expect(link.isOpen).toBe(false);
  });

  it('can be opened again after a close', async () => {
    const device = await echoDevice();
    const link = new TcpLink({ kind: 'tcp', host: '127.0.0.1', port: device.port });
    for (let i = 0; i < 3; i += 1) {
      await link.open();
      const data = nextEvent<[Buffer]>(link, 'data');
      await link.write(Buffer.from(`round ${i}\n`));
      expect((await data)[0].toString()).toBe(`echo round ${i}\n`);
      await link.close();
    }
    expect(device.connections).toBe(3);
    await expect(link.open().then(() => link.open())).rejects.toThrow(/already open/);
    await link.close();
  });

  it('close() during connect rejects the pending open()', async () => {
    const device = await echoDevice();
    const link = new TcpLink({ kind: 'tcp', host: '127.0.0.1', port: device.port });
    const opening = link.open();
    await link.close();
    await expect(opening).rejects.toThrow(`cannot connect to tcp://127.0.0.1:${device.port}: closed while connecting`);
    expect(link.isOpen).toBe(false);
  });
});
