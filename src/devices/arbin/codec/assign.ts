/** CTI ASSIGN_SCHEDULE (0xBB210001): request 671. */
import { LabwireError } from '../../../wire/types.js';
import { CMD } from './commands.js';
import { ALL_CHANNELS, type ChannelSelector, readWideText, tidyF32, wireIndex, writeWideText } from './fields.js';
import { type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const ASSIGN_REQUEST_BYTES = 671;
export const META_VARIABLE_COUNT = 16;

export interface AssignRequest {
  channel: ChannelSelector;
  schedule: string;
  /** Test capacity, Ah (pycti's default 1.0). */
  capacityAh?: number;
  barcode?: string;
  /** MV_UD1…MV_UD16 initial values; MITS 7 only, ignored by MITS 8 (pycti sends 1.0 each). */
  mvUd?: number[];
}

export function encodeAssignRequest(req: AssignRequest): Buffer {
  const frame = newFrame('request', CMD.ASSIGN_SCHEDULE, ASSIGN_REQUEST_BYTES);
  const all = req.channel === ALL_CHANNELS;
  frame.writeInt32LE(all ? 0 : wireIndex(req.channel as number), 20);
  frame.writeUInt8(all ? 1 : 0, 24);
  writeWideText(frame, 25, 200, req.schedule, 'schedule file name');
  frame.writeFloatLE(req.capacityAh ?? 1, 425);
  writeWideText(frame, 429, 72, req.barcode ?? '', 'barcode');
  const mv = req.mvUd ?? [];
  if (mv.length > META_VARIABLE_COUNT) throw new LabwireError('RangeError', `ASSIGN carries ${META_VARIABLE_COUNT} MV_UD values, not ${mv.length}`);
  for (let k = 0; k < META_VARIABLE_COUNT; k++) frame.writeFloatLE(mv[k] ?? 1, 573 + 4 * k);
  return seal(frame);
}

export interface AssignRequestWire {
  channelIndex: number;
  all: boolean;
  schedule: string;
  capacityAh: number;
  barcode: string;
  mvUd: number[];
}

export function decodeAssignRequest(frame: CtiFrame): AssignRequestWire {
  expectSize(frame, CMD.ASSIGN_SCHEDULE, ASSIGN_REQUEST_BYTES, 'ASSIGN_SCHEDULE request');
  const b = frame.bytes;
  return {
    channelIndex: b.readInt32LE(20),
    all: b.readUInt8(24) !== 0,
    schedule: readWideText(b, 25, 200),
    capacityAh: tidyF32(b.readFloatLE(425)),
    barcode: readWideText(b, 429, 72),
    mvUd: Array.from({ length: META_VARIABLE_COUNT }, (_, k) => tidyF32(b.readFloatLE(573 + 4 * k))),
  };
}
