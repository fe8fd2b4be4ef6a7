/** The common 128-byte feedback (ASSIGN, START, STOP, SET_MV, RESUME, CONTINUE, JUMP). */
import { commandName } from './commands.js';
import { type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const COMMON_FEEDBACK_BYTES = 128;

export interface CommonFeedback {
  /** The raw channel field: 0-based index; v1.1 says START and CONTINUE put −1 there on success. */
  channelIndex: number;
  result: number;
}

export function encodeCommonFeedback(cmd: number, fb: CommonFeedback): Buffer {
  const frame = newFrame('feedback', cmd, COMMON_FEEDBACK_BYTES);
  frame.writeInt32LE(fb.channelIndex, 20);
  frame.writeUInt8(fb.result, 24);
  return seal(frame);
}

export function decodeCommonFeedback(frame: CtiFrame, cmd: number): CommonFeedback {
  expectSize(frame, cmd, COMMON_FEEDBACK_BYTES, `${commandName(cmd)}`);
  return { channelIndex: frame.bytes.readInt32LE(20), result: frame.bytes.readUInt8(24) };
}

// Result codes (the `result` byte of the common feedback), 0 = success

export type ResultTable = 'assign' | 'start' | 'stop' | 'setMv' | 'resume';

const ASSIGN_RESULTS: Record<number, string> = {
  0x10: 'channel does not exist',
  0x11: 'the monitor window is in use',
  0x12: 'schedule name is empty',
  0x13: 'schedule not found',
  0x14: 'channel is running',
  0x15: 'channel is downloading another schedule',
  0x16: 'a batch file is open',
  0x17: 'assign failed',
};

const START_RESULTS: Record<number, string> = {
  0x10: 'invalid channel index',
  0x11: 'someone is using the Start/Resume window',
  0x12: 'channel is running or unsafe',
  0x13: 'channel is not connected to the DAQ',
  0x14: 'schedule is incompatible with the system configuration',
  0x15: 'no schedule assigned',
  0x16: 'schedule version mismatch',
  0x19: 'invalid step number',
  0x1b: 'invalid aux count in the schedule',
  0x1c: 'invalid built-in aux count',
  0x1e: 'check the Aux Test Setting tab',
  0x1f: 'no channels selected',
  0x21: 'the DAQ is still downloading the schedule',
  0x22: 'database query error',
  0x23: 'test name is empty, or the schedule differs from the last one (on resume)',
  0x24: 'invalid step number',
  0x25: 'invalid parallel channel',
  0x26: 'schedule safety precheck failed',
  0x28: 'battery simulation error',
};

const STOP_RESULTS: Record<number, string> = {
  0x10: 'channel index does not exist',
  0x11: 'someone else controls the monitor window',
};

/** Vendor documents (v1.1 and v4.5); pycti swapped 0x11 and 0x12. */
const SET_MV_RESULTS: Record<number, string> = {
  0x10: 'set MV failed',
  0x11: 'meta code does not exist',
  0x12: 'channel is not running',
  0x13: 'meta code not available in MITS Pro 7 (v1.1), or updated too often (v4.5)',
  0x14: 'updated too often: at most one update per 200 ms per meta variable',
};

export const RESULT_TABLES: Readonly<Record<ResultTable, Readonly<Record<number, string>>>> = {
  assign: ASSIGN_RESULTS,
  start: START_RESULTS,
  stop: STOP_RESULTS,
  setMv: SET_MV_RESULTS,
  // RESUME shares the Start/Resume window and its codes.
  resume: START_RESULTS,
};

/** Text for a result code; unknown codes are named, never a lookup failure. */
export function resultText(table: ResultTable, code: number): string {
  if (code === 0) return 'success';
  return RESULT_TABLES[table][code] ?? `unknown result code 0x${code.toString(16).padStart(2, '0')}`;
}
