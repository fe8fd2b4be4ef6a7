/** CTI CONNECT (0xEEAB0002): request 58, feedback 62. */
import { CMD, FEEDBACK } from './commands.js';
import { type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const CONNECT_REQUEST_BYTES = 58;
export const CONNECT_FEEDBACK_BYTES = 62;

/** `kickOutProtection`: ask MITS Pro not to kick this client out (dwSetKickOut = 1). */
export function encodeConnectRequest(kickOutProtection: boolean): Buffer {
  const frame = newFrame('request', CMD.CONNECT, CONNECT_REQUEST_BYTES);
  frame.writeUInt32LE(kickOutProtection ? 1 : 0, 20);
  return seal(frame);
}

export function decodeConnectRequest(frame: CtiFrame): { kickOutProtection: boolean } {
  expectSize(frame, CMD.CONNECT, CONNECT_REQUEST_BYTES, 'CONNECT request');
  return { kickOutProtection: frame.bytes.readUInt32LE(20) !== 0 };
}

export interface ConnectFeedback {
  kickOutProtection: boolean;
  /** 0 accepted, 1 rejected (server full). */
  result: number;
}

export function encodeConnectFeedback(fb: ConnectFeedback): Buffer {
  const frame = newFrame('feedback', FEEDBACK.CONNECT, CONNECT_FEEDBACK_BYTES);
  frame.writeUInt32LE(fb.kickOutProtection ? 1 : 0, 20);
  frame.writeUInt32LE(fb.result, 24);
  return seal(frame);
}

export function decodeConnectFeedback(frame: CtiFrame): ConnectFeedback {
  expectSize(frame, FEEDBACK.CONNECT, CONNECT_FEEDBACK_BYTES, 'CONNECT feedback');
  return { kickOutProtection: frame.bytes.readUInt32LE(20) !== 0, result: frame.bytes.readUInt32LE(24) };
}
