/**
 * The bus daemon end to end over real sockets: a raw (nc-style) client speaking CCDLab's
 * multiplexor protocol and labwire requests, the simulated adapter behind it.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../testing/eventually.js';
import { kv } from '../../../test/helpers/julabo-lab.js';
import { parseLine } from '../../wire/tokenize.js';
import { recordingLogger } from '../../testing/log-sink.js';
import { startGpibBench, type GpibBench } from './test-helpers/bench.js';

let bench: GpibBench | undefined;
afterEach(async () => {
  await bench?.close();
  bench = undefined;
});

async function ready(opts: Parameters<typeof startGpibBench>[0] = {}): Promise<GpibBench> {
  bench = await startGpibBench(opts);
  const c = await bench.client();
  await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
  return bench;
}

describe('CCDLab multiplexor protocol on the bus daemon', () => {
  it('set_addr 14 then ?$*IDN? answers the instrument identity; get_status has current_addr', async () => {
    const b = await ready();
    const c = await b.client();
    c.write('set_addr 14\n');
    expect(await c.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
    const status = kv(await c.request('get_status'));
    expect(status.hw_connected).toBe('1');
    await eventually(async () => expect(kv(await c.request('get_status')).current_addr).toBe('14'));
    expect(status.version).toBe('Prologix GPIB-ETHERNET Controller version 01.06.06.00');
  });

  it('plain writes and send reach the instrument exactly as typed, quotes included', async () => {
    const b = await ready();
    const c = await b.client();
    c.write('set_addr 15\n:SYST:ZCH ON\nsend :DISP:TEXT "HELLO WORLD"\n');
    expect(await c.request('send ?$ECHO? done')).toBe('done');
    // A whole quoted argument is unquoted, as gpib.py's shlex did: still a query.
    expect(await c.request('send "?$ECHO? quoted"')).toBe('quoted');
    expect(b.instruments.get(15)!.texts()).toEqual([':SYST:ZCH ON', ':DISP:TEXT "HELLO WORLD"', 'ECHO? done', 'ECHO? quoted']);
    // get_status reports the address last used (polled, so within a poll or two).
    await eventually(async () => expect(kv(await c.request('get_status')).current_addr).toBe('15'));
  });

  it('data that starts with ++ is escaped: the instrument gets it, the adapter never executes it', async () => {
    const b = await ready();
    const c = await b.client();
    c.write('set_addr 14\n++rst\nsend ++addr 3\n');
    expect(await c.request('?$ECHO? still here')).toBe('still here');
    expect(b.instruments.get(14)!.texts()).toEqual(['++rst', '++addr 3', 'ECHO? still here']);
    expect(b.sim.adapter.executed).not.toContain('rst');
    expect(b.sim.adapter.executed.some((l) => l.startsWith('addr 3'))).toBe(false);
    expect(b.sim.clientsAccepted).toBe(1);
  });

  it('a reply with embedded CR and LF reaches its asker whole: lines for CCDLab, exact bytes for labwire', async () => {
    const b = await ready();
    const c = await b.client();
    c.write('set_addr 22\n');
    const from = c.lines.length;
    c.write('?$MULTI?\n');
    expect(await c.replies(3, from)).toEqual(['LINE1', 'LINE2', 'LINE3']);
    const line = await c.request('query addr=22 data=4d554c54493f hex=1');
    const q = kv(line);
    expect(line).toMatch(/^ok query reply=/);
    expect(Buffer.from(q.reply!, 'hex').toString('latin1')).toBe('LINE1\rLINE2\nLINE3\n');
  });

  it('an instrument that never answers costs its asker a Timeout; other addresses keep working', async () => {
    const b = await ready();
    b.sim.setInstrumentFault(14, 'off', true);
    const silent = await b.client();
    const other = await b.client();
    silent.write('set_addr 14\n');
    other.write('set_addr 15\n');
    const pending = silent.request('?$*IDN?', 10_000);
    const from = other.lines.length;
    other.write('?$ECHO? 1\n?$ECHO? 2\n?$ECHO? 3\n');
    expect(await other.replies(3, from)).toEqual(['1', '2', '3']);
    expect(await pending).toMatch(/^error \*IDN\? code=Timeout message=".*GPIB address 14 did not answer/);
    // The bus stays in step: the next query of the same asker is answered once the instrument is back.
    b.sim.setInstrumentFault(14, 'off', false);
    expect(await silent.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
    const bus = kv(await other.request('bus_status'));
    expect(bus.a14_timeouts).toBe('1');
    expect(bus.a15_timeouts).toBe('0');
  });

  it('two CCDLab clients on the same address each get only their own replies', async () => {
    const b = await ready();
    const x = await b.client();
    const y = await b.client();
    x.write('set_addr 14\n');
    y.write('set_addr 14\n');
    const n = 50;
    const fromX = x.lines.length;
    const fromY = y.lines.length;
    for (let i = 0; i < n; i++) {
      x.write(`?$ECHO? x${i}\n`);
      y.write(`?$ECHO? y${i}\n`);
    }
    const rx = await x.replies(n, fromX, 20_000);
    const ry = await y.replies(n, fromY, 20_000);
    expect(rx).toEqual(Array.from({ length: n }, (_, i) => `x${i}`));
    expect(ry).toEqual(Array.from({ length: n }, (_, i) => `y${i}`));
  });

  it('CCDLab lines need the operator role: a viewer is refused, an operator is served', async () => {
    const b = await ready({
      daemon: {
        tokens: [
          { name: 'watcher', token: 'viewer-token-0123', role: 'viewer' },
          { name: 'k6485', token: 'operator-token-0123', role: 'operator' },
        ],
        anonymousRole: 'viewer',
      },
    });
    const refusals: string[] = [];
    b.daemon.runner.on('audit', (e: { command: string; result: string }) => refusals.push(`${e.command} → ${e.result}`));
    const viewer = await b.client();
    expect(await viewer.request('auth token=viewer-token-0123')).toMatch(/^ok auth role=viewer/);
    expect(await viewer.request('set_addr 14')).toMatch(/^error - code=Unauthorized message=".*CCDLab GPIB multiplexor.*operator/);
    expect(await viewer.request('send ?$*IDN?')).toMatch(/^error - code=Unauthorized/);
    // Without an address the line is not the multiplexor's: labwire does not know it.
    expect(await viewer.request('?$*IDN?')).toMatch(/^error .* code=NoSuchCommand/);
    expect(b.instruments.get(14)!.received).toEqual([]);
    // The refusals are in the audit, as a refused device write would be.
    await eventually(() => expect(refusals.filter((r) => r.startsWith('set_addr 14') || r.startsWith('send ?$*IDN?'))).toHaveLength(2));
    const op = await b.client();
    expect(await op.request('auth token=operator-token-0123')).toMatch(/^ok auth role=operator/);
    op.write('set_addr 14\n');
    expect(await op.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
  });

  it('query and write are traffic: counted, not audited one by one, never busy; a viewer is refused and that is audited', async () => {
    const b = await ready({
      daemon: {
        tokens: [
          { name: 'watcher', token: 'viewer-token-0123', role: 'viewer' },
          { name: 'k6485', token: 'operator-token-0123', role: 'operator' },
        ],
        anonymousRole: 'viewer',
      },
    });
    const audits: string[] = [];
    const states = new Set<string>();
    b.daemon.runner.on('audit', (e: { command: string; result: string }) => audits.push(`${e.command} → ${e.result}`));
    b.daemon.runner.on('update', (e: { changes: Record<string, unknown> }) => {
      if (typeof e.changes.state === 'string') states.add(e.changes.state);
    });
    const op = await b.client();
    expect(await op.request('auth token=operator-token-0123')).toMatch(/^ok auth role=operator/);
    const before = Number(kv(await op.request('get_status')).transactions);
    for (let i = 0; i < 50; i++) {
      // The reply's own terminator comes back too (C-style quoted): exact bytes for labwire.
      expect(await op.request('query addr=14 data="*IDN?"')).toMatch(/^ok query reply=\$'TEST INSTRUMENTS,MODEL14,0,1\.0\\n'$/);
      expect(await op.request(`write addr=15 data="VOLT ${i}"`)).toBe('ok write');
    }
    await eventually(async () => expect(Number(kv(await op.request('get_status')).transactions) - before).toBeGreaterThanOrEqual(100));
    expect(audits).toEqual([]);
    expect(states.has('busy')).toBe(false);
    const viewer = await b.client();
    expect(await viewer.request('auth token=viewer-token-0123')).toMatch(/^ok auth role=viewer/);
    expect(await viewer.request('write addr=15 data="VOLT 99"')).toMatch(/^error write code=Unauthorized/);
    expect(b.instruments.get(15)!.received).not.toContain('VOLT 99');
    await eventually(() => expect(audits.some((a) => a.startsWith('write addr=15 data="VOLT 99"') && a.includes('Unauthorized'))).toBe(true));
  });

  it('a read-only bus daemon refuses CCDLab lines and labwire writes alike, and audits the refusals', async () => {
    const b = await ready({ daemon: { readOnly: true } });
    const audits: string[] = [];
    b.daemon.runner.on('audit', (e: { command: string; result: string }) => audits.push(`${e.command} → ${e.result}`));
    const c = await b.client();
    expect(await c.request('set_addr 14')).toMatch(/^error - code=ReadOnly message=".*read-only mode; CCDLab GPIB multiplexor lines refused"$/);
    expect(await c.request('send OUTP ON')).toMatch(/^error - code=ReadOnly/);
    expect(await c.request('write addr=14 data="OUTP ON"')).toMatch(/^error write code=ReadOnly/);
    expect(b.instruments.get(14)!.received).toEqual([]);
    await eventually(() => expect(audits.filter((a) => a.includes('ReadOnly'))).toHaveLength(3));
    expect(audits[0]).toMatch(/^set_addr 14 → /);
  });

  it('a transaction its asker gave up on while the bus was busy is dropped, never sent late', async () => {
    const b = await ready();
    b.sim.setInstrumentFault(14, 'off', true);
    const a = await b.client();
    const c = await b.client();
    const reads = (): number => b.sim.adapter.executed.filter((l) => /^read( |$)/.test(l)).length;
    const before = reads();
    const slow = a.request('query addr=14 data="*IDN?" timeout_ms=1500');
    // The slow query is on the bus (the adapter reads 1.5 s for it) before the write is asked for.
    await eventually(() => expect(reads()).toBeGreaterThan(before));
    expect(await c.request('write addr=15 data="VOLT 7" within_ms=200')).toMatch(/^error write code=Timeout message=".*time ran out while the bus was busy; not sent"$/);
    expect(await slow).toMatch(/^error query code=Timeout/);
    // The bus moved on: the next write goes out, the dropped one never did.
    expect(await c.request('write addr=15 data="VOLT 8"')).toBe('ok write');
    await eventually(() => expect(b.instruments.get(15)!.texts()).toContain('VOLT 8'));
    expect(b.instruments.get(15)!.texts()).not.toContain('VOLT 7');
  });

  it('lines without an address, bad set_addr and two $ get error replies, not silence', async () => {
    const b = await ready();
    const c = await b.client();
    expect(await c.request('send ?$*IDN?')).toMatch(/^error \*IDN\? code=ProtocolError message="no GPIB address on this connection/);
    expect(await c.request('set_addr 31')).toMatch(/^error set_addr code=RangeError/);
    c.write('set_addr 14\n');
    expect(await c.request('?$A$B')).toMatch(/code=ProtocolError message="more than one/);
    expect(await c.request('ping')).toBe('pong');
  });
});

describe('the adapter link', () => {
  it('a takeover by another client is detected, logged, and the bus reconnects and serves again', async () => {
    const rec = recordingLogger();
    const b = await ready({ logger: rec.logger });
    const c = await b.client();
    c.write('set_addr 14\n');
    expect(await c.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
    // Another program connects to the adapter: the adapter closes the bus's socket.
    const intruder = net.connect({ host: '127.0.0.1', port: b.simPort });
    intruder.on('error', () => undefined);
    await eventually(() => expect(rec.text()).toMatch(/link to device down/));
    await eventually(async () => expect(kv(await c.request('get_status')).reconnects).toBe('1'));
    // The bus took the adapter back: the intruder's socket is closed in turn.
    if (!intruder.destroyed) await new Promise((r) => intruder.once('close', r));
    expect(intruder.destroyed).toBe(true);
    expect(await c.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
    expect(rec.text()).toMatch(/link to device up/);
    intruder.destroy();
  });

  it('an adapter link drop: askers get CommunicationFailed at once, hw_connected=0, and the bus recovers when it returns', async () => {
    const b = await ready();
    const c = await b.client();
    c.write('set_addr 14\n');
    b.sim.setFault('linkDrop', true);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('0'));
    expect(await c.request('?$*IDN?')).toMatch(/^error \*IDN\? code=CommunicationFailed/);
    b.sim.setFault('linkDrop', false);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
    expect(await c.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
  });

  it('a garbled reply is delivered as received to its asker only; the bus stays in step', async () => {
    const b = await ready();
    b.sim.setInstrumentFault(15, 'garble', true);
    const c = await b.client();
    const garbled = parseLine(await c.request('query addr=15 data="ECHO? abc"')).kwargs;
    expect(garbled.reply).not.toBe('abc\n');
    expect(garbled.reply).toHaveLength(4);
    b.sim.setInstrumentFault(15, 'garble', false);
    expect(parseLine(await c.request('query addr=15 data="ECHO? abc"')).kwargs.reply).toBe('abc\n');
    expect(parseLine(await c.request('query addr=14 data=*IDN?')).kwargs.reply).toBe('TEST INSTRUMENTS,MODEL14,0,1.0\n');
  });

  it('a hung adapter (socket open, nothing answered) is found by the keepalive: hw_connected=0, then it recovers', async () => {
    const b = await ready();
    const c = await b.client();
    b.sim.setFault('silence', true);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('0'), 40_000, 100);
    b.sim.setFault('silence', false);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'), 40_000, 100);
    c.write('set_addr 14\n');
    expect(await c.request('?$*IDN?')).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
  }, 90_000);
});
