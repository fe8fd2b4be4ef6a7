/**
 * The driver through the real Exchange over real TCP: against the simulator (with its wire
 * quirks and faults) and against a hand-made server that misbehaves on purpose.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Exchange, createLink, type ExchangeOptions } from '../../links/index.js';
import { CMD, CtiStreamDecoder, FEEDBACK, STATUS, encodeCommonFeedback, encodeConnectFeedback, encodeFrame, encodeLoginFeedback, parseFrame } from './codec.js';
import { ArbinDriver, arbinExchangeOptions, arbinSplitter } from './driver.js';
import { ArbinSimulator, type ArbinSimulatorOptions } from './simulator.js';

const CREDS = { username: 'lab', password: 'cell-42' };

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function once(ex: Exchange, event: 'up' | 'down', timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    ex.once(event, (reason?: string) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

async function connect(port: number, exchangeOptions: ExchangeOptions = {}, credentials = CREDS) {
  const timeoutMs = exchangeOptions.timeoutMs ?? arbinExchangeOptions.timeoutMs;
  const ref: { driver?: ArbinDriver } = {};
  const exchange = new Exchange(() => createLink({ kind: 'tcp', host: '127.0.0.1', port }), arbinSplitter(), {
    ...arbinExchangeOptions,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    // As the daemon does through identify: log in after every (re)connect.
    onConnect: async () => {
      await ref.driver!.login();
    },
    ...exchangeOptions,
  });
  const driver = new ArbinDriver(exchange, { credentials, timeoutMs });
  ref.driver = driver;
  cleanup.push(() => exchange.stop());
  return { exchange, driver };
}

async function simAndDriver(simOptions: ArbinSimulatorOptions = {}, exchangeOptions: ExchangeOptions = {}) {
  const sim = new ArbinSimulator({ ...CREDS, noise: 0, ...simOptions }, { env: {} });
  cleanup.push(() => sim.close());
  const port = await sim.listenTcp('127.0.0.1', 0);
  const { exchange, driver } = await connect(port, exchangeOptions);
  await exchange.start();
  expect(exchange.isUp).toBe(true);
  return { sim, exchange, driver };
}

/**
 * A CTI server that answers each request frame with whatever `answer` writes; `n` counts the
 * requests it is given. CONNECT, the Exchange's resync probe, it answers itself, as MITS Pro does.
 */
async function handMadeServer(answer: (req: Buffer, socket: net.Socket, n: number) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new CtiStreamDecoder({ kind: 'request' });
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk).frames) {
        if (parseFrame(f, 'request').cmd === CMD.CONNECT) socket.write(encodeConnectFeedback({ kickOutProtection: false, result: 0 }));
        else answer(f, socket, n++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

describe('ArbinDriver ↔ simulator through the Exchange over TCP', () => {
  it('runs a test session: login, all channels, start, set MV, voltage rises, stop', async () => {
    const { sim, driver } = await simAndDriver({ timeScale: 600 });
    expect(driver.session?.channelCount).toBe(16);
    expect((await driver.channels()).length).toBe(16);
    await driver.startTest({ channels: 3, testName: 'tcp', schedule: 'MV_Charge.sdx' });
    await driver.setMetaVariable(3, 'UD1', 2);
    const v0 = (await driver.channelInfo(3)).voltage;
    await new Promise((r) => setTimeout(r, 300));
    const r = await driver.channelInfo(3);
    expect(r).toMatchObject({ status: STATUS.charge, current: 2 });
    expect(r.voltage).toBeGreaterThan(v0);
    await driver.stopTest(3);
    expect(sim.channel(3).status).toBe(STATUS.idle);
  });

  it('reassembles feedback that arrives in small pieces', async () => {
    const { driver } = await simAndDriver({ chunkBytes: 61, channels: 2 });
    expect((await driver.channels()).map((r) => r.channel)).toEqual([1, 2]);
    expect((await driver.channelInfo(2)).channel).toBe(2);
  });

  it('talks to a server that answers like the pycti spoofer (2 extra bytes per feedback)', async () => {
    const { driver } = await simAndDriver({ pyctiFrames: true });
    expect((await driver.channelInfo(5)).channel).toBe(5);
    await driver.stopTest(5);
    expect((await driver.channels()).length).toBe(16);
  });

  it('a garbled feedback fails its request with CommunicationFailed; the next one works', async () => {
    const { sim, driver } = await simAndDriver();
    sim.garbleNextReplies(1);
    await expect(driver.channelInfo(1)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/bad reply .*checksum/) });
    expect((await driver.channelInfo(1)).channel).toBe(1);
  });

  it('the server closing mid-frame fails the request; the link comes back and logs in again', async () => {
    const { sim, exchange, driver } = await simAndDriver();
    expect(sim.stats.logins).toBe(1);
    const up = once(exchange, 'up');
    sim.closeMidNextReply();
    await expect(driver.channels()).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/link to tcp:\/\/127\.0\.0\.1:\d+ lost/) });
    await up;
    expect(sim.stats.logins).toBe(2);
    expect((await driver.channels()).length).toBe(16);
  });

  it('a refused login keeps the link down with the reason, and retries', async () => {
    const sim = new ArbinSimulator({ username: 'lab', password: 'other' }, { env: {} });
    cleanup.push(() => sim.close());
    const port = await sim.listenTcp('127.0.0.1', 0);
    const { exchange, driver } = await connect(port);
    const down = once(exchange, 'down');
    await exchange.start();
    expect(exchange.isUp).toBe(false);
    expect(await down).toMatch(/handshake with tcp:\/\/127\.0\.0\.1:\d+ failed: CTI login refused for user "lab" \(result 2/);
    await expect(driver.channels()).rejects.toMatchObject({ code: 'CommunicationFailed' });
    // Once the user exists, the next attempt gets in.
    const up = once(exchange, 'up');
    sim.setCredentials(CREDS);
    await up;
    expect(sim.stats.failedLogins).toBeGreaterThanOrEqual(1);
  });
});

describe('ArbinDriver against a misbehaving server', () => {
  const loginOk = encodeLoginFeedback({ result: 1, channelCount: 4 });

  it('an unknown command code in the feedback is refused, then the exchange resynchronises', async () => {
    const port = await handMadeServer((req, socket, n) => {
      if (n === 0) socket.write(loginOk);
      else if (n === 1) socket.write(encodeFrame('feedback', 0xdeadbeef, Buffer.alloc(8)));
      else socket.write(encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: req.readUInt32LE(20), result: 0 }));
    });
    const { exchange, driver } = await connect(port);
    await exchange.start();
    await expect(driver.stopTest(1)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/unknown command 0xDEADBEEF does not answer STOP_SCHEDULE on channel 1/) });
    await expect(driver.stopTest(2)).resolves.toBeUndefined();
  });

  it('a truncated feedback times out; the late rest is discarded and the next request works', async () => {
    const stop = encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: 0 });
    const port = await handMadeServer((_req, socket, n) => {
      if (n === 0) socket.write(loginOk);
      else if (n === 1) {
        socket.write(stop.subarray(0, 60));
        setTimeout(() => socket.write(stop.subarray(60)), 300);
      } else socket.write(stop);
    });
    const { exchange, driver } = await connect(port, { timeoutMs: 150, resyncQuietMs: 400 });
    await exchange.start();
    await expect(driver.stopTest(1)).rejects.toMatchObject({ code: 'Timeout' });
    await expect(driver.stopTest(1)).resolves.toBeUndefined();
  });

  it('coalesced feedback: a stale frame ahead of the right one fails that request, never the next', async () => {
    const port = await handMadeServer((req, socket, n) => {
      if (n === 0) socket.write(loginOk);
      else if (n === 1) socket.write(Buffer.concat([encodeCommonFeedback(FEEDBACK.SET_MV_VALUE, { channelIndex: 0, result: 0 }), encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: 0 })]));
      else socket.write(encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: req.readUInt32LE(20), result: 0x10 }));
    });
    const { exchange, driver } = await connect(port);
    await exchange.start();
    await expect(driver.stopTest(1)).rejects.toThrow(/SET_MV_VALUE feedback \(0xBB510001\) does not answer STOP_SCHEDULE/);
    await expect(driver.stopTest(3)).rejects.toThrow('cycler refused STOP_SCHEDULE on channel 3: channel index does not exist (result 0x10)');
  });

  it('a bad checksum or a lying length field is a CommunicationFailed, not a wrong answer', async () => {
    const stop = encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: 0 });
    const badSum = Buffer.from(stop);
    badSum[100] = 7;
    const lying = Buffer.from(stop);
    lying.writeUInt32LE(5, 8);
    const port = await handMadeServer((_req, socket, n) => {
      if (n === 0) socket.write(loginOk);
      else if (n === 1) socket.write(badSum);
      else if (n === 2) socket.write(lying);
      else socket.write(stop);
    });
    const { exchange, driver } = await connect(port);
    await exchange.start();
    await expect(driver.stopTest(1)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/checksum/) });
    await new Promise((r) => setTimeout(r, 150));
    await expect(driver.stopTest(1)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/length field 5/) });
    await new Promise((r) => setTimeout(r, 150));
    await expect(driver.stopTest(1)).resolves.toBeUndefined();
    expect(parseFrame(stop, 'feedback').cmd).toBe(FEEDBACK.STOP_SCHEDULE);
  });
});
