import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LinkError, type ExchangeLike, type RequestOptions } from '../../links/types.js';
import { LabwireError } from '../../wire/types.js';
import { CMD, FEEDBACK, STATUS, blankChannelRecord, commandName, encodeChannelsInfoFeedback, encodeCommonFeedback, encodeConnectFeedback, encodeFrame, parseFrame } from './codec.js';
import { ArbinDriver, arbinExchangeOptions, arbinSplitter, type ArbinDriverOptions } from './driver.js';
import { ArbinSimulator, toPyctiFrame, type ArbinSimulatorOptions } from './simulator.js';

const CREDS = { username: 'lab', password: 'cell-42' };

/**
 * An ExchangeLike in front of the simulator's protocol handler, with the Exchange's contract: a
 * request without a feedback times out, a feedback failing `validate` is refused.
 */
function fakeExchange(answer: (req: Buffer) => Buffer[]): ExchangeLike & { sent: Buffer[]; options: RequestOptions[] } {
  const sent: Buffer[] = [];
  const options: RequestOptions[] = [];
  return {
    sent,
    options,
    isUp: true,
    async request(data, opts = {}) {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
      sent.push(bytes);
      options.push(opts);
      const reply = answer(bytes)[0];
      if (reply === undefined) throw new LinkError('Timeout', `no reply to ${commandName(bytes.readUInt32LE(12))}`);
      if (opts.validate) {
        let ok = false;
        let why = '';
        try {
          ok = opts.validate(reply);
        } catch (err) {
          why = `: ${(err as Error).message}`;
        }
        if (!ok) throw new LinkError('CommunicationFailed', `unexpected reply${why}`);
      }
      return reply;
    },
  };
}

function setup(simOptions: ArbinSimulatorOptions = {}, driverOptions: ArbinDriverOptions = {}) {
  const sim = new ArbinSimulator({ ...CREDS, noise: 0, ...simOptions }, { env: {} });
  const session = sim.newSession();
  const exchange = fakeExchange((req) => sim.handleRequest(req, session));
  const driver = new ArbinDriver(exchange, { credentials: CREDS, ...driverOptions });
  const codes = (): string[] => exchange.sent.map((b) => commandName(b.readUInt32LE(12)).replace(/ \(.*$/, ''));
  return { sim, exchange, driver, codes };
}

async function caught(p: Promise<unknown>): Promise<LabwireError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LabwireError);
  return err as LabwireError;
}

describe('ArbinDriver session', () => {
  it('logs in and keeps what the cycler said', async () => {
    const { driver } = setup({ channels: 8, serialNumber: '207855' });
    expect(driver.session).toBeUndefined();
    const s = await driver.login();
    expect(s).toMatchObject({ username: 'lab', result: 1, serialNumber: '207855', channelCount: 8, allowControl: true, ip: '127.0.0.1' });
    expect(driver.session).toBe(s);
  });

  it('a refused login names the user and result 2, never the password', async () => {
    const { driver } = setup({ password: 'other' });
    const err = await caught(driver.login());
    expect(err.code).toBe('HardwareError');
    expect(err.message).toBe(
      'CTI login refused for user "lab" (result 2: failed: wrong user name or password, or no CTI permission); check the user in MITS Pro\'s CTI user management',
    );
    expect(err.message).not.toContain('cell-42');
    expect(driver.session).toBeUndefined();
  });

  it('reads credentials from a secrets file at every login', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbin-drv-'));
    const file = path.join(dir, 'cti.env');
    fs.writeFileSync(file, 'ARBIN_CTI_USERNAME=lab\nARBIN_CTI_PASSWORD=wrong\n');
    const { driver } = setup({}, { credentials: undefined, secretsFile: file, env: {} });
    await expect(driver.login()).rejects.toThrow(/login refused/);
    fs.writeFileSync(file, 'ARBIN_CTI_USERNAME=lab\nARBIN_CTI_PASSWORD=cell-42\n');
    expect((await driver.login()).result).toBe(1);
  });

  it('reports missing credentials before sending anything', async () => {
    const { driver, exchange } = setup({}, { credentials: undefined, env: {} });
    await expect(driver.login()).rejects.toThrow(/no Arbin CTI credentials: set ARBIN_CTI_USERNAME and ARBIN_CTI_PASSWORD/);
    expect(exchange.sent).toEqual([]);
  });

  it('waits about 10 s for a feedback (vendor advice), as configured', async () => {
    const { driver, exchange } = setup({}, { timeoutMs: 1234 });
    await driver.login();
    expect(exchange.options[0]?.timeoutMs).toBe(1234);
    const other = setup();
    await other.driver.login();
    expect(other.exchange.options[0]?.timeoutMs).toBe(10_000);
  });
});

describe('ArbinDriver readings', () => {
  it('reads one channel and all channels in one request', async () => {
    const { driver, codes, exchange } = setup();
    await driver.login();
    const one = await driver.channelInfo(3);
    expect(one).toMatchObject({ channel: 3, status: STATUS.idle, voltage: 3.75 });
    const all = await driver.channels();
    expect(all).toHaveLength(16);
    expect(codes()).toEqual(['LOGIN', 'GET_CHANNELS_INFO', 'GET_CHANNELS_INFO']);
    expect(exchange.sent[1]!.readInt16LE(20)).toBe(2);
    expect(exchange.sent[2]!.readInt16LE(20)).toBe(-1);
  });

  it('reads channel by channel in pollMode "each"', async () => {
    const { driver, codes } = setup({ channels: 3 }, { pollMode: 'each' });
    await driver.login();
    expect((await driver.readAllChannels()).map((r) => r.channel)).toEqual([1, 2, 3]);
    expect(codes()).toEqual(['LOGIN', 'GET_CHANNELS_INFO', 'GET_CHANNELS_INFO', 'GET_CHANNELS_INFO']);
  });

  it('refuses channel 0 (never sent as −1) and channels beyond the cycler before sending', async () => {
    const { driver, exchange } = setup({ channels: 8 });
    await driver.login();
    const sentBefore = exchange.sent.length;
    for (const call of [() => driver.channelInfo(0), () => driver.stopTest(0), () => driver.setMetaVariable(0, 1, 1), () => driver.startTest({ channels: 0, testName: 't', schedule: 'Rest.sdx' }), () => driver.resumeTest(0)]) {
      const err = await caught(call());
      expect(err.code).toBe('RangeError');
      expect(err.message).toMatch(/^channel 0 does not exist: Arbin channels are numbered from 1/);
    }
    const beyond = await caught(driver.channelInfo(9));
    expect(beyond.message).toBe('channel 9 does not exist: this cycler has 8 channels (1 … 8)');
    expect(exchange.sent.length).toBe(sentBefore);
  });

  it('a feedback of the wrong command is refused, naming both codes', async () => {
    const { driver } = setup();
    await driver.login();
    const wrong = new ArbinDriver(
      fakeExchange(() => [encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: 0 })]),
      { credentials: CREDS },
    );
    await expect(wrong.channelInfo(1)).rejects.toThrow(
      'unexpected reply: STOP_SCHEDULE feedback (0xBB130001) does not answer GET_CHANNELS_INFO for channel 1; expected GET_CHANNELS_INFO feedback (0xEEBA0003)',
    );
    const unknown = new ArbinDriver(fakeExchange(() => [encodeFrame('feedback', 0x12345678, Buffer.alloc(8))]), { credentials: CREDS });
    await expect(unknown.login()).rejects.toThrow(/unknown command 0x12345678 does not answer LOGIN/);
  });

  it('a record of another channel does not answer a one-channel request: refused, so the Exchange resyncs', async () => {
    const other = new ArbinDriver(fakeExchange(() => [encodeChannelsInfoFeedback([blankChannelRecord(2)])]), { credentials: CREDS });
    await expect(other.channelInfo(3)).rejects.toMatchObject({ code: 'CommunicationFailed', message: 'unexpected reply: the feedback holds channel 2, not 3' });
  });

  it('the resync probe is CONNECT, and only a CONNECT feedback answers it', () => {
    const probe = arbinExchangeOptions.resyncProbe!;
    expect(parseFrame(Buffer.from(probe.request), 'request').cmd).toBe(CMD.CONNECT);
    expect(probe.isAnswer(encodeConnectFeedback({ kickOutProtection: false, result: 0 }))).toBe(true);
    expect(probe.isAnswer(encodeChannelsInfoFeedback([blankChannelRecord(1)]))).toBe(false);
    expect(probe.isAnswer(encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: 0 }))).toBe(false);
    expect(probe.isAnswer(Buffer.alloc(4))).toBe(false);
  });

  it('a malformed feedback is CommunicationFailed with the reason', async () => {
    const short = encodeFrame('feedback', FEEDBACK.GET_CHANNELS_INFO, Buffer.from([5, 0, 0, 0]));
    const driver = new ArbinDriver(fakeExchange(() => [short]), { credentials: CREDS });
    const err = await caught(driver.channels());
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toMatch(/malformed feedback to GET_CHANNELS_INFO for all channels: .*announces 5 channel records but has room for 0/);
  });
});

describe('ArbinDriver control', () => {
  it('start assigns then starts (as pycti did); stop and resume; result codes become clear errors', async () => {
    const { driver, codes, sim } = setup();
    await driver.login();
    await driver.startTest({ channels: 3, testName: 't1', schedule: 'Charge.sdx', capacityAh: 2 });
    expect(codes().slice(1)).toEqual(['ASSIGN_SCHEDULE', 'START_SCHEDULE']);
    expect(sim.channel(3).status).toBe(STATUS.charge);
    const again = await caught(driver.startTest({ channels: 3, testName: 't2' }));
    expect(again.code).toBe('HardwareError');
    expect(again.message).toBe('cycler refused START_SCHEDULE of test "t2" on channel 3: channel is running or unsafe (result 0x12)');
    const reassign = await caught(driver.startTest({ channels: 3, testName: 't2', schedule: 'Rest.sdx' }));
    expect(reassign.message).toBe('cycler refused ASSIGN_SCHEDULE of Rest.sdx to channel 3: channel is running (result 0x14)');
    await driver.stopTest(3);
    expect(sim.channel(3).status).toBe(STATUS.idle);
    await driver.resumeTest(3);
    expect(sim.channel(3).status).toBe(STATUS.charge);
    const noSchedule = await caught(driver.startTest({ channels: 4, testName: 't' }));
    expect(noSchedule.message).toMatch(/no schedule assigned \(result 0x15\)$/);
    const unknownSchedule = await caught(driver.startTest({ channels: 4, testName: 't', schedule: 'missing.sdx' }));
    expect(unknownSchedule.message).toMatch(/schedule not found \(result 0x13\)$/);
    await expect(driver.startTest({ channels: 4, testName: ' ' })).rejects.toThrow(/test name must not be empty/);
  });

  it('starts several channels with one START', async () => {
    const { driver, codes, exchange } = setup();
    await driver.login();
    await driver.startTest({ channels: [1, 2], testName: 'pair', schedule: 'Rest.sdx' });
    expect(codes().slice(1)).toEqual(['ASSIGN_SCHEDULE', 'ASSIGN_SCHEDULE', 'START_SCHEDULE']);
    expect(exchange.sent.at(-1)!.length).toBe(174);
  });

  it('set_mv: 0x12 on an idle channel is "channel is not running"; a running MV step follows it', async () => {
    const { driver, sim } = setup();
    await driver.login();
    const idle = await caught(driver.setMetaVariable(3, 'UD1', 1));
    expect(idle.message).toBe('cycler refused SET_MV_VALUE of MV_UD1 = 1 on channel 3: channel is not running (result 0x12)');
    await driver.startTest({ channels: 3, testName: 't', schedule: 'MV_Charge.sdx' });
    await driver.setMetaVariable(3, 'UD1', 1.5);
    expect(sim.channel(3).mv[0]).toBe(1.5);
    expect(sim.channel(3).current).toBe(1.5);
    await expect(driver.setMetaVariable(3, 'UD17', 1)).rejects.toThrow(/not one of UD1 … UD16/);
    await expect(driver.setMetaVariable(3, 2, Number.NaN)).rejects.toThrow(/does not fit a 32-bit float/);
  });

  it('spaces updates of one meta variable at least 200 ms apart (fake clock)', async () => {
    let t = 0;
    const waits: number[] = [];
    const { driver } = setup(
      { mvMinIntervalMs: 0 },
      {
        now: () => t,
        sleep: async (ms) => {
          waits.push(ms);
          t += ms;
        },
      },
    );
    await driver.login();
    await driver.startTest({ channels: 1, testName: 't', schedule: 'MV_Charge.sdx' });
    await driver.startTest({ channels: 2, testName: 't', schedule: 'MV_Charge.sdx' });
    await driver.setMetaVariable(1, 1, 0.1);
    t += 50;
    await driver.setMetaVariable(1, 1, 0.2);
    await driver.setMetaVariable(1, 2, 0.3);
    await driver.setMetaVariable(2, 1, 0.4);
    t += 500;
    await driver.setMetaVariable(1, 1, 0.5);
    expect(waits).toEqual([150]);
  });

  it('the simulator refuses too-frequent updates with 0x14 when the driver does not space them', async () => {
    const { driver } = setup({}, { mvMinIntervalMs: 0 });
    await driver.login();
    await driver.startTest({ channels: 1, testName: 't', schedule: 'MV_Charge.sdx' });
    await driver.setMetaVariable(1, 1, 0.1);
    const err = await caught(driver.setMetaVariable(1, 1, 0.2));
    expect(err.message).toMatch(/updated too often: at most one update per 200 ms per meta variable \(result 0x14\)$/);
  });

  it('read-only mode (the predecessor cycler interface) sends no control command', async () => {
    const { driver, codes } = setup({}, { readOnly: true });
    await driver.login();
    for (const call of [() => driver.startTest({ channels: 1, testName: 't', schedule: 'Rest.sdx' }), () => driver.stopTest(1), () => driver.resumeTest(1), () => driver.setMetaVariable(1, 1, 1), () => driver.assignSchedule(1, 'Rest.sdx')]) {
      const err = await caught(call());
      expect(err.code).toBe('ReadOnly');
      expect(err.message).toMatch(/refused: the Arbin driver is read-only/);
    }
    expect((await driver.channels()).length).toBe(16);
    expect(codes()).toEqual(['LOGIN', 'GET_CHANNELS_INFO']);
  });

  it('a user without IsAllowToControl is told so before anything is sent', async () => {
    const { driver, codes } = setup({ allowControl: false });
    await driver.login();
    const err = await caught(driver.stopTest(1));
    expect(err.message).toBe('stop refused: the CTI user "lab" may not control this cycler (IsAllowToControl = 0 at login); grant control in MITS Pro\'s CTI user management');
    expect(codes()).toEqual(['LOGIN']);
  });

  it('CONNECT sets the kick-out protection', async () => {
    const { driver } = setup();
    await driver.login();
    expect(await driver.connect(true)).toEqual({ kickOutProtection: true, result: 0 });
  });
});

describe('arbinSplitter', () => {
  it('returns frames, tolerates pycti frames, and throws for a corrupt frame with nothing good in the chunk', () => {
    const s = arbinSplitter();
    const fb = encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: 0 });
    expect(s.push(Buffer.concat([fb, toPyctiFrame(fb)]))).toEqual([fb, fb]);
    const bad = Buffer.from(fb);
    bad[50] = bad[50]! ^ 1;
    expect(() => s.push(bad)).toThrow(/checksum/);
    s.reset();
    expect(s.push(Buffer.concat([Buffer.from([1, 2, 3]), fb]))).toEqual([fb]);
    s.push(fb.subarray(0, 30));
    expect(s.takePartial()).toEqual(fb.subarray(0, 30));
    const strict = arbinSplitter({ pyctiTolerance: false });
    expect(() => strict.push(toPyctiFrame(fb))).toThrow(/checksum/);
    expect(parseFrame(s.push(fb)[0]!, 'feedback').cmd).toBe(FEEDBACK.STOP_SCHEDULE);
    expect(CMD.STOP_SCHEDULE).toBe(0xbb310001);
  });
});
