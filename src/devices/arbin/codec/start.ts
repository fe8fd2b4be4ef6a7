/** CTI START_SCHEDULE (0xBB320004): request 170 + 2N. */
import { LabwireError } from '../../../wire/types.js';
import { CMD } from './commands.js';
import { readWideText, wireIndex, writeWideText } from './fields.js';
import { CtiDecodeError, type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const START_REQUEST_BASE_BYTES = 170;

export interface StartRequest {
  testName: string;
  channels: number[];
}

export function encodeStartRequest(req: StartRequest): Buffer {
  if (req.testName.length === 0) throw new LabwireError('ProtocolError', 'the test name must not be empty (MITS Pro refuses START without one)');
  if (req.channels.length === 0) throw new LabwireError('ProtocolError', 'START needs at least one channel');
  const frame = newFrame('request', CMD.START_SCHEDULE, START_REQUEST_BASE_BYTES + 2 * req.channels.length);
  writeWideText(frame, 20, 72, req.testName, 'test name');
  frame.writeUInt32LE(req.channels.length, 164);
  req.channels.forEach((ch, i) => frame.writeUInt16LE(wireIndex(ch), 168 + 2 * i));
  return seal(frame);
}

export function decodeStartRequest(frame: CtiFrame): { testName: string; channelIndices: number[] } {
  expectSize(frame, CMD.START_SCHEDULE, (n) => n >= START_REQUEST_BASE_BYTES && (n - START_REQUEST_BASE_BYTES) % 2 === 0, 'START_SCHEDULE request');
  const b = frame.bytes;
  const n = b.readUInt32LE(164);
  if (START_REQUEST_BASE_BYTES + 2 * n !== b.length) {
    throw new CtiDecodeError(`START_SCHEDULE request names ${n} channel(s) but has room for ${(b.length - START_REQUEST_BASE_BYTES) / 2}`);
  }
  return { testName: readWideText(b, 20, 72), channelIndices: Array.from({ length: n }, (_, i) => b.readUInt16LE(168 + 2 * i)) };
}
