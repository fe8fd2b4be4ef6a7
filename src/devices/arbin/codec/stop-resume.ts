/** CTI STOP_SCHEDULE (0xBB310001) and RESUME_SCHEDULE (0xBB310002): request 128. */
import { CMD, commandName } from './commands.js';
import { ALL_CHANNELS, type ChannelSelector, wireIndex } from './fields.js';
import { CtiDecodeError, type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const STOP_REQUEST_BYTES = 128;

function encodeChannelAction(cmd: number, channel: ChannelSelector): Buffer {
  const frame = newFrame('request', cmd, STOP_REQUEST_BYTES);
  const all = channel === ALL_CHANNELS;
  frame.writeUInt32LE(all ? 0 : wireIndex(channel as number), 20);
  frame.writeUInt8(all ? 1 : 0, 24);
  return seal(frame);
}

/** With ALL_CHANNELS the cycler answers with one feedback per channel. */
export function encodeStopRequest(channel: ChannelSelector): Buffer {
  return encodeChannelAction(CMD.STOP_SCHEDULE, channel);
}

export function encodeResumeRequest(channel: ChannelSelector): Buffer {
  return encodeChannelAction(CMD.RESUME_SCHEDULE, channel);
}

export function decodeChannelActionRequest(frame: CtiFrame): { channelIndex: number; all: boolean } {
  if (frame.cmd !== CMD.STOP_SCHEDULE && frame.cmd !== CMD.RESUME_SCHEDULE) {
    throw new CtiDecodeError(`expected STOP_SCHEDULE or RESUME_SCHEDULE, got ${commandName(frame.cmd)}`);
  }
  expectSize(frame, frame.cmd, STOP_REQUEST_BYTES, `${commandName(frame.cmd)} request`);
  return { channelIndex: frame.bytes.readUInt32LE(20), all: frame.bytes.readUInt8(24) !== 0 };
}
