/**
 * The simulated adapter on a raw socket: the ++ command set with the real unit's replies, escaping,
 * silent reads, an absent address, and one client at a time.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TestInstrument } from '../test-helpers/bench.js';
import { eventually } from '../../../testing/eventually.js';
import { PrologixSimulator } from './simulator.js';

let sim: PrologixSimulator | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await sim?.close();
  sim = undefined;
});

interface Raw {
  socket: net.Socket;
  received: () => string;
  closed: () => boolean;
}

async function connect(port: number): Promise<Raw> {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  let buf = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (buf += d.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  return { socket, received: () => buf, closed: () => closed };
}

async function start(): Promise<{ port: number; meter: TestInstrument }> {
  const meter = new TestInstrument('M14');
  sim = new PrologixSimulator({ instruments: new Map([[14, meter]]), latencyMs: 0, settings: { read_tmo_ms: 100 } });
  return { port: await sim.listenTcp('127.0.0.1', 0), meter };
}

describe('the simulated Prologix adapter', () => {
  it('answers ++ver and setting queries with CR LF; case variants and bad values are Unrecognized command', async () => {
    const { port } = await start();
    const c = await connect(port);
    c.socket.write('++ver\n++addr\n++AUTO\n++Addr 3\n++addr 31\n++read_tmo_ms 0\n++lon 1\n++eos 3\n++eos\n++spoll 99\n');
    const expected = [
      'Prologix GPIB-ETHERNET Controller version 01.06.06.00', '4',
      'Unrecognized command', 'Unrecognized command', 'Unrecognized command', 'Unrecognized command', 'Unrecognized command',
      '3', 'Unrecognized command',
    ].map((l) => `${l}\r\n`).join('');
    await eventually(() => expect(c.received()).toBe(expected));
  });

  it('++auto 0: a query is answered only on ++read eoi, with the instrument\'s own terminator; escapes reach it literally', async () => {
    const { port, meter } = await start();
    const c = await connect(port);
    c.socket.write('++auto 0\n++addr 14\n++eos 2\nECHO? \x1b+\x1b+x\x1b\ry\n');
    await eventually(() => expect(meter.texts()).toEqual(['ECHO? ++x\ry']));
    expect(c.received()).toBe('');
    c.socket.write('++read eoi\n');
    await eventually(() => expect(c.received()).toBe('++x\ry\n'));
    expect(sim!.adapter.executed).not.toContain('x');
  });

  it('a read with nothing pending, and an absent address, stay silent; the next command still runs', async () => {
    const { port } = await start();
    const c = await connect(port);
    c.socket.write('++addr 14\n++read eoi\n++addr 9\nHELLO?\n++read eoi\n++spoll\n++ver\n');
    await eventually(() => expect(c.received()).toBe('Prologix GPIB-ETHERNET Controller version 01.06.06.00\r\n'));
  });

  it('one client at a time: a new connection takes the adapter and the old socket is closed', async () => {
    const { port } = await start();
    const first = await connect(port);
    first.socket.write('++addr 14\n');
    await eventually(() => expect(sim!.adapter.settings.addr).toBe(14));
    const second = await connect(port);
    await eventually(() => expect(first.closed()).toBe(true));
    second.socket.write('++addr\n');
    // Settings belong to the adapter, not to the client.
    await eventually(() => expect(second.received()).toBe('14\r\n'));
    expect(sim!.clientsAccepted).toBe(2);
  });

  it('++rst closes the connection; ++clr drops the instrument\'s pending reply', async () => {
    const { port } = await start();
    const c = await connect(port);
    c.socket.write('++addr 14\n*IDN?\n++clr\n++read eoi\n++ver\n');
    await eventually(() => expect(c.received()).toBe('Prologix GPIB-ETHERNET Controller version 01.06.06.00\r\n'));
    c.socket.write('++rst\n');
    await eventually(() => expect(c.closed()).toBe(true));
  });

  it('++auto 1 reads after every data line; ++eot_enable appends eot_char; ++read <char> stops after that byte', async () => {
    const { port } = await start();
    const c = await connect(port);
    c.socket.write('++addr 14\n++auto 1\nECHO? a,b\n');
    await eventually(() => expect(c.received()).toBe('a,b\n'));
    c.socket.write('++auto 0\n++eot_enable 1\n++eot_char 42\nECHO? x\n++read eoi\n');
    await eventually(() => expect(c.received()).toBe('a,b\nx\n*'));
    c.socket.write('++eot_enable 0\nECHO? 1,2\n++read 44\n');
    await eventually(() => expect(c.received()).toBe('a,b\nx\n*1,'));
    c.socket.write('++read eoi\n');
    await eventually(() => expect(c.received()).toBe('a,b\nx\n*1,2\n'));
  });
});
