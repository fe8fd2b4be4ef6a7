/**
 * CTI framing: every message is a little-endian packed frame
 *
 *     DD DD DD DD DD DD DD 11 | dwLen u32 | dwCmd u32 | dwCmd_Extend u32 (0) | args | checksum u16
 *
 * The length rule is asymmetric: a request's dwLen counts the bytes after the field (total − 12),
 * a feedback's counts the whole frame (total). The checksum is the byte sum of everything before
 * it, modulo 65536.
 */
import { commandName } from './commands.js';

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

/** The command named in a frame's header, for messages about a broken frame. */
export function commandNameAt(bytes: Buffer): string {
  return bytes.length >= 16 ? commandName(bytes.readUInt32LE(12)) : 'no command code';
}

export function hex16(v: number): string {
  return `0x${v.toString(16).toUpperCase().padStart(4, '0')}`;
}

export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}


/** Checks a decoded frame's command code and size before a message decoder reads its fields. */
export function expectSize(frame: CtiFrame, cmd: number, size: number | ((n: number) => boolean), what: string): void {
  if (frame.cmd >>> 0 !== cmd >>> 0) throw new CtiDecodeError(`expected ${commandName(cmd)}, got ${commandName(frame.cmd)}`);
  const ok = typeof size === 'number' ? frame.bytes.length === size : size(frame.bytes.length);
  if (!ok) throw new CtiDecodeError(`${what} has ${frame.bytes.length} bytes${typeof size === 'number' ? `, expected ${size}` : ''}`);
}
