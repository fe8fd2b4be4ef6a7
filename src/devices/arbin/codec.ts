/**
 * Arbin CTI ("Console TCP/IP Interface", MITS Pro port 9031): pure encoding and decoding, no I/O.
 *
 * Every message is a little-endian packed frame:
 *
 *     DD DD DD DD DD DD DD 11 | dwLen u32 | dwCmd u32 | dwCmd_Extend u32 (0) | args | checksum u16
 *
 * The length rule is asymmetric: a request's dwLen counts the bytes after the field (total − 12),
 * a feedback's counts the whole frame (total). The checksum is the byte sum of everything before
 * it, modulo 65536. Text is UTF-16LE (`wchar`) or ASCII/UTF-8 (`byte`), NUL-padded to a fixed width.
 *
 * Channels are 1-based everywhere in this module's API; the 0-based wire index exists only inside
 * the encoders and decoders here. Channel 0 is refused: pycti sent it as −1, which addresses every
 * channel of a real cycler.
 */
import { LabwireError } from '../../wire/types.js';

// ---------------------------------------------------------------------------------------------
// Frame constants

/** The 8-byte token every frame starts with, in the byte order of a real MITS Pro 8 capture. */
export const CTI_PREFIX: Readonly<Buffer> = Buffer.from([0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0x11]);
/** Token (8) + dwLen (4) + dwCmd (4) + dwCmd_Extend (4). */
export const HEADER_BYTES = 20;
export const CHECKSUM_BYTES = 2;
/** A frame without arguments. */
export const MIN_FRAME_BYTES = HEADER_BYTES + CHECKSUM_BYTES;
/** Control and info commands; file operations use 9032 (not implemented). */
export const CTI_PORT = 9031;
/** Largest frame a decoder accepts by default: 512 channels with aux data fit easily. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

export type FrameKind = 'request' | 'feedback';

/** Request codes (vendor v1.1 / v4.5). Feedback code = the same with the nibbles of byte 2 swapped. */
export const CMD = {
  LOGIN: 0xeeab0001,
  CONNECT: 0xeeab0002,
  GET_CHANNELS_INFO: 0xeeab0003,
  ASSIGN_SCHEDULE: 0xbb210001,
  SET_MV_VALUE: 0xbb150001,
  UPDATE_MV_ADVANCED: 0xbb150002,
  STOP_SCHEDULE: 0xbb310001,
  RESUME_SCHEDULE: 0xbb310002,
  START_SCHEDULE: 0xbb320004,
  JUMP_CHANNEL: 0xbb320005,
  CONTINUE_SCHEDULE: 0xbb320006,
  GET_SERIAL: 0xbb340001,
  BROWSE_DIRECTORY: 0xcc130001,
  DOWNLOAD_FILE: 0xcc130002,
  UPLOAD_FILE: 0xcc130003,
  NEW_OR_DELETE: 0xcc130004,
  NEW_FOLDER: 0xcc130005,
  DELETE_FOLDER: 0xcc130006,
  GET_START_DATA: 0xcd130001,
  START_EX: 0xcd130002,
  GET_RESUME_DATA: 0xcd130003,
  RESUME_EX: 0xcd130004,
  AUTOCALI_START: 0xcd140001,
  SEND_MSG_TO_CTI: 0xcd140002,
} as const;
export type CommandName = keyof typeof CMD;

/** The feedback code that answers a request code: `0xEEAB0001` → `0xEEBA0001`, `0xBB210001` → `0xBB120001`. */
export function feedbackCode(requestCode: number): number {
  const b2 = (requestCode >>> 16) & 0xff;
  const swapped = ((b2 & 0x0f) << 4) | (b2 >>> 4);
  return ((requestCode & 0xff00ffff) | (swapped << 16)) >>> 0;
}

/** Feedback codes by the request's name. */
export const FEEDBACK = Object.fromEntries(Object.entries(CMD).map(([k, v]) => [k, feedbackCode(v)])) as Record<CommandName, number>;

const NAMES = new Map<number, string>();
for (const [name, code] of Object.entries(CMD)) {
  NAMES.set(code, name);
  NAMES.set(feedbackCode(code), `${name} feedback`);
}

export function hex32(code: number): string {
  return `0x${(code >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** `GET_CHANNELS_INFO (0xEEAB0003)`, `STOP_SCHEDULE feedback (0xBB130001)`, or `unknown command 0x12345678`. */
export function commandName(code: number): string {
  const name = NAMES.get(code >>> 0);
  return name ? `${name} (${hex32(code)})` : `unknown command ${hex32(code)}`;
}

export function isKnownCommand(code: number): boolean {
  return NAMES.has(code >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Frames

/** Why a byte sequence is not a valid CTI frame. */
export type FrameErrorReason = 'prefix' | 'length' | 'checksum' | 'truncated';

export class CtiFrameError extends Error {
  readonly reason: FrameErrorReason;
  constructor(reason: FrameErrorReason, message: string) {
    super(message);
    this.name = 'CtiFrameError';
    this.reason = reason;
  }
}

/** A message that is a valid frame but not a valid message of its kind (wrong size, bad count). */
export class CtiDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CtiDecodeError';
  }
}

/** Sum of bytes [0, end) modulo 65536. */
export function checksum(bytes: Uint8Array, end = bytes.length): number {
  let sum = 0;
  for (let i = 0; i < end; i++) sum += bytes[i]!;
  return sum & 0xffff;
}

/** dwLen for a frame of `total` bytes. */
export function lengthField(kind: FrameKind, total: number): number {
  return kind === 'request' ? total - 12 : total;
}

/** The frame's total size from its dwLen. */
export function totalFromLength(kind: FrameKind, dwLen: number): number {
  return kind === 'request' ? dwLen + 12 : dwLen;
}

/** A zero-filled frame of `total` bytes with the header written; fill args, then call `seal`. */
export function newFrame(kind: FrameKind, cmd: number, total: number): Buffer {
  if (total < MIN_FRAME_BYTES) throw new RangeError(`a CTI frame has at least ${MIN_FRAME_BYTES} bytes, not ${total}`);
  const buf = Buffer.alloc(total);
  CTI_PREFIX.copy(buf, 0);
  buf.writeUInt32LE(lengthField(kind, total), 8);
  buf.writeUInt32LE(cmd >>> 0, 12);
  buf.writeUInt32LE(0, 16);
  return buf;
}

/** Writes the checksum into the last two bytes and returns the frame. */
export function seal(frame: Buffer): Buffer {
  frame.writeUInt16LE(checksum(frame, frame.length - CHECKSUM_BYTES), frame.length - CHECKSUM_BYTES);
  return frame;
}

/** A whole frame around raw argument bytes. */
export function encodeFrame(kind: FrameKind, cmd: number, args: Uint8Array = Buffer.alloc(0)): Buffer {
  const frame = newFrame(kind, cmd, HEADER_BYTES + args.length + CHECKSUM_BYTES);
  frame.set(args, HEADER_BYTES);
  return seal(frame);
}

export interface CtiFrame {
  kind: FrameKind;
  cmd: number;
  ext: number;
  /** The whole frame, header and checksum included; decoders read absolute offsets from it. */
  bytes: Buffer;
}

/** Checks one complete frame (prefix, length field, checksum) and returns its header fields. */
export function parseFrame(bytes: Buffer, kind: FrameKind): CtiFrame {
  if (bytes.length < MIN_FRAME_BYTES) throw new CtiFrameError('truncated', `a CTI frame has at least ${MIN_FRAME_BYTES} bytes, got ${bytes.length}`);
  if (!bytes.subarray(0, CTI_PREFIX.length).equals(CTI_PREFIX)) {
    throw new CtiFrameError('prefix', `frame does not start with DD DD DD DD DD DD DD 11 but ${hexBytes(bytes.subarray(0, 8))}`);
  }
  const dwLen = bytes.readUInt32LE(8);
  const total = totalFromLength(kind, dwLen);
  if (total !== bytes.length) {
    throw new CtiFrameError('length', `${kind} length field ${dwLen} means ${total} bytes, but the frame has ${bytes.length}`);
  }
  const stored = bytes.readUInt16LE(bytes.length - CHECKSUM_BYTES);
  const computed = checksum(bytes, bytes.length - CHECKSUM_BYTES);
  if (stored !== computed) {
    throw new CtiFrameError('checksum', `checksum ${hex16(stored)} but the bytes sum to ${hex16(computed)} (${commandNameAt(bytes)})`);
  }
  return { kind, cmd: bytes.readUInt32LE(12), ext: bytes.readUInt32LE(16), bytes };
}

function commandNameAt(bytes: Buffer): string {
  return bytes.length >= 16 ? commandName(bytes.readUInt32LE(12)) : 'no command code';
}

function hex16(v: number): string {
  return `0x${v.toString(16).toUpperCase().padStart(4, '0')}`;
}

export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Stream decoder

export interface StreamDecoderOptions {
  /** Requests (the server side) or feedback (the client side): the length rules differ. */
  kind: FrameKind;
  /**
   * Accept the pycti spoofer's feedback, which is 2 bytes longer than its dwLen: the checksum sits
   * after two zero bytes. Such a frame is returned as dwLen bytes with the checksum put in its place.
   */
  pyctiTolerance?: boolean;
  maxFrameBytes?: number;
}

export interface StreamDecoderStats {
  frames: number;
  /** Bytes discarded while looking for a frame prefix. */
  garbageBytes: number;
  /** Frames refused for a bad checksum or an impossible length field. */
  badFrames: number;
  /** Frames accepted in pycti tolerance mode. */
  pyctiFrames: number;
}

export interface DecodeResult {
  frames: Buffer[];
  errors: CtiFrameError[];
}

/**
 * Cuts a byte stream into CTI frames: splits coalesced frames, reassembles split ones, and
 * resynchronises on the `DD×7 11` prefix after garbage, a bad checksum or a length that lies.
 * After a bad frame it skips one byte and searches again, so a frame hidden behind a lying
 * length field is still found.
 */
export class CtiStreamDecoder {
  readonly kind: FrameKind;
  private readonly tolerance: boolean;
  private readonly maxFrameBytes: number;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly counters: StreamDecoderStats = { frames: 0, garbageBytes: 0, badFrames: 0, pyctiFrames: 0 };

  constructor(options: StreamDecoderOptions) {
    this.kind = options.kind;
    this.tolerance = options.pyctiTolerance ?? false;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get stats(): Readonly<StreamDecoderStats> {
    return { ...this.counters };
  }

  /** Bytes held for an unfinished frame. */
  get pending(): number {
    return this.buffer.length;
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Buffer[] = [];
    const errors: CtiFrameError[] = [];
    if (chunk.length > 0) this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const buf = this.buffer;
      if (buf.length === 0) break;
      const at = buf.indexOf(CTI_PREFIX);
      if (at < 0) {
        // Keep what could be the start of a prefix split across chunks.
        const keep = partialPrefixLength(buf);
        if (buf.length > keep) this.discard(buf.length - keep, errors);
        break;
      }
      if (at > 0) {
        this.discard(at, errors);
        continue;
      }
      if (buf.length < 12) break;
      const dwLen = buf.readUInt32LE(8);
      const total = totalFromLength(this.kind, dwLen);
      if (total < MIN_FRAME_BYTES || total > this.maxFrameBytes) {
        this.bad(errors, 'length', `${this.kind} length field ${dwLen} (${total} bytes) is impossible; skipping to the next prefix`);
        continue;
      }
      if (buf.length < total) break;
      const stored = buf.readUInt16LE(total - CHECKSUM_BYTES);
      const computed = checksum(buf, total - CHECKSUM_BYTES);
      if (stored === computed) {
        frames.push(Buffer.from(buf.subarray(0, total)));
        this.buffer = buf.subarray(total);
        this.counters.frames++;
        continue;
      }
      if (this.tolerance && this.kind === 'feedback' && stored === 0) {
        // pycti: [dwLen bytes ending in 00 00][checksum of the first dwLen bytes].
        if (buf.length < total + CHECKSUM_BYTES) break;
        if (buf.readUInt16LE(total) === checksum(buf, total)) {
          const frame = Buffer.from(buf.subarray(0, total));
          frame.writeUInt16LE(computed, total - CHECKSUM_BYTES);
          frames.push(frame);
          this.buffer = buf.subarray(total + CHECKSUM_BYTES);
          this.counters.frames++;
          this.counters.pyctiFrames++;
          continue;
        }
      }
      this.bad(errors, 'checksum', `checksum ${hex16(stored)} but the bytes sum to ${hex16(computed)} in a ${total}-byte ${commandNameAt(buf)}; skipping to the next prefix`);
    }
    if (this.buffer.length === 0) this.buffer = Buffer.alloc(0);
    return { frames, errors };
  }

  /** Forgets everything buffered. */
  reset(): void {
    this.buffer = Buffer.alloc(0);
  }

  /** Returns the buffered bytes of an unfinished frame and forgets them. */
  takePartial(): Buffer {
    const partial = Buffer.from(this.buffer);
    this.buffer = Buffer.alloc(0);
    return partial;
  }

  private discard(n: number, errors: CtiFrameError[]): void {
    const dropped = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    this.counters.garbageBytes += n;
    const shown = hexBytes(dropped.subarray(0, 12)) + (n > 12 ? ' …' : '');
    errors.push(new CtiFrameError('prefix', `${n} byte(s) without the frame prefix DD DD DD DD DD DD DD 11 discarded: ${shown}`));
  }

  private bad(errors: CtiFrameError[], reason: FrameErrorReason, message: string): void {
    this.counters.badFrames++;
    errors.push(new CtiFrameError(reason, message));
    // Skip this prefix only: the next frame may start inside the bytes a lying length claimed.
    this.buffer = this.buffer.subarray(1);
  }
}

function partialPrefixLength(buf: Buffer): number {
  for (let k = Math.min(CTI_PREFIX.length - 1, buf.length); k > 0; k--) {
    if (buf.subarray(buf.length - k).equals(CTI_PREFIX.subarray(0, k))) return k;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Channels: 1-based outside, 0-based on the wire

/** Every channel: −1 on the wire (GET_CHANNELS_INFO OnlyChannel). */
export const ALL_CHANNELS = 'all' as const;
export type ChannelSelector = number | typeof ALL_CHANNELS;

/**
 * The 0-based wire index of a 1-based channel. Channel 0 and other non-channels are refused: never
 * let `0 − 1` go out as −1, which a real cycler reads as "all channels".
 */
export function wireIndex(channel: number, command = '-'): number {
  if (!Number.isInteger(channel)) {
    throw new LabwireError('WrongType', `channel ${String(channel)} is not a whole number; Arbin channels are numbered 1, 2, 3, …`, command);
  }
  if (channel < 1) {
    const why = channel === 0 ? ' (refused, never sent: as wire index −1 it would address every channel)' : '';
    throw new LabwireError('RangeError', `channel ${channel} does not exist: Arbin channels are numbered from 1${why}`, command);
  }
  if (channel > 0x7fff) throw new LabwireError('RangeError', `channel ${channel} is beyond any cycler (the wire index is 16 bits)`, command);
  return channel - 1;
}

/** The 1-based channel for a wire index. */
export function channelFromIndex(index: number): number {
  return index + 1;
}

// ---------------------------------------------------------------------------------------------
// Fixed-width text

/** ASCII/UTF-8 text NUL-padded to `size` bytes; refuses text that does not fit instead of cutting it. */
export function writeBytesText(buf: Buffer, offset: number, size: number, text: string, field: string): void {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > size) throw new LabwireError('RangeError', `${field} is ${bytes.length} bytes long; the CTI field holds ${size}`);
  if (bytes.includes(0)) throw new LabwireError('WrongType', `${field} must not contain a NUL character`);
  bytes.copy(buf, offset);
}

/** UTF-16LE text (no BOM) NUL-padded to `chars` code units, keeping room for a terminating NUL. */
export function writeWideText(buf: Buffer, offset: number, chars: number, text: string, field: string): void {
  if (text.length > chars - 1) throw new LabwireError('RangeError', `${field} is ${text.length} characters long; the CTI field holds ${chars - 1}`);
  if (text.includes('\0')) throw new LabwireError('WrongType', `${field} must not contain a NUL character`);
  buf.write(text, offset, chars * 2, 'utf16le');
}

/** Text up to the first NUL of a `byte[size]` field. */
export function readBytesText(buf: Buffer, offset: number, size: number): string {
  const field = buf.subarray(offset, offset + size);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** Text up to the first NUL code unit of a `wchar[chars]` field; a leading BOM (pycti spoofer) is dropped. */
export function readWideText(buf: Buffer, offset: number, chars: number): string {
  let end = offset;
  const limit = offset + chars * 2;
  while (end + 1 < limit && (buf[end] !== 0 || buf[end + 1] !== 0)) end += 2;
  const text = buf.toString('utf16le', offset, end);
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/** f32 values as the shortest decimal that reads back as the same f32 (3.45646, not 3.4564599990844727). */
export function tidyF32(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let p = 6; p <= 9; p++) {
    const v = Number(value.toPrecision(p));
    if (Math.fround(v) === value) return v;
  }
  return value;
}

function expectSize(frame: CtiFrame, cmd: number, size: number | ((n: number) => boolean), what: string): void {
  if (frame.cmd >>> 0 !== cmd >>> 0) throw new CtiDecodeError(`expected ${commandName(cmd)}, got ${commandName(frame.cmd)}`);
  const ok = typeof size === 'number' ? frame.bytes.length === size : size(frame.bytes.length);
  if (!ok) throw new CtiDecodeError(`${what} has ${frame.bytes.length} bytes${typeof size === 'number' ? `, expected ${size}` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// LOGIN (0xEEAB0001): request 86 bytes; feedback 8678 + picture

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

// ---------------------------------------------------------------------------------------------
// CONNECT (0xEEAB0002): request 58, feedback 62

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

// ---------------------------------------------------------------------------------------------
// GET_CHANNELS_INFO (0xEEAB0003): request 62; feedback 24 + records + 2

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

// ---------------------------------------------------------------------------------------------
// ASSIGN_SCHEDULE (0xBB210001): request 671

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

// ---------------------------------------------------------------------------------------------
// START_SCHEDULE (0xBB320004): request 170 + 2N

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

// ---------------------------------------------------------------------------------------------
// STOP_SCHEDULE (0xBB310001) and RESUME_SCHEDULE (0xBB310002): request 128

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

// ---------------------------------------------------------------------------------------------
// SET_MV_VALUE (0xBB150001): request 74

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

// ---------------------------------------------------------------------------------------------
// The common 128-byte feedback (ASSIGN, START, STOP, SET_MV, RESUME, CONTINUE, JUMP)

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

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
// Channel status codes (i16 at record offset 4)

/** Status names as labwire reports them (`ch3.status=charge`), indexed by code. */
export const CHANNEL_STATUS = [
  'idle',
  'transition',
  'charge',
  'discharge',
  'rest',
  'wait',
  'external_charge',
  'calibration',
  'unsafe',
  'pulse',
  'internal_resistance',
  'ac_impedance',
  'aci_cell',
  'test_settings',
  'error',
  'finished',
  'volt_meter',
  'waiting_for_acs',
  'pause',
  'empty',
  'idle_from_mcu',
  'start',
  'running',
  'step_transfer',
  'resume',
  'go_pause',
  'go_stop',
  'go_next_step',
  'online_update',
  'daq_memory_unsafe',
  'acr',
] as const;
export type ChannelStatusName = (typeof CHANNEL_STATUS)[number] | 'unknown';

/** The vendor's wording, for people. */
export const CHANNEL_STATUS_TEXT: readonly string[] = [
  'Idle',
  'Transition',
  'Charge',
  'Discharge',
  'Rest',
  'Wait',
  'External Charge',
  'Calibration',
  'Unsafe',
  'Pulse',
  'Internal Resistance',
  'AC Impedance',
  'ACI Cell',
  'Test Settings',
  'Error',
  'Finished',
  'Volt Meter',
  'Waiting for ACS',
  'Pause',
  'Empty',
  'Idle from MCU',
  'Start',
  'Running',
  'Step Transfer',
  'Resume',
  'Go Pause',
  'Go Stop',
  'Go Next Step',
  'Online Update',
  'DAQ Memory Unsafe',
  'ACR',
];

export const STATUS = Object.fromEntries(CHANNEL_STATUS.map((name, code) => [name, code])) as Record<(typeof CHANNEL_STATUS)[number], number>;

export function statusName(code: number): ChannelStatusName {
  return CHANNEL_STATUS[code] ?? 'unknown';
}

/** Statuses that mean a channel needs a person. */
export const ALARM_STATUSES: ReadonlySet<number> = new Set([STATUS.unsafe, STATUS.error, STATUS.daq_memory_unsafe]);

/** Statuses in which a test is active (a channel that cannot take START). */
export const ACTIVE_STATUSES: ReadonlySet<number> = new Set([
  STATUS.transition,
  STATUS.charge,
  STATUS.discharge,
  STATUS.rest,
  STATUS.wait,
  STATUS.external_charge,
  STATUS.pulse,
  STATUS.internal_resistance,
  STATUS.ac_impedance,
  STATUS.aci_cell,
  STATUS.pause,
  STATUS.start,
  STATUS.running,
  STATUS.step_transfer,
  STATUS.resume,
  STATUS.go_pause,
  STATUS.go_stop,
  STATUS.go_next_step,
  STATUS.acr,
]);
