import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LabwireError } from '../../wire/types.js';
import {
  ALL_CHANNELS,
  CHANNEL_RECORD_BYTES,
  CMD,
  CtiDecodeError,
  CtiFrameError,
  CtiStreamDecoder,
  FEEDBACK,
  RESULT_TABLES,
  SINGLE_CHANNEL_FEEDBACK_BYTES,
  blankChannelRecord,
  channelFromIndex,
  checksum,
  commandName,
  decodeAssignRequest,
  decodeChannelActionRequest,
  decodeChannelsInfoFeedback,
  decodeChannelsInfoRequest,
  decodeCommonFeedback,
  decodeConnectFeedback,
  decodeConnectRequest,
  decodeLoginFeedback,
  decodeLoginRequest,
  decodeSetMvRequest,
  decodeStartRequest,
  encodeAssignRequest,
  encodeChannelsInfoFeedback,
  encodeChannelsInfoRequest,
  encodeCommonFeedback,
  encodeConnectFeedback,
  encodeConnectRequest,
  encodeFrame,
  encodeLoginFeedback,
  encodeLoginRequest,
  encodeResumeRequest,
  encodeSetMvRequest,
  encodeStartRequest,
  encodeStopRequest,
  feedbackCode,
  metaCode,
  parseFrame,
  parseMetaVariable,
  readWideText,
  resultText,
  statusName,
  tidyF32,
  udFromMetaCode,
  wireIndex,
  type ChannelRecord,
} from './codec.js';
import { toPyctiFrame } from './simulator.js';

const PREFIX = [0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0x11];

/** Builds a frame by hand from the byte tables, independent of the codec. */
function handFrame(total: number, dwLen: number, cmd: number, fill: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(total);
  PREFIX.forEach((v, i) => (b[i] = v));
  b.writeUInt32LE(dwLen, 8);
  b.writeUInt32LE(cmd, 12);
  fill(b);
  let sum = 0;
  for (let i = 0; i < total - 2; i++) sum += b[i]!;
  b.writeUInt16LE(sum % 65536, total - 2);
  return b;
}

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

describe('frame header, length rule and checksum', () => {
  it('LOGIN request: 86 bytes, dwLen 74, the documented header and pycti checksum 0x1241', () => {
    const b = encodeLoginRequest({ username: 'fake username', password: 'fake passowrd' });
    expect(b.length).toBe(86);
    expect(b.subarray(0, 20).toString('hex')).toBe('dddddddddddddd11' + '4a000000' + '0100abee' + '00000000');
    expect(b.readUInt32LE(8)).toBe(74);
    expect(b.subarray(20, 33).toString('latin1')).toBe('fake username');
    expect(b.subarray(33, 52).every((x) => x === 0)).toBe(true);
    expect(b.subarray(52, 65).toString('latin1')).toBe('fake passowrd');
    expect(b.readUInt16LE(84)).toBe(0x1241);
    expect(checksum(b, 84)).toBe(0x1241);
    expect(decodeLoginRequest(parseFrame(b, 'request'))).toEqual({ username: 'fake username', password: 'fake passowrd' });
  });

  it('request dwLen = total − 12, feedback dwLen = total, for every documented size', () => {
    const requests: Array<[Buffer, number]> = [
      [encodeLoginRequest({ username: 'u', password: 'p' }), 86],
      [encodeChannelsInfoRequest({ channel: 14 }), 62],
      [encodeStartRequest({ testName: 'sample_test_name', channels: [14] }), 172],
      [encodeStopRequest(14), 128],
      [encodeSetMvRequest({ channel: 14, ud: 1, value: 0.2 }), 74],
      [encodeAssignRequest({ channel: 14, schedule: 'Rest+207855.sdx' }), 671],
      [encodeConnectRequest(true), 58],
    ];
    for (const [b, total] of requests) {
      expect(b.length).toBe(total);
      expect(b.readUInt32LE(8)).toBe(total - 12);
      expect(b.readUInt16LE(total - 2)).toBe(checksum(b, total - 2));
    }
    const feedbacks: Array<[Buffer, number]> = [
      [encodeLoginFeedback({ result: 1 }), 8678],
      [encodeChannelsInfoFeedback([blankChannelRecord(14)]), 1779],
      [encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 13, result: 0 }), 128],
      [encodeConnectFeedback({ kickOutProtection: true, result: 0 }), 62],
    ];
    for (const [b, total] of feedbacks) {
      expect(b.length).toBe(total);
      expect(b.readUInt32LE(8)).toBe(total);
    }
  });

  it('the checksum wraps modulo 65536 (pycti overflowed)', () => {
    const long = 'ﾟ'.repeat(199);
    const b = encodeAssignRequest({ channel: 1, schedule: long, barcode: 'ﾟ'.repeat(71) });
    let sum = 0;
    for (let i = 0; i < b.length - 2; i++) sum += b[i]!;
    expect(sum).toBeGreaterThan(65535);
    expect(b.readUInt16LE(b.length - 2)).toBe(sum % 65536);
    expect(() => parseFrame(b, 'request')).not.toThrow();
  });

  it('parseFrame refuses a wrong prefix, a length that does not match and a bad checksum', () => {
    const good = encodeStopRequest(3);
    const wrongPrefix = Buffer.from(good);
    wrongPrefix[7] = 0xdd; // the "eight DD" of the older documents
    expect(() => parseFrame(wrongPrefix, 'request')).toThrow(expect.objectContaining({ reason: 'prefix' }));
    // A feedback read with the request rule: its dwLen means 12 bytes more.
    expect(() => parseFrame(good, 'feedback')).toThrow(expect.objectContaining({ reason: 'length' }));
    const badSum = Buffer.from(good);
    badSum[40] = 1;
    expect(() => parseFrame(badSum, 'request')).toThrow(/checksum 0x[0-9A-F]{4} but the bytes sum to 0x[0-9A-F]{4} \(STOP_SCHEDULE \(0xBB310001\)\)/);
    expect(() => parseFrame(good.subarray(0, 10), 'request')).toThrow(expect.objectContaining({ reason: 'truncated' }));
  });

  it('feedback codes swap the nibbles of the second byte, for every documented pair', () => {
    const pairs: Array<[number, number]> = [
      [0xeeab0001, 0xeeba0001],
      [0xeeab0002, 0xeeba0002],
      [0xeeab0003, 0xeeba0003],
      [0xbb210001, 0xbb120001],
      [0xbb320004, 0xbb230004],
      [0xbb310001, 0xbb130001],
      [0xbb150001, 0xbb510001],
      [0xbb150002, 0xbb510002],
      [0xbb310002, 0xbb130002],
      [0xbb320006, 0xbb230006],
      [0xbb320005, 0xbb230005],
      [0xbb340001, 0xbb430001],
      [0xcc130001, 0xcc310001],
      [0xcd130002, 0xcd310002],
      [0xcd140002, 0xcd410002],
    ];
    for (const [req, fb] of pairs) expect(feedbackCode(req)).toBe(fb);
    expect(FEEDBACK.SET_MV_VALUE).toBe(0xbb510001);
    expect(commandName(0xbb130001)).toBe('STOP_SCHEDULE feedback (0xBB130001)');
    expect(commandName(0x12345678)).toBe('unknown command 0x12345678');
  });
});

describe('golden vectors from the message tables', () => {
  it('GET_CHANNELS_INFO request: 62 bytes; channel 14 is index 13; all channels is −1', () => {
    const expected = handFrame(62, 50, 0xeeab0003, (b) => {
      b.writeInt16LE(13, 20);
      b.writeInt16LE(1, 22);
      b.writeUInt32LE(0, 24);
    });
    expect(encodeChannelsInfoRequest({ channel: 14 })).toEqual(expected);
    const all = encodeChannelsInfoRequest({ channel: ALL_CHANNELS, selection: 'running', aux: { aux: true, smb: true } });
    expect(all.subarray(20, 28).toString('hex')).toBe('ffff' + '0200' + '00060000');
    expect(decodeChannelsInfoRequest(parseFrame(all, 'request'))).toEqual({ onlyChannel: -1, selection: 2, auxOptions: 0x600 });
  });

  it('ASSIGN_SCHEDULE request: 671 bytes with every field at its offset', () => {
    const expected = handFrame(671, 659, 0xbb210001, (b) => {
      b.writeInt32LE(13, 20);
      b.writeUInt8(0, 24);
      utf16('Rest+207855.sdx').copy(b, 25);
      b.writeFloatLE(2.5, 425);
      utf16('CELL-7').copy(b, 429);
      for (let k = 0; k < 16; k++) b.writeFloatLE(k === 2 ? 0.5 : 1, 573 + 4 * k);
    });
    const mvUd = Array.from({ length: 16 }, (_, k) => (k === 2 ? 0.5 : 1));
    const b = encodeAssignRequest({ channel: 14, schedule: 'Rest+207855.sdx', capacityAh: 2.5, barcode: 'CELL-7', mvUd });
    expect(b).toEqual(expected);
    expect(decodeAssignRequest(parseFrame(b, 'request'))).toEqual({ channelIndex: 13, all: false, schedule: 'Rest+207855.sdx', capacityAh: 2.5, barcode: 'CELL-7', mvUd });
    // pycti's defaults: capacity 1.0, every MV_UD 1.0.
    const defaults = encodeAssignRequest({ channel: 1, schedule: 's.sdx' });
    expect(defaults.readFloatLE(425)).toBe(1);
    expect(defaults.readFloatLE(573 + 60)).toBe(1);
    const all = encodeAssignRequest({ channel: ALL_CHANNELS, schedule: 's.sdx' });
    expect([all.readInt32LE(20), all[24]]).toEqual([0, 1]);
  });

  it('START_SCHEDULE request: 170 + 2N bytes; test name, count and 16-bit indices', () => {
    const expected = handFrame(172, 160, 0xbb320004, (b) => {
      utf16('sample_test_name').copy(b, 20);
      b.writeUInt32LE(1, 164);
      b.writeUInt16LE(13, 168);
    });
    expect(encodeStartRequest({ testName: 'sample_test_name', channels: [14] })).toEqual(expected);
    const three = encodeStartRequest({ testName: 't', channels: [1, 2, 16] });
    expect(three.length).toBe(176);
    expect(three.readUInt32LE(8)).toBe(164);
    expect(decodeStartRequest(parseFrame(three, 'request'))).toEqual({ testName: 't', channelIndices: [0, 1, 15] });
    expect(() => encodeStartRequest({ testName: '', channels: [1] })).toThrow(/must not be empty/);
  });

  it('STOP and RESUME requests: 128 bytes; the All flag at 24', () => {
    const stop = handFrame(128, 116, 0xbb310001, (b) => b.writeUInt32LE(4, 20));
    expect(encodeStopRequest(5)).toEqual(stop);
    const resume = encodeResumeRequest(ALL_CHANNELS);
    expect(resume.readUInt32LE(12)).toBe(0xbb310002);
    expect(decodeChannelActionRequest(parseFrame(resume, 'request'))).toEqual({ channelIndex: 0, all: true });
  });

  it('SET_MV_VALUE request: 74 bytes; IV type, meta code 52 for UD1, float type, value', () => {
    const expected = handFrame(74, 62, 0xbb150001, (b) => {
      b.writeUInt32LE(13, 20);
      b.writeInt32LE(1, 24);
      b.writeInt32LE(52, 28);
      b.writeInt32LE(1, 48);
      b.writeFloatLE(0.2, 52);
    });
    const b = encodeSetMvRequest({ channel: 14, ud: 1, value: 0.2 });
    expect(b).toEqual(expected);
    expect(decodeSetMvRequest(parseFrame(b, 'request'))).toEqual({ channelIndex: 13, mvType: 1, metaCode: 52, valueType: 1, value: 0.2 });
  });

  it('meta codes: UD1…UD4 = 52…55, UD5…UD16 = 105…116', () => {
    expect([1, 2, 3, 4, 5, 6, 16].map(metaCode)).toEqual([52, 53, 54, 55, 105, 106, 116]);
    for (let ud = 1; ud <= 16; ud++) expect(udFromMetaCode(metaCode(ud))).toBe(ud);
    expect(udFromMetaCode(56)).toBeUndefined();
    expect(udFromMetaCode(104)).toBeUndefined();
    expect(() => metaCode(17)).toThrow(/MV_UD17 does not exist/);
    expect(['UD3', 'ud3', 'MV_UD3', '3', 3].map(parseMetaVariable)).toEqual([3, 3, 3, 3, 3]);
    expect(() => parseMetaVariable('UD0')).toThrow(/not one of UD1 … UD16/);
  });

  it('CONNECT request 58 and feedback 62', () => {
    expect(encodeConnectRequest(true)).toEqual(handFrame(58, 46, 0xeeab0002, (b) => b.writeUInt32LE(1, 20)));
    expect(decodeConnectRequest(parseFrame(encodeConnectRequest(false), 'request'))).toEqual({ kickOutProtection: false });
    const fb = encodeConnectFeedback({ kickOutProtection: true, result: 1 });
    expect([fb.readUInt32LE(20), fb.readUInt32LE(24)]).toEqual([1, 1]);
    expect(decodeConnectFeedback(parseFrame(fb, 'feedback'))).toEqual({ kickOutProtection: true, result: 1 });
  });

  it('common feedback: 128 bytes, channel at 20 (−1 allowed), result byte at 24', () => {
    const expected = handFrame(128, 128, 0xbb230004, (b) => {
      b.writeInt32LE(-1, 20);
      b.writeUInt8(0x15, 24);
    });
    const b = encodeCommonFeedback(FEEDBACK.START_SCHEDULE, { channelIndex: -1, result: 0x15 });
    expect(b).toEqual(expected);
    expect(decodeCommonFeedback(parseFrame(b, 'feedback'), FEEDBACK.START_SCHEDULE)).toEqual({ channelIndex: -1, result: 0x15 });
    expect(() => decodeCommonFeedback(parseFrame(b, 'feedback'), FEEDBACK.STOP_SCHEDULE)).toThrow(CtiDecodeError);
  });

  it('LOGIN feedback: 8678 + picture bytes, the real capture values at their offsets', () => {
    const b = encodeLoginFeedback({
      result: 1,
      ip: '3.3.31.81',
      serialNumber: '207855',
      note: 'LBT21084  16 Channels\r\nline 2',
      nickname: 'cycler α',
      location: 'lab 1',
      emergencyContact: 'x 123',
      otherComments: 'none',
      email: 'a@b.c',
      call: 'c',
      itac: 7918320,
      version: 1,
      allowControl: true,
      channelCount: 16,
      userType: 0,
    });
    expect(b.length).toBe(8678);
    expect(b.readUInt32LE(8)).toBe(8678);
    expect(b.readUInt32LE(12)).toBe(0xeeba0001);
    expect(b.readUInt32LE(20)).toBe(1);
    expect([...b.subarray(24, 28)]).toEqual([3, 3, 31, 81]);
    expect(b.subarray(28, 34).toString('latin1')).toBe('207855');
    expect(b.subarray(44, 65).toString('latin1')).toBe('LBT21084  16 Channels');
    expect(b.toString('utf16le', 300, 316)).toBe('cycler α');
    expect(b.toString('utf16le', 2348, 2358)).toBe('lab 1');
    expect(b.toString('utf16le', 4396, 4406)).toBe('x 123');
    expect(b.toString('utf16le', 6444, 6452)).toBe('none');
    expect(b.toString('utf16le', 8492, 8502)).toBe('a@b.c');
    expect(b.toString('utf16le', 8620, 8622)).toBe('c');
    expect([8652, 8656, 8660, 8664, 8668, 8672].map((o) => b.readUInt32LE(o))).toEqual([7918320, 1, 1, 16, 0, 0]);
    expect(b.readUInt16LE(8676)).toBe(checksum(b, 8676));
    const d = decodeLoginFeedback(parseFrame(b, 'feedback'));
    expect(d).toMatchObject({ result: 1, ip: '3.3.31.81', serialNumber: '207855', note: 'LBT21084  16 Channels\r\nline 2', nickname: 'cycler α', itac: 7918320, version: 1, allowControl: true, channelCount: 16, userType: 0 });
    const withPicture = encodeLoginFeedback({ result: 1, picture: Buffer.from([1, 2, 3]) });
    expect(withPicture.length).toBe(8681);
    expect(decodeLoginFeedback(parseFrame(withPicture, 'feedback')).picture).toEqual(Buffer.from([1, 2, 3]));
    // A picture length that lies about the size.
    const lying = Buffer.from(withPicture);
    lying.writeUInt32LE(4, 8672);
    lying.writeUInt16LE(checksum(lying, lying.length - 2), lying.length - 2);
    expect(() => decodeLoginFeedback(parseFrame(lying, 'feedback'))).toThrow(/picture length 4 means 8682/);
  });

  it('GET_CHANNELS_INFO feedback: 1779 bytes for one record, every field at its offset (real capture values)', () => {
    const r: ChannelRecord = {
      ...blankChannelRecord(14),
      status: 4,
      schedule: 'Rest+207855.sdx',
      testName: '0',
      exitCondition: 'N/A',
      stepText: '[1] 1: Step_A, Rest',
      barcode: 'BC',
      canConfig: 'can.cfg',
      smbConfig: 'smb.cfg',
      masterChannel: 14,
      testTime: 2.5432,
      stepTime: 2.5432,
      voltage: 3.45646,
      current: -0.5,
      power: 1.25,
      chargeCapacity: 0.1,
      dischargeCapacity: 0.2,
      chargeEnergy: 0.3,
      dischargeEnergy: 0.4,
      internalResistance: 0.05,
      dvdt: 0.001,
      acr: 0.02,
      aci: 0.03,
      aciPhase: 45,
    };
    const b = encodeChannelsInfoFeedback([r]);
    expect(b.length).toBe(SINGLE_CHANNEL_FEEDBACK_BYTES);
    expect(b.readUInt32LE(8)).toBe(1779);
    expect(b.readUInt32LE(20)).toBe(1);
    expect(b.readUInt32LE(24)).toBe(13);
    expect(b.readInt16LE(28)).toBe(4);
    expect(b[30]).toBe(0);
    expect(b.toString('utf16le', 31, 61)).toBe('Rest+207855.sdx');
    expect(b.toString('utf16le', 431, 433)).toBe('0');
    expect(b.toString('latin1', 575, 578)).toBe('N/A');
    expect(b.toString('latin1', 675, 694)).toBe('[1] 1: Step_A, Rest');
    expect(b.toString('utf16le', 739, 743)).toBe('BC');
    expect(b.toString('utf16le', 883, 897)).toBe('can.cfg');
    expect(b.toString('utf16le', 1283, 1297)).toBe('smb.cfg');
    expect(b.readUInt16LE(1683)).toBe(13);
    expect(b.readDoubleLE(1685)).toBe(2.5432);
    expect(b.readDoubleLE(1693)).toBe(2.5432);
    const f32 = [1701, 1705, 1709, 1713, 1717, 1721, 1725, 1729, 1733, 1737, 1741, 1745].map((o) => tidyF32(b.readFloatLE(o)));
    expect(f32).toEqual([3.45646, -0.5, 1.25, 0.1, 0.2, 0.3, 0.4, 0.05, 0.001, 0.02, 0.03, 45]);
    expect(b.subarray(1749, 1777).every((x) => x === 0)).toBe(true);
    expect(b.readUInt16LE(1777)).toBe(checksum(b, 1777));
    expect(decodeChannelsInfoFeedback(parseFrame(b, 'feedback'))).toEqual([r]);
  });

  it('GET_CHANNELS_INFO feedback with many records and aux, BMS and SMB sections', () => {
    const a: ChannelRecord = { ...blankChannelRecord(1), voltage: 3.7, status: 2 };
    a.aux.voltage.push({ value: 3.1, dt: 0 }, { value: 3.2, dt: 0.5 });
    a.aux.temperature.push({ value: 25.5, dt: 0.01 });
    a.aux.density.push({ value: 1.2, dt: 0 });
    a.bms.push({ index: 0, value: 12.5, unit: 'V' }, { index: 3, value: -1e-3, unit: '' });
    a.smb.push({ index: 1, value: 42.25, unit: 'mAh' }, { index: 2, value: 'OK', unit: '' });
    const b: ChannelRecord = { ...blankChannelRecord(2), masterChannel: 1, testName: 'parallel' };
    const c: ChannelRecord = { ...blankChannelRecord(16), status: 15 };
    const frame = encodeChannelsInfoFeedback([a, b, c]);
    const first = 24;
    // Counts: 2 voltage, 1 temperature, …, 1 density, then BMSNum 2 and SMBNum 2.
    expect(Array.from({ length: 14 }, (_, i) => frame.readUInt16LE(first + 1725 + 2 * i))).toEqual([2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2]);
    expect(tidyF32(frame.readFloatLE(first + 1753))).toBe(3.1);
    expect(tidyF32(frame.readFloatLE(first + 1753 + 12))).toBe(0.5);
    const auxEnd = first + 1753 + 8 * 4;
    expect(frame.readUInt32LE(auxEnd)).toBe(0);
    expect(frame.readDoubleLE(auxEnd + 4)).toBe(12.5);
    expect(frame.toString('latin1', auxEnd + 12, auxEnd + 14)).toBe('V\0');
    const aLength = 1753 + 32 + (12 + 2) + (12 + 1) + (8 + 8 + 4) + (8 + 3 + 1);
    expect(frame.readUInt32LE(first + aLength)).toBe(1);
    expect(frame.length).toBe(24 + aLength + 2 * CHANNEL_RECORD_BYTES + 2);
    const decoded = decodeChannelsInfoFeedback(parseFrame(frame, 'feedback'));
    expect(decoded).toEqual([a, b, c]);
    expect(decoded.map((r) => r.channel)).toEqual([1, 2, 16]);
    expect(decodeChannelsInfoFeedback(parseFrame(encodeChannelsInfoFeedback([]), 'feedback'))).toEqual([]);
  });

  it('GET_CHANNELS_INFO feedback whose counts lie is refused, not misread', () => {
    const frame = encodeChannelsInfoFeedback([blankChannelRecord(1)]);
    const fix = (b: Buffer): Buffer => {
      b.writeUInt16LE(checksum(b, b.length - 2), b.length - 2);
      return b;
    };
    const tooMany = fix(Buffer.from(frame).fill(0, 0, 0));
    tooMany.writeUInt32LE(2, 20);
    expect(() => decodeChannelsInfoFeedback(parseFrame(fix(tooMany), 'feedback'))).toThrow(/announces 2 channel records but has room for 1/);
    const auxLies = Buffer.from(frame);
    auxLies.writeUInt16LE(3, 24 + 1725);
    expect(() => decodeChannelsInfoFeedback(parseFrame(fix(auxLies), 'feedback'))).toThrow(/3 aux values do not fit/);
    const trailing = encodeFrame('feedback', FEEDBACK.GET_CHANNELS_INFO, Buffer.concat([Buffer.from([1, 0, 0, 0]), frame.subarray(24, 24 + 1753), Buffer.from([9, 9])]));
    expect(() => decodeChannelsInfoFeedback(parseFrame(trailing, 'feedback'))).toThrow(/2 byte\(s\) after its 1 channel record/);
  });
});

describe('text fields', () => {
  it('wchar fields are UTF-16LE without a BOM, NUL-padded; a spoofer BOM is dropped on reading', () => {
    const b = encodeAssignRequest({ channel: 1, schedule: 'Zyklus-Ä.sdx' });
    expect(b.subarray(25, 27).toString('hex')).toBe('5a00');
    expect(b.subarray(25 + 24, 25 + 400).every((x) => x === 0)).toBe(true);
    const withBom = Buffer.concat([Buffer.from([0xff, 0xfe]), utf16('none'), Buffer.alloc(10)]);
    expect(readWideText(withBom, 0, 8)).toBe('none');
  });

  it('too long or NUL-holding text is refused, not cut short', () => {
    expect(() => encodeStartRequest({ testName: 'x'.repeat(72), channels: [1] })).toThrow(/72 characters long; the CTI field holds 71/);
    expect(encodeStartRequest({ testName: 'x'.repeat(71), channels: [1] }).length).toBe(172);
    expect(() => encodeLoginRequest({ username: 'u'.repeat(33), password: 'p' })).toThrow(/33 bytes long; the CTI field holds 32/);
    expect(() => encodeLoginRequest({ username: 'u', password: 'a\0b' })).toThrow(/NUL/);
  });
});

describe('channels: 1-based outside, 0-based on the wire', () => {
  it('channel 1 is index 0; channel 0 and negative channels are refused, never sent as −1', () => {
    expect(wireIndex(1)).toBe(0);
    expect(wireIndex(16)).toBe(15);
    expect(channelFromIndex(13)).toBe(14);
    for (const encode of [
      () => encodeChannelsInfoRequest({ channel: 0 }),
      () => encodeStopRequest(0),
      () => encodeResumeRequest(0),
      () => encodeSetMvRequest({ channel: 0, ud: 1, value: 1 }),
      () => encodeAssignRequest({ channel: 0, schedule: 's' }),
      () => encodeStartRequest({ testName: 't', channels: [0] }),
    ]) {
      const err = (() => {
        try {
          encode();
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(LabwireError);
      expect((err as LabwireError).code).toBe('RangeError');
      expect((err as LabwireError).message).toMatch(/^channel 0 does not exist: Arbin channels are numbered from 1 \(refused, never sent/);
    }
    expect(() => wireIndex(-1)).toThrow(/channel -1 does not exist/);
    expect(() => wireIndex(1.5)).toThrow(/not a whole number/);
  });
});

describe('result and status codes', () => {
  it('SET_MV follows the vendor documents, not pycti: 0x11 meta code does not exist, 0x12 channel not running', () => {
    expect(resultText('setMv', 0x11)).toBe('meta code does not exist');
    expect(resultText('setMv', 0x12)).toBe('channel is not running');
    expect(resultText('setMv', 0x14)).toMatch(/200 ms/);
    expect(resultText('start', 0x15)).toBe('no schedule assigned');
    expect(resultText('start', 0x12)).toBe('channel is running or unsafe');
    expect(resultText('assign', 0x14)).toBe('channel is running');
    expect(resultText('stop', 0x10)).toBe('channel index does not exist');
    expect(resultText('stop', 0)).toBe('success');
  });

  it('an unknown code is named, not a lookup failure', () => {
    expect(resultText('start', 0x27)).toBe('unknown result code 0x27');
    expect(resultText('setMv', 0xff)).toBe('unknown result code 0xff');
    expect(Object.keys(RESULT_TABLES)).toEqual(['assign', 'start', 'stop', 'setMv', 'resume']);
  });

  it('status codes 0…30 have names; others are unknown', () => {
    expect([0, 2, 3, 4, 8, 15, 22, 30].map(statusName)).toEqual(['idle', 'charge', 'discharge', 'rest', 'unsafe', 'finished', 'running', 'acr']);
    expect(statusName(31)).toBe('unknown');
    expect(statusName(-1)).toBe('unknown');
  });
});

describe('stream decoder', () => {
  const stop = encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 2, result: 0 });
  const login = encodeLoginFeedback({ result: 1, channelCount: 16 });
  const info = encodeChannelsInfoFeedback([blankChannelRecord(1), blankChannelRecord(2)]);
  const feedbackDecoder = (tolerance = false) => new CtiStreamDecoder({ kind: 'feedback', pyctiTolerance: tolerance });

  it('splits coalesced frames', () => {
    const d = feedbackDecoder();
    const { frames, errors } = d.push(Buffer.concat([stop, login, info, stop]));
    expect(errors).toEqual([]);
    expect(frames).toEqual([stop, login, info, stop]);
    expect(d.pending).toBe(0);
  });

  it('reassembles a frame that arrives one byte at a time', () => {
    const d = feedbackDecoder();
    const out: Buffer[] = [];
    for (const byte of info) out.push(...d.push(Buffer.from([byte])).frames);
    expect(out).toEqual([info]);
  });

  it('resynchronises on the prefix after garbage and reports the garbage', () => {
    const d = feedbackDecoder();
    const { frames, errors } = d.push(Buffer.concat([Buffer.from('noise\x11\xdd', 'latin1'), stop]));
    expect(frames).toEqual([stop]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'prefix', message: expect.stringMatching(/^7 byte\(s\) without the frame prefix/) });
    expect(d.stats.garbageBytes).toBe(7);
  });

  it('keeps a prefix split across chunks', () => {
    const d = feedbackDecoder();
    expect(d.push(Buffer.concat([Buffer.from('xy'), stop.subarray(0, 5)]))).toMatchObject({ frames: [] });
    expect(d.push(stop.subarray(5)).frames).toEqual([stop]);
  });

  it('a wrong prefix is garbage: reported, and the next good frame still decodes', () => {
    const eightDD = Buffer.from(stop);
    eightDD[7] = 0xdd;
    const reversed = Buffer.from(stop);
    reversed[0] = 0x11;
    reversed[7] = 0xdd;
    const d = feedbackDecoder();
    const r1 = d.push(eightDD);
    expect(r1.frames).toEqual([]);
    expect(r1.errors[0]?.reason).toBe('prefix');
    const r2 = d.push(Buffer.concat([reversed, stop]));
    expect(r2.frames).toEqual([stop]);
  });

  it('a bad checksum is reported and the decoder resynchronises on the next prefix', () => {
    const bad = Buffer.from(stop);
    bad[60] = bad[60]! ^ 0xff;
    const d = feedbackDecoder();
    const { frames, errors } = d.push(Buffer.concat([bad, stop]));
    expect(frames).toEqual([stop]);
    expect(errors.map((e) => e.reason)).toEqual(['checksum', 'prefix']);
    expect(errors[0]!.message).toMatch(/checksum 0x[0-9A-F]{4} but the bytes sum to 0x[0-9A-F]{4} in a 128-byte STOP_SCHEDULE feedback/);
    expect(d.stats.badFrames).toBe(1);
  });

  it('a length field that lies: impossible values are refused at once; a plausible lie still recovers the next frame', () => {
    const d = feedbackDecoder();
    const huge = Buffer.from(stop);
    huge.writeUInt32LE(0xfffffff0, 8);
    const r1 = d.push(Buffer.concat([huge, stop]));
    expect(r1.errors[0]).toMatchObject({ reason: 'length', message: expect.stringMatching(/length field 4294967280/) });
    expect(r1.frames).toEqual([stop]);
    const tiny = Buffer.from(stop);
    tiny.writeUInt32LE(5, 8);
    expect(d.push(Buffer.concat([tiny, stop])).frames).toEqual([stop]);
    // Claims 200 bytes: the decoder waits, then finds the checksum wrong and the real frames inside.
    const longer = Buffer.from(stop);
    longer.writeUInt32LE(200, 8);
    expect(d.push(longer)).toEqual({ frames: [], errors: [] });
    const r4 = d.push(stop);
    expect(r4.frames).toEqual([stop]);
    expect(r4.errors[0]!.reason).toBe('checksum');
  });

  it('a truncated frame yields nothing; takePartial hands the fragment back', () => {
    const d = feedbackDecoder();
    expect(d.push(info.subarray(0, 1000))).toEqual({ frames: [], errors: [] });
    expect(d.pending).toBe(1000);
    expect(d.takePartial()).toEqual(info.subarray(0, 1000));
    expect(d.pending).toBe(0);
    expect(d.push(stop).frames).toEqual([stop]);
  });

  it('an unknown command code passes the framing (the driver refuses it by its code)', () => {
    const odd = encodeFrame('feedback', 0x12345678, Buffer.alloc(10));
    const { frames } = feedbackDecoder().push(odd);
    expect(frames).toEqual([odd]);
    expect(commandName(parseFrame(frames[0]!, 'feedback').cmd)).toBe('unknown command 0x12345678');
  });

  it('requests use their own length rule', () => {
    const d = new CtiStreamDecoder({ kind: 'request' });
    const reqs = [encodeLoginRequest({ username: 'u', password: 'p' }), encodeChannelsInfoRequest({ channel: ALL_CHANNELS }), encodeStartRequest({ testName: 't', channels: [1, 2] })];
    expect(d.push(Buffer.concat(reqs)).frames).toEqual(reqs);
    expect(feedbackDecoder().push(reqs[0]!).frames).toEqual([]);
  });

  it('pycti spoofer feedback (2 bytes longer than dwLen): an error when strict, accepted with tolerance', () => {
    const spoofed = [toPyctiFrame(stop), toPyctiFrame(login), toPyctiFrame(info)];
    expect(spoofed.map((b) => b.length - b.readUInt32LE(8))).toEqual([2, 2, 2]);
    expect(spoofed[0]!.readUInt16LE(126)).toBe(0);
    const strict = feedbackDecoder().push(spoofed[0]!);
    expect(strict.frames).toEqual([]);
    expect(strict.errors[0]!.reason).toBe('checksum');
    const d = feedbackDecoder(true);
    const { frames, errors } = d.push(Buffer.concat(spoofed));
    expect(errors).toEqual([]);
    // Returned as the spec-exact frames.
    expect(frames).toEqual([stop, login, info]);
    expect(d.stats.pyctiFrames).toBe(3);
    // Split between the zero bytes and the checksum.
    const d2 = feedbackDecoder(true);
    expect(d2.push(spoofed[0]!.subarray(0, 128)).frames).toEqual([]);
    expect(d2.push(spoofed[0]!.subarray(128)).frames).toEqual([stop]);
  });

  it('property: any chunking of any sequence of frames decodes to the same frames', () => {
    const frameArb = fc.oneof(
      fc.constant(stop),
      fc.constant(login),
      fc.constant(info),
      fc.record({ ch: fc.integer({ min: 0, max: 500 }), r: fc.integer({ min: 0, max: 255 }) }).map(({ ch, r }) => encodeCommonFeedback(FEEDBACK.SET_MV_VALUE, { channelIndex: ch, result: r })),
    );
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 20 }), (frames, cuts) => {
        const all = Buffer.concat(frames);
        const d = feedbackDecoder();
        const out: Buffer[] = [];
        let at = 0;
        for (let i = 0; at < all.length; i++) {
          const n = cuts[i % cuts.length]!;
          const r = d.push(all.subarray(at, at + n));
          expect(r.errors).toEqual([]);
          out.push(...r.frames);
          at += n;
        }
        expect(out).toEqual(frames);
      }),
      { numRuns: 150 },
    );
  });

  it('property: garbage between frames costs no frame', () => {
    const garbage = fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((g) => !Buffer.from(g).includes(0xdd));
    fc.assert(
      fc.property(fc.array(fc.tuple(garbage, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (items) => {
        const frames = items.map(([, r]) => encodeCommonFeedback(FEEDBACK.STOP_SCHEDULE, { channelIndex: 0, result: r }));
        const stream = Buffer.concat(items.flatMap(([g], i) => [Buffer.from(g), frames[i]!]));
        const { frames: got, errors } = feedbackDecoder().push(stream);
        expect(got).toEqual(frames);
        expect(errors.every((e) => e instanceof CtiFrameError && e.reason === 'prefix')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('command table', () => {
  it('lists the documented request codes', () => {
    expect(CMD.LOGIN).toBe(0xeeab0001);
    expect(CMD.GET_CHANNELS_INFO).toBe(0xeeab0003);
    expect(CMD.ASSIGN_SCHEDULE).toBe(0xbb210001);
    expect(CMD.START_SCHEDULE).toBe(0xbb320004);
    expect(CMD.STOP_SCHEDULE).toBe(0xbb310001);
    expect(CMD.RESUME_SCHEDULE).toBe(0xbb310002);
    expect(CMD.SET_MV_VALUE).toBe(0xbb150001);
    expect(CMD.UPDATE_MV_ADVANCED).toBe(0xbb150002);
  });
});

describe('CtiStreamDecoder with a frame in many small reads', () => {
  it('joins the reads of a long frame once, and yields it byte for byte', () => {
    const info = encodeFrame('feedback', FEEDBACK.GET_CHANNELS_INFO, Buffer.alloc(30_000, 7));
    const d = new CtiStreamDecoder({ kind: 'feedback' });
    const frames: Buffer[] = [];
    for (let i = 0; i < info.length; i += 97) {
      frames.push(...d.push(info.subarray(i, i + 97)).frames);
      if (frames.length === 0) expect(d.pending).toBe(Math.min(i + 97, info.length));
    }
    expect(frames).toHaveLength(1);
    expect(Buffer.compare(frames[0]!, info)).toBe(0);
    expect(d.pending).toBe(0);
    // A partial frame handed back includes every read so far.
    d.push(info.subarray(0, 5000));
    d.push(info.subarray(5000, 6000));
    expect(Buffer.compare(d.takePartial(), info.subarray(0, 6000))).toBe(0);
    expect(d.push(info).frames).toHaveLength(1);
  });
});
