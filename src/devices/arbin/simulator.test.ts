import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeClock } from '../../testing/fake-clock.js';
import {
  ALL_CHANNELS,
  CMD,
  CtiStreamDecoder,
  FEEDBACK,
  STATUS,
  decodeChannelsInfoFeedback,
  decodeCommonFeedback,
  decodeConnectFeedback,
  decodeLoginFeedback,
  encodeAssignRequest,
  encodeChannelsInfoRequest,
  encodeConnectRequest,
  encodeFrame,
  encodeLoginRequest,
  encodeResumeRequest,
  encodeSetMvRequest,
  encodeStartRequest,
  encodeStopRequest,
  newFrame,
  parseFrame,
  seal,
  type ChannelRecord,
} from './codec.js';
import { ArbinSimulator, arbinSimulatorOptionsSchema, createArbinSimulator, type ArbinSimulatorOptions } from './simulator.js';

const CREDS = { username: 'lab', password: 'cell-42' };

/** A simulator plus one logged-in session, answering frames directly. */
function setup(options: ArbinSimulatorOptions = {}, clock = fakeClock(1000)) {
  const sim = new ArbinSimulator({ ...CREDS, noise: 0, ...options }, { now: clock.now, env: {} });
  const session = sim.newSession();
  const ask = (req: Buffer): Buffer[] => sim.handleRequest(req, session);
  const one = (req: Buffer): Buffer => {
    const replies = ask(req);
    expect(replies).toHaveLength(1);
    return replies[0]!;
  };
  const result = (req: Buffer, fb: number): number => decodeCommonFeedback(parseFrame(one(req), 'feedback'), fb).result;
  const records = (req: Buffer): ChannelRecord[] => decodeChannelsInfoFeedback(parseFrame(one(req), 'feedback'));
  const login = (): number => decodeLoginFeedback(parseFrame(one(encodeLoginRequest(CREDS)), 'feedback')).result;
  return { sim, session, ask, one, result, records, login, clock };
}

describe('login', () => {
  it('answers nothing but LOGIN before a login', () => {
    const { sim, ask } = setup();
    expect(ask(encodeChannelsInfoRequest({ channel: 1 }))).toEqual([]);
    expect(ask(encodeStopRequest(1))).toEqual([]);
    expect(sim.stats.beforeLogin).toBe(2);
  });

  it('refuses other credentials with result 2 and accepts the configured ones with the cycler facts', () => {
    const { sim, one, session } = setup({ channels: 8, serialNumber: '207855' });
    const refused = decodeLoginFeedback(parseFrame(one(encodeLoginRequest({ username: 'lab', password: 'wrong' })), 'feedback'));
    expect(refused.result).toBe(2);
    expect(session.loggedIn).toBe(false);
    expect(sim.stats.failedLogins).toBe(1);
    const ok = decodeLoginFeedback(parseFrame(one(encodeLoginRequest(CREDS)), 'feedback'));
    expect(ok).toMatchObject({ result: 1, serialNumber: '207855', channelCount: 8, allowControl: true, userType: 0, version: 1 });
    expect(ok.note).toBe('labwire simulated cycler, 8 channels');
    expect(session.loggedIn).toBe(true);
  });

  it('takes its credentials from the environment or a secrets file; without any, nobody gets in', () => {
    const env = { ARBIN_CTI_USERNAME: 'envuser', ARBIN_CTI_PASSWORD: 'envpass' };
    const fromEnv = new ArbinSimulator({}, { env });
    const s = fromEnv.newSession();
    expect(decodeLoginFeedback(parseFrame(fromEnv.handleRequest(encodeLoginRequest({ username: 'envuser', password: 'envpass' }), s)[0]!, 'feedback')).result).toBe(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbin-sim-'));
    const file = path.join(dir, 'cti.env');
    fs.writeFileSync(file, 'ARBIN_CTI_USERNAME=fileuser\nARBIN_CTI_PASSWORD=filepass\n');
    const fromFile = new ArbinSimulator({ secretsFile: file }, { env });
    const s2 = fromFile.newSession();
    expect(decodeLoginFeedback(parseFrame(fromFile.handleRequest(encodeLoginRequest({ username: 'fileuser', password: 'filepass' }), s2)[0]!, 'feedback')).result).toBe(1);
    const none = new ArbinSimulator({}, { env: {} });
    expect(none.hasCredentials).toBe(false);
    expect(decodeLoginFeedback(parseFrame(none.handleRequest(encodeLoginRequest({ username: '', password: '' }), none.newSession())[0]!, 'feedback')).result).toBe(2);
    expect(() => new ArbinSimulator({ secretsFile: path.join(dir, 'missing.env') }, { env: {} })).toThrow(/cannot read the simulator's secrets file .*missing\.env: ENOENT/);
  });
});

describe('channel info', () => {
  it('answers "all" with one message of N records, a single channel with one, an unknown one with none', () => {
    const { login, records } = setup();
    login();
    const all = records(encodeChannelsInfoRequest({ channel: ALL_CHANNELS }));
    expect(all.map((r) => r.channel)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(all.every((r) => r.status === STATUS.idle && r.voltage === 3.75 && r.current === 0 && r.exitCondition === 'N/A')).toBe(true);
    expect(records(encodeChannelsInfoRequest({ channel: 3 })).map((r) => r.channel)).toEqual([3]);
    expect(records(encodeChannelsInfoRequest({ channel: 17 }))).toEqual([]);
  });

  it('filters running channels and adds an aux temperature on request', () => {
    const { login, records, result } = setup();
    login();
    expect(result(encodeAssignRequest({ channel: 2, schedule: 'Charge.sdx' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0);
    expect(result(encodeStartRequest({ testName: 't', channels: [2] }), FEEDBACK.START_SCHEDULE)).toBe(0);
    expect(records(encodeChannelsInfoRequest({ channel: ALL_CHANNELS, selection: 'running' })).map((r) => r.channel)).toEqual([2]);
    const withAux = records(encodeChannelsInfoRequest({ channel: 2, aux: { aux: true } }))[0]!;
    expect(withAux.aux.temperature).toHaveLength(1);
    expect(withAux.aux.temperature[0]!.value).toBeGreaterThan(25);
    expect(records(encodeChannelsInfoRequest({ channel: 2 }))[0]!.aux.temperature).toEqual([]);
  });

  it('reports a forced Unsafe or CommFailure channel', () => {
    const { sim, login, records } = setup();
    login();
    sim.setChannelFault(5, 'unsafe');
    sim.setChannelFault(6, 'commFailure');
    expect(records(encodeChannelsInfoRequest({ channel: ALL_CHANNELS, selection: 'unsafe' })).map((r) => r.channel)).toEqual([5]);
    expect(records(encodeChannelsInfoRequest({ channel: 6 }))[0]!.commFailure).toBe(true);
  });
});

describe('tests on channels: state and real result codes', () => {
  it('assign → start → running with time and step; start again is 0x12; stop; resume', () => {
    const { sim, login, records, result, clock } = setup({ timeScale: 100 });
    login();
    expect(result(encodeAssignRequest({ channel: 3, schedule: 'Charge.sdx', barcode: 'B1' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0);
    expect(result(encodeStartRequest({ testName: 'first', channels: [3] }), FEEDBACK.START_SCHEDULE)).toBe(0);
    clock.tick(1000); // 100 simulated seconds
    const r = records(encodeChannelsInfoRequest({ channel: 3 }))[0]!;
    expect(r).toMatchObject({ status: STATUS.charge, schedule: 'Charge.sdx', testName: 'first', barcode: 'B1', current: 1, stepText: '[1] 1: Step_A, CC Charge', exitCondition: 'Voltage >= 4.2 V' });
    expect(r.testTime).toBeCloseTo(100, 6);
    expect(r.chargeCapacity).toBeCloseTo(100 / 3600, 6);
    expect(r.voltage).toBeGreaterThan(3.8);
    expect(result(encodeStartRequest({ testName: 'again', channels: [3] }), FEEDBACK.START_SCHEDULE)).toBe(0x12);
    expect(result(encodeAssignRequest({ channel: 3, schedule: 'Rest.sdx' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0x14);
    expect(result(encodeStopRequest(3), FEEDBACK.STOP_SCHEDULE)).toBe(0);
    const stopped = records(encodeChannelsInfoRequest({ channel: 3 }))[0]!;
    expect(stopped).toMatchObject({ status: STATUS.idle, current: 0 });
    expect(stopped.testTime).toBeCloseTo(100, 6);
    expect(result(encodeResumeRequest(3), FEEDBACK.RESUME_SCHEDULE)).toBe(0);
    expect(records(encodeChannelsInfoRequest({ channel: 3 }))[0]!.status).toBe(STATUS.charge);
    expect(result(encodeResumeRequest(3), FEEDBACK.RESUME_SCHEDULE)).toBe(0x12);
    expect(sim.channel(3).assigned).toBe('Charge.sdx');
  });

  it('start: 0x15 without a schedule, 0x10 for a channel it does not have, 0x23 without a test name, 0x1F without channels', () => {
    const { login, result } = setup();
    login();
    expect(result(encodeStartRequest({ testName: 't', channels: [4] }), FEEDBACK.START_SCHEDULE)).toBe(0x15);
    expect(result(encodeStartRequest({ testName: 't', channels: [17] }), FEEDBACK.START_SCHEDULE)).toBe(0x10);
    const noName = newFrame('request', CMD.START_SCHEDULE, 172);
    noName.writeUInt32LE(1, 164);
    expect(result(seal(noName), FEEDBACK.START_SCHEDULE)).toBe(0x23);
    const noChannels = newFrame('request', CMD.START_SCHEDULE, 170);
    noChannels.write('t', 20, 'utf16le');
    expect(result(seal(noChannels), FEEDBACK.START_SCHEDULE)).toBe(0x1f);
  });

  it('START puts −1 in the channel field on success and the failing index otherwise (v1.1)', () => {
    const { login, one } = setup();
    login();
    const fail = decodeCommonFeedback(parseFrame(one(encodeStartRequest({ testName: 't', channels: [4] })), 'feedback'), FEEDBACK.START_SCHEDULE);
    expect(fail).toEqual({ channelIndex: 3, result: 0x15 });
    one(encodeAssignRequest({ channel: 4, schedule: 'Rest.sdx' }));
    const ok = decodeCommonFeedback(parseFrame(one(encodeStartRequest({ testName: 't', channels: [4] })), 'feedback'), FEEDBACK.START_SCHEDULE);
    expect(ok).toEqual({ channelIndex: -1, result: 0 });
  });

  it('assign: 0x13 for an unknown schedule, 0x12 for an empty name, 0x10 for an unknown channel; names match without case', () => {
    const { login, result } = setup();
    login();
    expect(result(encodeAssignRequest({ channel: 1, schedule: 'nope.sdx' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0x13);
    expect(result(encodeAssignRequest({ channel: 1, schedule: '' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0x12);
    expect(result(encodeAssignRequest({ channel: 99, schedule: 'Rest.sdx' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0x10);
    expect(result(encodeAssignRequest({ channel: 1, schedule: 'rest.SDX' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0);
  });

  it('stop and resume of all channels answer once per channel; stop of an unknown channel is 0x10', () => {
    const { login, ask, result } = setup({ channels: 4 });
    login();
    expect(ask(encodeStopRequest(ALL_CHANNELS)).map((b) => decodeCommonFeedback(parseFrame(b, 'feedback'), FEEDBACK.STOP_SCHEDULE))).toEqual([0, 1, 2, 3].map((i) => ({ channelIndex: i, result: 0 })));
    expect(ask(encodeResumeRequest(ALL_CHANNELS)).map((b) => decodeCommonFeedback(parseFrame(b, 'feedback'), FEEDBACK.RESUME_SCHEDULE).result)).toEqual([0x15, 0x15, 0x15, 0x15]);
    expect(result(encodeStopRequest(5), FEEDBACK.STOP_SCHEDULE)).toBe(0x10);
  });

  it('resume after a different schedule was assigned is 0x23', () => {
    const { login, result } = setup();
    login();
    result(encodeAssignRequest({ channel: 1, schedule: 'Rest.sdx' }), FEEDBACK.ASSIGN_SCHEDULE);
    result(encodeStartRequest({ testName: 't', channels: [1] }), FEEDBACK.START_SCHEDULE);
    result(encodeStopRequest(1), FEEDBACK.STOP_SCHEDULE);
    expect(result(encodeAssignRequest({ channel: 1, schedule: 'Charge.sdx' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0);
    expect(result(encodeResumeRequest(1), FEEDBACK.RESUME_SCHEDULE)).toBe(0x23);
  });

  it('refuses control without IsAllowToControl: 0x11 (set MV: 0x10)', () => {
    const { login, result, one } = setup({ allowControl: false });
    expect(decodeLoginFeedback(parseFrame(one(encodeLoginRequest(CREDS)), 'feedback')).allowControl).toBe(false);
    login();
    expect(result(encodeAssignRequest({ channel: 1, schedule: 'Rest.sdx' }), FEEDBACK.ASSIGN_SCHEDULE)).toBe(0x11);
    expect(result(encodeStopRequest(1), FEEDBACK.STOP_SCHEDULE)).toBe(0x11);
    expect(result(encodeSetMvRequest({ channel: 1, ud: 1, value: 1 }), FEEDBACK.SET_MV_VALUE)).toBe(0x10);
  });

  it('a finished schedule shows Finished and may start again', () => {
    const { login, result, records, sim } = setup();
    login();
    result(encodeAssignRequest({ channel: 1, schedule: 'Rest.sdx' }), FEEDBACK.ASSIGN_SCHEDULE);
    result(encodeStartRequest({ testName: 't', channels: [1] }), FEEDBACK.START_SCHEDULE);
    sim.advance(3601);
    const r = records(encodeChannelsInfoRequest({ channel: 1 }))[0]!;
    expect(r.status).toBe(STATUS.finished);
    expect(r.stepTime).toBeCloseTo(3600, 6);
    expect(result(encodeStartRequest({ testName: 't2', channels: [1] }), FEEDBACK.START_SCHEDULE)).toBe(0);
  });
});

describe('SET_MV', () => {
  it('0x12 on an idle channel, 0x11 for an unknown meta code, 0x10 for a wrong type or channel', () => {
    const { login, result } = setup();
    login();
    expect(result(encodeSetMvRequest({ channel: 1, ud: 1, value: 1 }), FEEDBACK.SET_MV_VALUE)).toBe(0x12);
    result(encodeAssignRequest({ channel: 1, schedule: 'MV_Charge.sdx' }), FEEDBACK.ASSIGN_SCHEDULE);
    result(encodeStartRequest({ testName: 't', channels: [1] }), FEEDBACK.START_SCHEDULE);
    const badCode = encodeSetMvRequest({ channel: 1, ud: 1, value: 1 });
    badCode.writeInt32LE(56, 28);
    expect(result(seal(badCode), FEEDBACK.SET_MV_VALUE)).toBe(0x11);
    const badType = encodeSetMvRequest({ channel: 1, ud: 1, value: 1 });
    badType.writeInt32LE(2, 24);
    expect(result(seal(badType), FEEDBACK.SET_MV_VALUE)).toBe(0x10);
    const badChannel = encodeSetMvRequest({ channel: 1, ud: 1, value: 1 });
    badChannel.writeUInt32LE(40, 20);
    expect(result(seal(badChannel), FEEDBACK.SET_MV_VALUE)).toBe(0x10);
  });

  it('drives an MV step: the charge current follows MV_UD1 and the voltage rises', () => {
    const { sim, login, result, records, clock } = setup({ timeScale: 60 });
    login();
    result(encodeAssignRequest({ channel: 3, schedule: 'MV_Charge.sdx' }), FEEDBACK.ASSIGN_SCHEDULE);
    result(encodeStartRequest({ testName: 't', channels: [3] }), FEEDBACK.START_SCHEDULE);
    const before = records(encodeChannelsInfoRequest({ channel: 3 }))[0]!;
    expect(before).toMatchObject({ status: STATUS.charge, current: 0 });
    expect(result(encodeSetMvRequest({ channel: 3, ud: 1, value: 1.5 }), FEEDBACK.SET_MV_VALUE)).toBe(0);
    expect(sim.channel(3).mv[0]).toBe(1.5);
    clock.tick(10_000); // 600 simulated seconds
    const after = records(encodeChannelsInfoRequest({ channel: 3 }))[0]!;
    expect(after.current).toBe(1.5);
    expect(after.voltage).toBeGreaterThan(before.voltage + 0.1);
  });

  it('at most once per 200 ms per meta variable (0x14); other variables and channels are independent', () => {
    const { login, result, clock } = setup();
    login();
    for (const ch of [1, 2]) {
      result(encodeAssignRequest({ channel: ch, schedule: 'MV_Charge.sdx' }), FEEDBACK.ASSIGN_SCHEDULE);
      result(encodeStartRequest({ testName: 't', channels: [ch] }), FEEDBACK.START_SCHEDULE);
    }
    const set = (ch: number, ud: number): number => result(encodeSetMvRequest({ channel: ch, ud, value: 1 }), FEEDBACK.SET_MV_VALUE);
    expect(set(1, 1)).toBe(0);
    clock.tick(150);
    expect(set(1, 1)).toBe(0x14);
    expect(set(1, 2)).toBe(0);
    expect(set(2, 1)).toBe(0);
    clock.tick(50);
    expect(set(1, 1)).toBe(0);
  });
});

describe('other commands', () => {
  it('CONNECT echoes the kick-out flag; unknown and unserved commands get no answer', () => {
    const { sim, login, one, ask } = setup();
    login();
    expect(decodeConnectFeedback(parseFrame(one(encodeConnectRequest(true)), 'feedback'))).toEqual({ kickOutProtection: true, result: 0 });
    expect(ask(encodeFrame('request', 0x12345678, Buffer.alloc(4)))).toEqual([]);
    expect(ask(encodeFrame('request', CMD.GET_SERIAL, Buffer.alloc(4)))).toEqual([]);
    expect(sim.stats.unanswered).toBe(2);
    expect(sim.transcript.at(-1)?.name).toBe('GET_SERIAL (0xBB340001)');
  });

  it('a request of the right code and the wrong size is not answered', () => {
    const { sim, login, ask } = setup();
    login();
    expect(ask(encodeFrame('request', CMD.STOP_SCHEDULE, Buffer.alloc(10)))).toEqual([]);
    expect(sim.stats.badFrames).toBe(1);
  });
});

describe('options', () => {
  it('take the strings a command line passes', () => {
    const o = arbinSimulatorOptionsSchema.parse({ timeScale: '600', channels: '8', allowControl: 'off', pyctiFrames: 'yes', password: 1234, noise: '0' });
    expect(o).toMatchObject({ timeScale: 600, channels: 8, allowControl: false, pyctiFrames: true, password: '1234', noise: 0, capacityAh: 2 });
    expect(() => arbinSimulatorOptionsSchema.parse({ channels: '0' })).toThrow();
    expect(() => new ArbinSimulator({ schedules: 'x.sdx: boil' }, { env: {} })).toThrow(/unknown step "boil"/);
    const sim = createArbinSimulator({ schedules: 'Fast.sdx: charge 5 to 4.0; rest 10' });
    expect(sim.scheduleNames).toContain('Fast.sdx');
    expect(sim.channelCount).toBe(16);
  });
});

describe('on TCP', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function connect(options: ArbinSimulatorOptions) {
    const sim = new ArbinSimulator({ ...CREDS, noise: 0, ...options }, { env: {} });
    cleanup.push(() => sim.close());
    const port = await sim.listenTcp('127.0.0.1', 0);
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    cleanup.push(() => void socket.destroy());
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const received = async (bytes: number): Promise<Buffer> => {
      for (let i = 0; i < 200 && Buffer.concat(chunks).length < bytes; i++) await new Promise((r) => setTimeout(r, 10));
      return Buffer.concat(chunks);
    };
    return { sim, socket, chunks, received };
  }

  it('reads coalesced and split requests, and can answer like the pycti spoofer (2 extra bytes)', async () => {
    const { socket, chunks, received } = await connect({ pyctiFrames: true, chunkBytes: 500 });
    const both = Buffer.concat([encodeLoginRequest(CREDS), encodeChannelsInfoRequest({ channel: 1 })]);
    socket.write(both.subarray(0, 50));
    await new Promise((r) => setTimeout(r, 20));
    socket.write(both.subarray(50));
    const bytes = await received(8680 + 1781);
    expect(bytes.length).toBe(8680 + 1781);
    // Pieces of at most 500 bytes.
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(1000);
    expect(bytes.readUInt32LE(8)).toBe(8678);
    const d = new CtiStreamDecoder({ kind: 'feedback', pyctiTolerance: true });
    const { frames, errors } = d.push(bytes);
    expect(errors).toEqual([]);
    expect(frames.map((f) => f.length)).toEqual([8678, 1779]);
  });

  it('ignores garbage and bad frames from a client and keeps serving', async () => {
    const { sim, socket, received } = await connect({});
    const bad = encodeLoginRequest(CREDS);
    bad[30] = bad[30]! ^ 1;
    socket.write(Buffer.concat([Buffer.from('hello'), bad, encodeLoginRequest(CREDS)]));
    const bytes = await received(8678);
    expect(decodeLoginFeedback(parseFrame(bytes.subarray(0, 8678), 'feedback')).result).toBe(1);
    // "hello", the bad checksum, and the rest of the bad frame skipped while resynchronising.
    expect(sim.stats.badFrames).toBe(3);
  });

  it('takes the standard faults: garble corrupts every reply while on, silence answers nothing', async () => {
    const { sim, socket, chunks, received } = await connect({});
    expect(() => sim.setFault('meltdown' as never, true)).toThrow(/unknown fault "meltdown".*linkDrop, garble, silence/);
    sim.setFault('garble', true);
    expect(sim.faults).toEqual(['garble']);
    socket.write(encodeLoginRequest(CREDS));
    const garbled = await received(8678);
    expect(() => parseFrame(garbled.subarray(0, 8678), 'feedback')).toThrow();
    sim.setFault('garble', false);
    sim.setFault('silence', true);
    chunks.length = 0;
    socket.write(encodeLoginRequest(CREDS));
    await new Promise((r) => setTimeout(r, 200));
    expect(chunks).toEqual([]);
    sim.setFault('silence', false);
    socket.write(encodeLoginRequest(CREDS));
    const ok = await received(8678);
    expect(decodeLoginFeedback(parseFrame(ok.subarray(0, 8678), 'feedback')).result).toBe(1);
    expect(sim.faults).toEqual([]);
  });

  it('drops the link and refuses connections until restored; a PTY is refused', async () => {
    const { sim, socket } = await connect({});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    sim.setFault('linkDrop', true);
    await closed;
    await expect(sim.listenPty()).rejects.toThrow(/TCP only/);
  });
});
