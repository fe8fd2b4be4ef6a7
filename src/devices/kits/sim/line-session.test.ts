import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SimHost } from '../../../links/sim-host.js';
import { eventually } from '../../../testing/eventually.js';
import { SimFaults } from './faults.js';
import { LineSession } from './line-session.js';

/** An echo instrument on the kit: `PING` → `PONG <n>`, lines of at most 8 characters. */
async function echoServer() {
  const faults: SimFaults = new SimFaults({ dropClients: () => host.dropTcpClients() });
  const seen: string[] = [];
  let overflows = 0;
  const host: SimHost = new SimHost({
    open: (client) =>
      new LineSession(client, {
        terminators: '\r\n',
        replyTerminator: '\r\n',
        maxLineChars: 8,
        sevenBit: true,
        deaf: () => faults.deaf,
        onLine: (line, s) => {
          seen.push(line);
          s.reply(`PONG ${seen.length}`);
        },
        onOverflow: () => overflows++,
      }),
    refuse: () => faults.refusing,
  });
  const port = await host.listenTcp('127.0.0.1', 0);
  return { host, port, faults, seen, overflows: () => overflows };
}

async function client(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  return { socket, text: () => text };
}

describe('LineSession on a SimHost', () => {
  const open: Array<{ close(): Promise<void> | void }> = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it('splits at either terminator, skips blank lines, strips the 8th bit, drops an overlong line whole', async () => {
    const s = await echoServer();
    open.push(s.host);
    const c = await client(s.port);
    open.push({ close: () => void c.socket.destroy() });
    c.socket.write(Buffer.concat([Buffer.from('PI'), Buffer.from([0xce]), Buffer.from('G\r\n\r\nTOO LONG LINE\nok\n')]));
    await eventually(() => expect(c.text()).toBe('PONG 1\r\nPONG 2\r\n'));
    expect(s.seen).toEqual(['PING', 'ok']);
    expect(s.overflows()).toBe(1);
  });

  it('is deaf under silence and closed and refused under linkDrop, and serves again after', async () => {
    const s = await echoServer();
    open.push(s.host);
    const c = await client(s.port);
    s.faults.set('silence', true);
    c.socket.write('A\n');
    await new Promise((r) => setTimeout(r, 100));
    expect(c.text()).toBe('');
    s.faults.set('silence', false);
    const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
    s.faults.set('linkDrop', true);
    await closed;
    const refused = net.connect({ host: '127.0.0.1', port: s.port });
    refused.on('error', () => {});
    await new Promise<void>((r) => refused.once('close', () => r()));
    s.faults.set('linkDrop', false);
    const again = await client(s.port);
    open.push({ close: () => void again.socket.destroy() });
    again.socket.write('B\n');
    await eventually(() => expect(again.text()).toBe('PONG 1\r\n'));
    expect(s.seen).toEqual(['B']);
  });
});
