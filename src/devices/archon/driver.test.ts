/**
 * The Archon driver against a small fake controller on a real TCP socket: ids, `?ID` with the
 * controller's reason, silence for unknown words, replies with a foreign id, FETCH streaming,
 * the ACF upload order; and the per-command timeouts through a recording exchange.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Exchange } from '../../links/exchange.js';
import { createLink } from '../../links/registry.js';
import type { ExchangeLike, RequestOptions } from '../../links/types.js';
import { FakeTcpDevice } from '../../testing/fake-devices.js';
import { formatBlock, formatFailure, formatReply, parseFetchCommand, parseRequest } from './codec.js';
import { ArchonDriver, ControllerRefused, archonExchangeOptions, archonSplitter } from './driver.js';

/** A controller that knows a few words; `log` is what FETCHLOG hands out. */
class FakeArchon {
  log: string[] = [];
  /** Reply to the next request with this id instead (a stale reply). */
  wrongIdOnce = false;
  /** Every recognised command, FETCHLOG and TIMER too, answered ?ID (firmware that refuses them all). */
  refuseAll = false;
  memory = Buffer.alloc(0);
  readonly device = new FakeTcpDevice((line) => this.answer(line));

  private answer(line: string): string | Buffer | undefined {
    const req = parseRequest(line);
    if (!req) return undefined;
    const { id, command } = req;
    if (this.wrongIdOnce) {
      this.wrongIdOnce = false;
      return formatReply((id + 7) & 0xff, 'STALE=1');
    }
    if (this.refuseAll && command !== 'TIMER') return formatFailure(id);
    if (command === 'TIMER') return formatReply(id, 'TIMER=00000000000F4240');
    if (command === 'STATUS') return formatReply(id, 'VALID=1 COUNT=3 LOG=0 POWER=4 ');
    if (command === 'FETCHLOG') return formatReply(id, this.log.shift() ?? '(null)');
    if (command === 'POWERON') {
      this.log.push('POWERON refused: no APPLYALL since boot');
      return formatFailure(id);
    }
    if (command === 'LOCK9') return formatFailure(id);
    const fetch = parseFetchCommand(command);
    if (fetch) {
      if (fetch.address !== 0xa0000000) return formatFailure(id);
      const blocks: Buffer[] = [];
      for (let b = 0; b < fetch.blocks; b++) blocks.push(formatBlock(id, this.memory.subarray(b * 1024, (b + 1) * 1024)));
      return Buffer.concat(blocks);
    }
    if (/^(POLLOFF|POLLON|CLEARCONFIG|APPLYALL|LOCK\d|WCONFIG.*|FASTLOADPARAM .*)$/.test(command)) return formatReply(id);
    return undefined; // unknown words get no reply at all
  }
}

let fake: FakeArchon;
let exchange: Exchange | undefined;

async function connect(options = {}): Promise<ArchonDriver> {
  fake = new FakeArchon();
  await fake.device.start();
  exchange = new Exchange(() => createLink(fake.device.spec), archonSplitter(), { ...archonExchangeOptions, resyncQuietMs: 100, ...options });
  await exchange.start();
  return new ArchonDriver(exchange);
}

afterEach(async () => {
  await exchange?.stop();
  exchange = undefined;
  await fake?.device.stop();
});

describe('ArchonDriver on TCP', () => {
  it('sends >HH with upper-case ids that change with every request, and returns the body', async () => {
    const driver = await connect();
    const a = await driver.command('STATUS');
    await driver.command('STATUS');
    expect(a).toBe('VALID=1 COUNT=3 LOG=0 POWER=4');
    const ids = fake.device.received.map((l) => l.slice(1, 3));
    expect(ids[0]).toMatch(/^[0-9A-F]{2}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect((await driver.status()).get('POWER')).toBe('4');
  });

  it('?ID becomes a HardwareError naming the command and the reason from FETCHLOG', async () => {
    const driver = await connect();
    const err = (await driver.powerOn().catch((e: unknown) => e)) as ControllerRefused;
    expect(err).toBeInstanceOf(ControllerRefused);
    expect(err.code).toBe('HardwareError');
    expect(err.message).toBe('the Archon refused POWERON: POWERON refused: no APPLYALL since boot');
    expect(fake.device.received.at(-1)).toMatch(/^>[0-9A-F]{2}FETCHLOG$/);
    // An empty log: the error says so.
    await expect(driver.lock(0)).resolves.toBeUndefined();
    await expect(driver.command('LOCK9')).rejects.toThrow('the Archon refused LOCK9 (its log gives no reason)');
  });

  it('a refused FETCHLOG is not explained by FETCHLOG again: one refusal costs two requests, not an endless loop', async () => {
    const driver = await connect();
    fake.refuseAll = true;
    const before = fake.device.received.length;
    await expect(driver.command('STATUS')).rejects.toThrow('the Archon refused STATUS (its log gives no reason)');
    expect(fake.device.received.slice(before).map((l) => l.slice(3))).toEqual(['STATUS', 'FETCHLOG']);
    await expect(driver.drainLog(5)).rejects.toBeInstanceOf(ControllerRefused);
    fake.refuseAll = false;
    await expect(driver.command('STATUS')).resolves.toContain('VALID=1');
  });

  it('an unknown word gets no reply: the request times out, the link resynchronises and works', async () => {
    const driver = await connect();
    await expect(driver.command('NOSUCHWORD', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'Timeout' });
    await expect(driver.command('STATUS')).resolves.toContain('VALID=1');
    // The resync probe: TIMER with an id of its own.
    const probes = fake.device.received.filter((l) => l.endsWith('TIMER'));
    expect(probes.length).toBeGreaterThanOrEqual(1);
  });

  it('a reply carrying another id is refused, never returned, and a fresh probe brings the link back', async () => {
    const driver = await connect();
    fake.wrongIdOnce = true;
    await expect(driver.command('STATUS')).rejects.toThrow(/carries id [0-9A-F]{2}, not [0-9A-F]{2}/);
    await expect(driver.command('STATUS')).resolves.toContain('VALID=1');
    const probes = fake.device.received.filter((l) => l.endsWith('TIMER')).map((l) => l.slice(1, 3));
    expect(new Set(probes).size).toBe(probes.length);
  });

  it('FETCH copies exactly the bytes asked for into the caller buffer, block by block', async () => {
    const driver = await connect();
    fake.memory = Buffer.from(Array.from({ length: 3 * 1024 }, (_, i) => (i * 31 + 7) & 0xff));
    const into = new Uint8Array(2500);
    const result = await driver.fetch(0xa0000000, into);
    expect(result.blocks).toBe(3);
    expect(Buffer.from(into).equals(fake.memory.subarray(0, 2500))).toBe(true);
    expect(fake.device.received.at(-1)).toMatch(/^>[0-9A-F]{2}FETCHA000000000000003$/);
    // The link stays in step: the next command gets its own reply.
    await expect(driver.command('STATUS')).resolves.toContain('VALID=1');
  });

  it('FETCH of 32 768 blocks (a 4096 × 4096 16-bit frame) arrives whole and in order', async () => {
    const driver = await connect();
    const bytes = 4096 * 4096 * 2;
    fake.memory = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i += 4) fake.memory.writeUInt32LE((i * 2654435761) >>> 0, i);
    const into = new Uint8Array(bytes);
    const result = await driver.fetch(0xa0000000, into, 10_000);
    expect(result.blocks).toBe(32_768);
    expect(Buffer.from(into.buffer, into.byteOffset, into.length).equals(fake.memory)).toBe(true);
  }, 60_000);

  it('a refused FETCH is a ControllerRefused and the link stays usable', async () => {
    const driver = await connect();
    await expect(driver.fetch(0x10, new Uint8Array(2048))).rejects.toBeInstanceOf(ControllerRefused);
    await expect(driver.command('STATUS')).resolves.toContain('VALID=1');
  });

  it('uploads an ACF as POLLOFF, CLEARCONFIG, WCONFIGnnnn…, POLLON, APPLYALL', async () => {
    const driver = await connect();
    await driver.uploadConfig([
      { key: 'LINECOUNT', value: '512' },
      { key: 'MOD5/CLAMP1', value: '1.5' },
    ]);
    expect(fake.device.received.map((l) => l.slice(3))).toEqual(['POLLOFF', 'CLEARCONFIG', 'WCONFIG0000LINECOUNT=512', 'WCONFIG0001MOD5/CLAMP1=1.5', 'POLLON', 'APPLYALL']);
  });

  it('drains the controller log until (null)', async () => {
    const driver = await connect();
    fake.log = ['one', 'two'];
    expect(await driver.drainLog(5)).toEqual(['one', 'two']);
  });
});

describe('ArchonDriver timeouts and argument checks', () => {
  function recording(): { ex: ExchangeLike; seen: Array<{ line: string; options: RequestOptions }> } {
    const seen: Array<{ line: string; options: RequestOptions }> = [];
    const ex: ExchangeLike = {
      isUp: true,
      request: (data, options = {}) => {
        const line = String(data);
        seen.push({ line, options });
        const id = Number.parseInt(line.slice(1, 3), 16);
        return Promise.resolve(Buffer.from(formatReply(id).trimEnd()));
      },
    };
    return { ex, seen };
  }

  it('gives APPLYALL and POWERON/OFF 30 s and everything else 5 s', async () => {
    const { ex, seen } = recording();
    const driver = new ArchonDriver(ex);
    await driver.command('APPLYALL');
    await driver.powerOn();
    await driver.powerOff();
    await driver.command('STATUS');
    expect(seen.map((s) => s.options.timeoutMs)).toEqual([30_000, 30_000, 30_000, 5000]);
  });

  it('refuses parameter values outside 20 bits and names that are no parameter names', async () => {
    const { ex, seen } = recording();
    const driver = new ArchonDriver(ex);
    await expect(driver.fastLoadParam('IntMS', 0x100000)).rejects.toMatchObject({ code: 'RangeError' });
    await expect(driver.fastLoadParam('IntMS', -1)).rejects.toMatchObject({ code: 'RangeError' });
    await expect(driver.fastLoadParam('Int MS', 1)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(driver.lock(4)).rejects.toMatchObject({ code: 'RangeError' });
    expect(seen).toHaveLength(0);
    await driver.fastLoadParam('IntMS', 0xfffff);
    expect(seen[0]!.line).toMatch(/^>[0-9A-F]{2}FASTLOADPARAM IntMS 1048575\n$/);
  });
});
