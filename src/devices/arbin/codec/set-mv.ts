/** CTI SET_MV_VALUE (0xBB150001): request 74. */
import { LabwireError } from '../../../wire/types.js';
import { META_VARIABLE_COUNT } from './assign.js';
import { CMD } from './commands.js';
import { tidyF32, wireIndex } from './fields.js';
import { type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const SET_MV_REQUEST_BYTES = 74;
/** MV_Type and MV_ValueType must both be 1 ("IV type", float). */
export const MV_TYPE_IV = 1;
export const MV_VALUE_FLOAT = 1;

/** MV_MetaCode of MV_UD1…MV_UD16: 52…55, then 105…116. */
export function metaCode(ud: number): number {
  if (!Number.isInteger(ud) || ud < 1 || ud > META_VARIABLE_COUNT) {
    throw new LabwireError('RangeError', `meta variable MV_UD${ud} does not exist; there are MV_UD1 … MV_UD${META_VARIABLE_COUNT}`);
  }
  return ud <= 4 ? 51 + ud : 100 + ud;
}

/** The UD number of a meta code, or undefined for a code that is not MV_UD1…16. */
export function udFromMetaCode(code: number): number | undefined {
  if (code >= 52 && code <= 55) return code - 51;
  if (code >= 105 && code <= 116) return code - 100;
  return undefined;
}

/** `UD3`, `ud3`, `MV_UD3` or `3` → 3. */
export function parseMetaVariable(name: string | number): number {
  const m = /^(?:mv_)?(?:ud)?(\d{1,2})$/i.exec(String(name).trim());
  const ud = m ? Number(m[1]) : NaN;
  if (!m || ud < 1 || ud > META_VARIABLE_COUNT) {
    throw new LabwireError('WrongType', `meta variable "${String(name)}" is not one of UD1 … UD${META_VARIABLE_COUNT}`);
  }
  return ud;
}

export interface SetMvRequest {
  channel: number;
  /** 1…16 for MV_UD1…MV_UD16. */
  ud: number;
  value: number;
}

export function encodeSetMvRequest(req: SetMvRequest): Buffer {
  if (!Number.isFinite(req.value)) throw new LabwireError('WrongType', `meta variable value ${req.value} is not a finite number`);
  const frame = newFrame('request', CMD.SET_MV_VALUE, SET_MV_REQUEST_BYTES);
  frame.writeUInt32LE(wireIndex(req.channel), 20);
  frame.writeInt32LE(MV_TYPE_IV, 24);
  frame.writeInt32LE(metaCode(req.ud), 28);
  frame.writeInt32LE(MV_VALUE_FLOAT, 48);
  frame.writeFloatLE(req.value, 52);
  return seal(frame);
}

export interface SetMvRequestWire {
  channelIndex: number;
  mvType: number;
  metaCode: number;
  valueType: number;
  value: number;
}

export function decodeSetMvRequest(frame: CtiFrame): SetMvRequestWire {
  expectSize(frame, CMD.SET_MV_VALUE, SET_MV_REQUEST_BYTES, 'SET_MV_VALUE request');
  const b = frame.bytes;
  return {
    channelIndex: b.readUInt32LE(20),
    mvType: b.readInt32LE(24),
    metaCode: b.readInt32LE(28),
    valueType: b.readInt32LE(48),
    value: tidyF32(b.readFloatLE(52)),
  };
}
