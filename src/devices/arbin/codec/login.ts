/** CTI LOGIN (0xEEAB0001): request 86 bytes; feedback 8678 + picture. */
import { CMD, FEEDBACK } from './commands.js';
import { readBytesText, readWideText, writeBytesText, writeWideText } from './fields.js';
import { CtiDecodeError, type CtiFrame, expectSize, newFrame, seal } from './framing.js';

export const LOGIN_REQUEST_BYTES = 86;
export const LOGIN_FEEDBACK_BYTES = 8678;
/** Absolute offsets of the LOGIN feedback. */
export const LOGIN_FEEDBACK_OFFSETS = {
  result: 20,
  ip: 24,
  serialNumber: 28,
  note: 44,
  nickname: 300,
  location: 2348,
  emergencyContact: 4396,
  otherComments: 6444,
  email: 8492,
  call: 8620,
  itac: 8652,
  version: 8656,
  allowControl: 8660,
  channelCount: 8664,
  userType: 8668,
  pictureLength: 8672,
  picture: 8676,
} as const;

export const LOGIN_RESULTS: Readonly<Record<number, string>> = {
  1: 'success',
  2: 'failed: wrong user name or password, or no CTI permission',
  3: 'already logged in',
};

export interface Credentials {
  username: string;
  password: string;
}

export function encodeLoginRequest(credentials: Credentials): Buffer {
  const frame = newFrame('request', CMD.LOGIN, LOGIN_REQUEST_BYTES);
  writeBytesText(frame, 20, 32, credentials.username, 'CTI user name');
  writeBytesText(frame, 52, 32, credentials.password, 'CTI password');
  return seal(frame);
}

export function decodeLoginRequest(frame: CtiFrame): Credentials {
  expectSize(frame, CMD.LOGIN, LOGIN_REQUEST_BYTES, 'LOGIN request');
  return { username: readBytesText(frame.bytes, 20, 32), password: readBytesText(frame.bytes, 52, 32) };
}

export interface LoginFeedback {
  /** 1 success, 2 failed, 3 already logged in. */
  result: number;
  /** The server's IPv4 address from 4 raw bytes, e.g. `3.3.31.81`. */
  ip: string;
  serialNumber: string;
  /** From ArbinSys.cfg; CR LF line breaks. */
  note: string;
  nickname: string;
  location: string;
  emergencyContact: string;
  otherComments: string;
  email: string;
  call: string;
  itac: number;
  version: number;
  allowControl: boolean;
  channelCount: number;
  /** 0 normal, 1 super user. */
  userType: number;
  picture: Buffer;
}

export function encodeLoginFeedback(info: Partial<LoginFeedback> & { result: number }): Buffer {
  const picture = info.picture ?? Buffer.alloc(0);
  const o = LOGIN_FEEDBACK_OFFSETS;
  const frame = newFrame('feedback', FEEDBACK.LOGIN, LOGIN_FEEDBACK_BYTES + picture.length);
  frame.writeUInt32LE(info.result, o.result);
  const ip = (info.ip ?? '0.0.0.0').split('.').map(Number);
  for (let i = 0; i < 4; i++) frame[o.ip + i] = (ip[i] ?? 0) & 0xff;
  writeBytesText(frame, o.serialNumber, 16, info.serialNumber ?? '', 'serial number');
  writeBytesText(frame, o.note, 256, info.note ?? '', 'note');
  writeWideText(frame, o.nickname, 1024, info.nickname ?? '', 'nickname');
  writeWideText(frame, o.location, 1024, info.location ?? '', 'location');
  writeWideText(frame, o.emergencyContact, 1024, info.emergencyContact ?? '', 'emergency contact');
  writeWideText(frame, o.otherComments, 1024, info.otherComments ?? '', 'other comments');
  writeWideText(frame, o.email, 64, info.email ?? '', 'e-mail');
  writeWideText(frame, o.call, 16, info.call ?? '', 'call');
  frame.writeUInt32LE(info.itac ?? 0, o.itac);
  frame.writeUInt32LE(info.version ?? 0, o.version);
  frame.writeUInt32LE(info.allowControl === false ? 0 : 1, o.allowControl);
  frame.writeUInt32LE(info.channelCount ?? 0, o.channelCount);
  frame.writeUInt32LE(info.userType ?? 0, o.userType);
  frame.writeUInt32LE(picture.length, o.pictureLength);
  picture.copy(frame, o.picture);
  return seal(frame);
}

export function decodeLoginFeedback(frame: CtiFrame): LoginFeedback {
  expectSize(frame, FEEDBACK.LOGIN, (n) => n >= LOGIN_FEEDBACK_BYTES, 'LOGIN feedback');
  const b = frame.bytes;
  const o = LOGIN_FEEDBACK_OFFSETS;
  const pictureLength = b.readUInt32LE(o.pictureLength);
  if (b.length !== LOGIN_FEEDBACK_BYTES + pictureLength) {
    throw new CtiDecodeError(`LOGIN feedback has ${b.length} bytes, but its picture length ${pictureLength} means ${LOGIN_FEEDBACK_BYTES + pictureLength}`);
  }
  return {
    result: b.readUInt32LE(o.result),
    ip: Array.from(b.subarray(o.ip, o.ip + 4)).join('.'),
    serialNumber: readBytesText(b, o.serialNumber, 16),
    note: readBytesText(b, o.note, 256),
    nickname: readWideText(b, o.nickname, 1024),
    location: readWideText(b, o.location, 1024),
    emergencyContact: readWideText(b, o.emergencyContact, 1024),
    otherComments: readWideText(b, o.otherComments, 1024),
    email: readWideText(b, o.email, 64),
    call: readWideText(b, o.call, 16),
    itac: b.readUInt32LE(o.itac),
    version: b.readUInt32LE(o.version),
    allowControl: b.readUInt32LE(o.allowControl) !== 0,
    channelCount: b.readUInt32LE(o.channelCount),
    userType: b.readUInt32LE(o.userType),
    picture: Buffer.from(b.subarray(o.picture, o.picture + pictureLength)),
  };
}
