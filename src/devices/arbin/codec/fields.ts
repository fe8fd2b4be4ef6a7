/** Field helpers: 1-based channels vs 0-based wire indices, fixed-width text, f32 values. */
import { LabwireError } from '../../../wire/types.js';

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
