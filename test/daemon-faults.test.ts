/**
 * "Bad input and faults": every case gets a clear error reply or a clean recovery, the daemon
 * never crashes, and other clients are unaffected. Real TCP, the Julabo simulator behind it.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';
import { eventually, kv, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

let lab: JulaboLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

async function ready(opts: Parameters<typeof startJulaboLab>[1] = {}): Promise<JulaboLab> {
  lab = await startJulaboLab({ setpoint: 20 }, opts);
  const c = await lab.client();
  await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
  return lab;
}

/** A bystander proves other clients are unaffected. */
async function bystanderOk(l: JulaboLab): Promise<void> {
  const b = await l.client();
  expect(await b.request('ping')).toBe('pong');
  expect(kv(await b.request('get_status')).hw_connected).toBe('1');
}

describe('bad input', () => {
  it('garbage bytes and invalid UTF-8 get a ProtocolError and the connection stays usable', async () => {
    const l = await ready();
    const c = await l.client();
    const from = c.lines.length;
    c.write(Buffer.from([0xff, 0xfe, 0x80, 0xc3, 0x28, 0x0a]));
    expect(await c.waitLine(() => true, 15_000, from)).toBe('error - code=ProtocolError message="line is not valid UTF-8"');
    expect(await c.request('ping')).toBe('pong');
    const seed = Buffer.alloc(4096);
    for (let i = 0; i < seed.length; i++) seed[i] = (i * 73 + 11) % 256; // deterministic junk with embedded terminators
    c.write(seed);
    c.write('\nping\n');
    await c.waitLine((x) => x === 'pong', 15_000, c.lines.length - 1);
    await bystanderOk(l);
  });

  it('a 10 MB line without terminator is answered LineTooLong at once and does not grow memory', async () => {
    const l = await ready();
    const c = await l.client();
    const from = c.lines.length;
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 10; i++) c.write(chunk);
    const err = await c.waitLine(() => true, 10_000, from);
    expect(err).toMatch(/^error - code=LineTooLong message=".*65536/);
    // Let the rest of the 10 MB arrive, then end the line: the connection is usable again.
    await new Promise((r) => setTimeout(r, 300));
    c.write('\nping\n');
    await c.waitLine((x) => x === 'pong', 10_000, from);
    expect(c.lines.slice(from).filter((x) => x.startsWith('error')).length).toBe(1);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
    await bystanderOk(l);
  });

  it('unbalanced quotes, a lone backslash and kwargs without a command are ProtocolErrors', async () => {
    const l = await ready();
    const c = await l.client();
    expect(await c.request('set setpoint="12')).toMatch(/^error - code=ProtocolError message=".*quot/i);
    expect(await c.request("say 'hello")).toMatch(/^error - code=ProtocolError/);
    expect(await c.request('ping \\')).toMatch(/^error - code=ProtocolError/);
    expect(await c.request('a=1 b=2')).toMatch(/^error - code=ProtocolError message="the line has no command name/);
    expect(await c.request('ping')).toBe('pong');
  });

  it('a client that connects and says nothing is closed after the idle timeout; others are not', async () => {
    const l = await ready({ idleTimeoutMs: 2000 });
    const silent = await l.client();
    const busy = await l.client();
    const timer = setInterval(() => busy.write('ping\n'), 200);
    try {
      await silent.waitClosed(10_000);
      expect(silent.lines.at(-1)).toBe('error - code=Timeout message="no request for 2 s; closing the connection"');
      expect(busy.closed).toBe(false);
      expect(await busy.request('ping')).toBe('pong');
    } finally {
      clearInterval(timer);
    }
  });

  it('a client that vanishes mid-request does not disturb the daemon; the command still completes', async () => {
    const l = await ready();
    const c = await RawClient.connect(l.port);
    c.write('set setpoint=7.5\n');
    c.close();
    const other = await l.client();
    await eventually(async () => expect(kv(await other.request('get_status')).setpoint).toBe('7.5'));
    expect(l.sim.setpoint).toBe(7.5);
    await bystanderOk(l);
  });

  it('a client that half-closes after a slow request still gets every reply, then the connection closes', async () => {
    const l = await ready();
    const s = net.connect({ port: l.port, host: '127.0.0.1', allowHalfOpen: true });
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => s.once('connect', r));
    s.end('set setpoint=12\nping\n');
    await new Promise((r) => s.once('end', r));
    expect(out).toBe('ok set setpoint=12\npong\n');
    s.destroy();
  });

  it('a flood of requests or bad lines behind a slow one is capped: told once, then dropped', async () => {
    const l = await ready();
    const c = await l.client();
    c.write(`set setpoint=13\n${'\xff\n'.repeat(6000)}`);
    await c.waitClosed(15_000);
    expect(c.lines.at(-1)).toBe('error - code=RateLimited message="more than 4096 requests waiting; closing the connection"');
    await bystanderOk(l);
  });

  it('long lines behind a slow one are capped by their bytes too: 40 lines of 60 KB are 2.4 MB, more than 1 MiB', async () => {
    const l = await ready();
    const c = await l.client();
    c.write(`set setpoint=13\n${`ping ${'x'.repeat(60_000)}\n`.repeat(40)}`);
    await c.waitClosed(15_000);
    expect(c.lines.at(-1)).toBe('error - code=RateLimited message="more than 1024 KiB of requests waiting; closing the connection"');
    await bystanderOk(l);
  });

  it('a client that never reads its replies stops being read; output stays bounded and nothing is lost', async () => {
    const l = await ready({ rateLimit: { perSecond: 0 } });
    const s = net.connect({ port: l.port, host: '127.0.0.1' });
    await new Promise((r) => s.once('connect', r));
    s.pause();
    const n = 100_000;
    s.write('get_id\n'.repeat(n));
    await new Promise((r) => setTimeout(r, 1500));
    expect(l.daemon.server.maxOutputBuffered).toBeLessThan(3 * 1024 * 1024);
    let lines = 0;
    s.on('data', (d: Buffer) => {
      for (const b of d) if (b === 10) lines++;
    });
    s.resume();
    await eventually(() => expect(lines).toBe(n), 30_000, 100);
    s.destroy();
    await bystanderOk(l);
  }, 60_000);

  it('names of Object.prototype are not parameters or arguments', async () => {
    const l = await ready();
    const c = await l.client();
    expect(await c.request('set constructor=1')).toMatch(/^error set code=NoSuchParameter/);
    expect(await c.request('set __proto__=1')).toMatch(/^error set code=NoSuchParameter/);
    expect(await c.request('start constructor=1')).toMatch(/^error start code=ProtocolError message="start has no argument/);
    expect(await c.request('toString')).toMatch(/^error toString code=NoSuchCommand/);
  });

  it('many clients that connect and close at once leave the daemon serving', async () => {
    const l = await ready();
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const s = net.connect(l.port, '127.0.0.1');
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        if (i % 2) s.write('get_status\nset setpoint=1');
        s.destroy();
      }),
    );
    await bystanderOk(l);
  });
});

describe('device faults', () => {
  it('a device that stops answering on an open link shows hw_connected=0 with the reason, and comes back', async () => {
    const l = await ready();
    const c = await l.client();
    l.sim.setFault('silent', true);
    await eventually(async () => {
      const s = kv(await c.request('get_status'));
      expect(s.hw_connected).toBe('0');
      expect(s.state).toBe('error');
      expect(s.state_text).toMatch(/does not answer/);
    }, 30_000, 200);
    expect(await c.request('start')).toMatch(/^error start code=CommunicationFailed message="no link to the device: the device does not answer/);
    l.sim.setFault('silent', false);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'), 20_000, 200);
  }, 60_000);

  it('when the first connection fails, state_text says why', async () => {
    const { startDaemon } = await import('../src/daemon/daemon.js');
    const { julaboFamily } = await import('../src/devices/julabo/device.js');
    const { silentLogger } = await import('../src/util/logger.js');
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const d = await startDaemon({ definition: julaboFamily.definition, link: { kind: 'tcp', host: '127.0.0.1', port }, name: 'x', port: 0, logger: silentLogger(), version: 't' });
    try {
      const c = await RawClient.connect(d.port);
      await eventually(async () => expect(kv(await c.request('get_status')).state_text).toMatch(/ECONNREFUSED|refused/i));
      c.close();
    } finally {
      await d.close();
    }
  });

  it('misspelt device options are refused with the name of the option', async () => {
    await expect(startJulaboLab({}, { options: { tolrance: 0.1 } })).rejects.toThrow(/invalid options for julabo device "chiller": unknown option\(s\) tolrance/);
    const { JulaboSimulator } = await import('../src/devices/julabo/simulator.js');
    expect(() => new JulaboSimulator({ timeScael: 3 } as never)).toThrow(/invalid options for the julabo simulator: unknown option\(s\) timeScael/);
  });

  it('the link dropping mid-command gives an error reply, hw_connected=0, and recovery by itself', async () => {
    const l = await ready();
    const c = await l.client();
    await c.request('subscribe hw_connected');
    l.sim.setFault('linkDrop', true);
    const reply = await c.request('set setpoint=9', 15_000);
    expect(reply).toMatch(/^error set code=(CommunicationFailed|Timeout) message=/);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('0'), 15_000);
    expect(kv(await c.request('get_status')).state).toBe('error');
    // While the device is away, writes fail fast with a clear reason.
    expect(await c.request('start')).toMatch(/^error start code=CommunicationFailed message="no link to the device/);
    l.sim.setFault('linkDrop', false);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'), 20_000);
    expect(await c.request('set setpoint=9')).toBe('ok set setpoint=9');
  });

  it('the simulator restarting: hw_connected=0 while away, 1 again when it is back on the same port', async () => {
    const l = await ready();
    const c = await l.client();
    await l.sim.close();
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('0'), 15_000);
    const again = new JulaboSimulator({ byteTiming: false, noise: 0, setpoint: 21 });
    await again.listenTcp('127.0.0.1', l.simPort);
    try {
      await eventually(async () => {
        const s = kv(await c.request('get_status'));
        expect(s.hw_connected).toBe('1');
        expect(s.setpoint).toBe('21');
      }, 20_000);
    } finally {
      await again.close();
    }
  });

  it('a device error reply becomes a HardwareError naming the device text', async () => {
    const l = await ready();
    const c = await l.client();
    l.sim.setRemote(false);
    const reply = await c.request('set setpoint=10', 15_000);
    expect(reply).toMatch(/^error set code=HardwareError message="chiller refused setpoint 10: .*keypad control.*enable remote control/);
    l.sim.setRemote(true);
    expect(await c.request('set setpoint=10')).toBe('ok set setpoint=10');
  });

  it('a device alarm shows as state=error with the device text', async () => {
    const l = await ready();
    const c = await l.client();
    l.sim.setFault('lowLevel', true);
    await eventually(async () => {
      const s = kv(await c.request('get_status'));
      expect(s.state).toBe('error');
      expect(s.state_text).toMatch(/LOW LEVEL ALARM/);
    }, 15_000);
    l.sim.setFault('lowLevel', false);
    await eventually(async () => expect(kv(await c.request('get_status')).state).not.toBe('error'), 15_000);
  });
});
