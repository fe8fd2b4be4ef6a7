/** CTI GET_CHANNELS_INFO (0xEEAB0003): request 62; feedback 24 + records + 2. */
import { LabwireError } from '../../../wire/types.js';
import { CMD, FEEDBACK } from './commands.js';
import { ALL_CHANNELS, type ChannelSelector, channelFromIndex, readBytesText, readWideText, tidyF32, wireIndex, writeBytesText, writeWideText } from './fields.js';
import { CHECKSUM_BYTES, CtiDecodeError, type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const CHANNELS_INFO_REQUEST_BYTES = 62;
/** A channel record without aux, BMS or SMB data. */
export const CHANNEL_RECORD_BYTES = 1753;
/** A feedback with one such record: 20 + 4 + 1753 + 2. */
export const SINGLE_CHANNEL_FEEDBACK_BYTES = 1779;

export const CHANNEL_SELECTIONS = { all: 1, running: 2, unsafe: 3 } as const;
export type ChannelSelection = keyof typeof CHANNEL_SELECTIONS;

/** AuxDataOptions bit flags. */
export const AUX_OPTIONS = { bms: 0x100, smb: 0x200, aux: 0x400 } as const;
export interface AuxRequest {
  aux?: boolean;
  bms?: boolean;
  smb?: boolean;
}

export function auxFlags(aux: AuxRequest = {}): number {
  return (aux.aux ? AUX_OPTIONS.aux : 0) | (aux.bms ? AUX_OPTIONS.bms : 0) | (aux.smb ? AUX_OPTIONS.smb : 0);
}

export interface ChannelsInfoRequest {
  channel: ChannelSelector;
  selection?: ChannelSelection;
  aux?: AuxRequest;
}

export function encodeChannelsInfoRequest(req: ChannelsInfoRequest): Buffer {
  const frame = newFrame('request', CMD.GET_CHANNELS_INFO, CHANNELS_INFO_REQUEST_BYTES);
  frame.writeInt16LE(req.channel === ALL_CHANNELS ? -1 : wireIndex(req.channel), 20);
  frame.writeInt16LE(CHANNEL_SELECTIONS[req.selection ?? 'all'], 22);
  frame.writeUInt32LE(auxFlags(req.aux), 24);
  return seal(frame);
}

/** As the server sees it: the raw index (−1 = all) so that it can answer a bad one as it likes. */
export interface ChannelsInfoRequestWire {
  onlyChannel: number;
  selection: number;
  auxOptions: number;
}

export function decodeChannelsInfoRequest(frame: CtiFrame): ChannelsInfoRequestWire {
  expectSize(frame, CMD.GET_CHANNELS_INFO, CHANNELS_INFO_REQUEST_BYTES, 'GET_CHANNELS_INFO request');
  return { onlyChannel: frame.bytes.readInt16LE(20), selection: frame.bytes.readInt16LE(22), auxOptions: frame.bytes.readUInt32LE(24) };
}

/** Aux types in the order of their counts and values in a channel record. */
export const AUX_TYPES = [
  'voltage',
  'temperature',
  'pressure',
  'external',
  'flow',
  'ao',
  'di',
  'do',
  'humidity',
  'safety',
  'ph',
  'density',
] as const;
export type AuxType = (typeof AUX_TYPES)[number];

export interface AuxValue {
  value: number;
  /** The rate of change the record carries with each value. */
  dt: number;
}

export interface BmsValue {
  index: number;
  value: number;
  unit: string;
}

export interface SmbValue {
  index: number;
  value: number | string;
  unit: string;
}

/** One channel as GET_CHANNELS_INFO reports it; `channel` and `masterChannel` are 1-based. */
export interface ChannelRecord {
  channel: number;
  status: number;
  commFailure: boolean;
  schedule: string;
  testName: string;
  exitCondition: string;
  stepText: string;
  barcode: string;
  canConfig: string;
  smbConfig: string;
  masterChannel: number;
  testTime: number;
  stepTime: number;
  voltage: number;
  current: number;
  power: number;
  chargeCapacity: number;
  dischargeCapacity: number;
  chargeEnergy: number;
  dischargeEnergy: number;
  internalResistance: number;
  dvdt: number;
  acr: number;
  aci: number;
  aciPhase: number;
  aux: Record<AuxType, AuxValue[]>;
  bms: BmsValue[];
  smb: SmbValue[];
}

/** Offsets inside a channel record (relative to its start; +24 for the first record of a feedback). */
export const CHANNEL_RECORD_OFFSETS = {
  index: 0,
  status: 4,
  commFailure: 6,
  schedule: 7,
  testName: 407,
  exitCondition: 551,
  stepText: 651,
  barcode: 715,
  canConfig: 859,
  smbConfig: 1259,
  masterChannel: 1659,
  testTime: 1661,
  stepTime: 1669,
  voltage: 1677,
  current: 1681,
  power: 1685,
  chargeCapacity: 1689,
  dischargeCapacity: 1693,
  chargeEnergy: 1697,
  dischargeEnergy: 1701,
  internalResistance: 1705,
  dvdt: 1709,
  acr: 1713,
  aci: 1717,
  aciPhase: 1721,
  counts: 1725,
  auxValues: 1753,
} as const;

export function emptyAux(): Record<AuxType, AuxValue[]> {
  return Object.fromEntries(AUX_TYPES.map((t) => [t, []])) as unknown as Record<AuxType, AuxValue[]>;
}

/** A record with every field empty or zero, for encoders and tests. */
export function blankChannelRecord(channel: number): ChannelRecord {
  return {
    channel,
    status: 0,
    commFailure: false,
    schedule: '',
    testName: '',
    exitCondition: '',
    stepText: '',
    barcode: '',
    canConfig: '',
    smbConfig: '',
    masterChannel: channel,
    testTime: 0,
    stepTime: 0,
    voltage: 0,
    current: 0,
    power: 0,
    chargeCapacity: 0,
    dischargeCapacity: 0,
    chargeEnergy: 0,
    dischargeEnergy: 0,
    internalResistance: 0,
    dvdt: 0,
    acr: 0,
    aci: 0,
    aciPhase: 0,
    aux: emptyAux(),
    bms: [],
    smb: [],
  };
}

const F32_FIELDS = [
  'voltage',
  'current',
  'power',
  'chargeCapacity',
  'dischargeCapacity',
  'chargeEnergy',
  'dischargeEnergy',
  'internalResistance',
  'dvdt',
  'acr',
  'aci',
  'aciPhase',
] as const;

function cString(text: string): Buffer {
  if (text.includes('\0')) throw new LabwireError('WrongType', 'NUL-terminated CTI text must not contain a NUL character');
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

export function encodeChannelRecord(r: ChannelRecord): Buffer {
  const o = CHANNEL_RECORD_OFFSETS;
  const fixed = Buffer.alloc(CHANNEL_RECORD_BYTES);
  fixed.writeUInt32LE(wireIndex(r.channel), o.index);
  fixed.writeInt16LE(r.status, o.status);
  fixed.writeUInt8(r.commFailure ? 1 : 0, o.commFailure);
  writeWideText(fixed, o.schedule, 200, r.schedule, 'schedule file name');
  writeWideText(fixed, o.testName, 72, r.testName, 'test name');
  writeBytesText(fixed, o.exitCondition, 100, r.exitCondition, 'exit condition');
  writeBytesText(fixed, o.stepText, 64, r.stepText, 'step text');
  writeWideText(fixed, o.barcode, 72, r.barcode, 'barcode');
  writeWideText(fixed, o.canConfig, 200, r.canConfig, 'CAN config name');
  writeWideText(fixed, o.smbConfig, 200, r.smbConfig, 'SMB config name');
  fixed.writeUInt16LE(wireIndex(r.masterChannel), o.masterChannel);
  fixed.writeDoubleLE(r.testTime, o.testTime);
  fixed.writeDoubleLE(r.stepTime, o.stepTime);
  for (const f of F32_FIELDS) fixed.writeFloatLE(r[f], o[f]);
  AUX_TYPES.forEach((t, i) => fixed.writeUInt16LE(r.aux[t].length, o.counts + 2 * i));
  fixed.writeUInt16LE(r.bms.length, o.counts + 2 * 12);
  fixed.writeUInt16LE(r.smb.length, o.counts + 2 * 13);
  const parts: Buffer[] = [fixed];
  for (const t of AUX_TYPES) {
    for (const a of r.aux[t]) {
      const v = Buffer.alloc(8);
      v.writeFloatLE(a.value, 0);
      v.writeFloatLE(a.dt, 4);
      parts.push(v);
    }
  }
  for (const b of r.bms) {
    const v = Buffer.alloc(12);
    v.writeUInt32LE(b.index, 0);
    v.writeDoubleLE(b.value, 4);
    parts.push(v, cString(b.unit));
  }
  for (const s of r.smb) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(s.index, 0);
    head.writeUInt32LE(typeof s.value === 'string' ? 1 : 0, 4);
    let value: Buffer;
    if (typeof s.value === 'string') value = cString(s.value);
    else {
      value = Buffer.alloc(8);
      value.writeDoubleLE(s.value, 0);
    }
    parts.push(head, value, cString(s.unit));
  }
  return Buffer.concat(parts);
}

export function encodeChannelsInfoFeedback(records: ChannelRecord[]): Buffer {
  const body = Buffer.concat(records.map(encodeChannelRecord));
  const frame = newFrame('feedback', FEEDBACK.GET_CHANNELS_INFO, 24 + body.length + CHECKSUM_BYTES);
  frame.writeUInt32LE(records.length, 20);
  body.copy(frame, 24);
  return seal(frame);
}

/** Reads a NUL-terminated string at `at`; returns it and the offset after the NUL. */
function readCString(b: Buffer, at: number, end: number, what: string): [string, number] {
  const nul = b.indexOf(0, at);
  if (nul < 0 || nul >= end) throw new CtiDecodeError(`${what}: unterminated text`);
  return [b.toString('utf8', at, nul), nul + 1];
}

/** Decodes one record at `start`; returns it and the offset after it. `end` is where the records stop. */
export function decodeChannelRecord(b: Buffer, start: number, end: number): [ChannelRecord, number] {
  const o = CHANNEL_RECORD_OFFSETS;
  if (start + CHANNEL_RECORD_BYTES > end) throw new CtiDecodeError(`channel record at byte ${start} is cut short (${end - start} of ${CHANNEL_RECORD_BYTES} bytes)`);
  const at = (rel: number): number => start + rel;
  const index = b.readUInt32LE(at(o.index));
  const channel = channelFromIndex(index);
  // The float fields are filled from F32_FIELDS below; aux/BMS/SMB sections after that.
  const r: ChannelRecord = {
    ...blankChannelRecord(channel),
    status: b.readInt16LE(at(o.status)),
    commFailure: b.readUInt8(at(o.commFailure)) !== 0,
    schedule: readWideText(b, at(o.schedule), 200),
    testName: readWideText(b, at(o.testName), 72),
    exitCondition: readBytesText(b, at(o.exitCondition), 100),
    stepText: readBytesText(b, at(o.stepText), 64),
    barcode: readWideText(b, at(o.barcode), 72),
    canConfig: readWideText(b, at(o.canConfig), 200),
    smbConfig: readWideText(b, at(o.smbConfig), 200),
    masterChannel: channelFromIndex(b.readUInt16LE(at(o.masterChannel))),
    testTime: b.readDoubleLE(at(o.testTime)),
    stepTime: b.readDoubleLE(at(o.stepTime)),
  };
  for (const f of F32_FIELDS) r[f] = tidyF32(b.readFloatLE(at(o[f])));
  const counts = AUX_TYPES.map((_, i) => b.readUInt16LE(at(o.counts + 2 * i)));
  const bmsCount = b.readUInt16LE(at(o.counts + 24));
  const smbCount = b.readUInt16LE(at(o.counts + 26));
  let p = at(o.auxValues);
  const auxTotal = counts.reduce((s, n) => s + n, 0);
  if (p + 8 * auxTotal > end) throw new CtiDecodeError(`channel ${r.channel}: ${auxTotal} aux values do not fit in the message`);
  AUX_TYPES.forEach((t, i) => {
    for (let k = 0; k < counts[i]!; k++) {
      r.aux[t].push({ value: tidyF32(b.readFloatLE(p)), dt: tidyF32(b.readFloatLE(p + 4)) });
      p += 8;
    }
  });
  for (let k = 0; k < bmsCount; k++) {
    if (p + 12 > end) throw new CtiDecodeError(`channel ${r.channel}: BMS value ${k + 1} of ${bmsCount} is cut short`);
    const index = b.readUInt32LE(p);
    const value = b.readDoubleLE(p + 4);
    let unit: string;
    [unit, p] = readCString(b, p + 12, end, `channel ${r.channel} BMS value ${k + 1}`);
    r.bms.push({ index, value, unit });
  }
  for (let k = 0; k < smbCount; k++) {
    if (p + 8 > end) throw new CtiDecodeError(`channel ${r.channel}: SMB value ${k + 1} of ${smbCount} is cut short`);
    const index = b.readUInt32LE(p);
    const type = b.readUInt32LE(p + 4);
    p += 8;
    let value: number | string;
    if (type === 0) {
      if (p + 8 > end) throw new CtiDecodeError(`channel ${r.channel}: SMB value ${k + 1} is cut short`);
      value = b.readDoubleLE(p);
      p += 8;
    } else if (type === 1) {
      [value, p] = readCString(b, p, end, `channel ${r.channel} SMB value ${k + 1}`);
    } else {
      throw new CtiDecodeError(`channel ${r.channel}: SMB value ${k + 1} has unknown type ${type} (0 number, 1 text)`);
    }
    let unit: string;
    [unit, p] = readCString(b, p, end, `channel ${r.channel} SMB unit ${k + 1}`);
    r.smb.push({ index, value, unit });
  }
  return [r, p];
}

export function decodeChannelsInfoFeedback(frame: CtiFrame): ChannelRecord[] {
  expectSize(frame, FEEDBACK.GET_CHANNELS_INFO, (n) => n >= 24 + CHECKSUM_BYTES, 'GET_CHANNELS_INFO feedback');
  const b = frame.bytes;
  const count = b.readUInt32LE(20);
  const end = b.length - CHECKSUM_BYTES;
  if (count > Math.floor((end - 24) / CHANNEL_RECORD_BYTES)) {
    throw new CtiDecodeError(`GET_CHANNELS_INFO feedback announces ${count} channel records but has room for ${Math.floor((end - 24) / CHANNEL_RECORD_BYTES)}`);
  }
  const records: ChannelRecord[] = [];
  let p = 24;
  for (let i = 0; i < count; i++) {
    const [r, next] = decodeChannelRecord(b, p, end);
    records.push(r);
    p = next;
  }
  if (p !== end) throw new CtiDecodeError(`GET_CHANNELS_INFO feedback has ${end - p} byte(s) after its ${count} channel record(s)`);
  return records;
}
