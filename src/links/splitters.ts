/**
 * ReplySplitters for the common framings. Devices deliver replies in arbitrary pieces (a serial
 * driver hands over a few bytes at a time, TCP may coalesce two replies into one chunk), so every
 * splitter keeps the unfinished tail between pushes.
 */
import type { ReplySplitter } from './types.js';

/** Thrown by a splitter's `push` when a reply exceeds the configured maximum length. */
export class ReplyTooLongError extends Error {
  readonly maxLength: number;
  constructor(maxLength: number) {
    super(`reply longer than ${maxLength} bytes discarded`);
    this.name = 'ReplyTooLongError';
    this.maxLength = maxLength;
  }
}

export interface LineSplitterOptions {
  /** Byte sequences that end a reply (UTF-8 encoded). Default `['\n']`. */
  terminators?: string[];
  /** Drop one trailing `\r` from each reply, so CR LF and LF replies look alike. Default true. */
  stripCR?: boolean;
  /** Longest reply in bytes, without its terminator. Default 64 KiB. */
  maxLength?: number;
  /** Drop empty replies (e.g. the blank line between CR and LF when both are terminators). Default false. */
  skipEmpty?: boolean;
}

export interface LineSplitter extends ReplySplitter {
  takePartial(): Buffer;
  /** How many overlong replies were discarded since creation. */
  readonly overflows: number;
}

const EMPTY = Buffer.alloc(0);
const CR = 0x0d;

/**
 * Splits at any of the terminators (the earliest match wins; at the same position the longest).
 *
 * A reply longer than `maxLength` is discarded up to and including its terminator, and `push`
 * throws a ReplyTooLongError the moment the limit is crossed, once per overlong reply; replies
 * completed earlier in the same chunk are dropped with it. The Exchange turns that throw into a
 * CommunicationFailed error for the request in flight plus a resync, which is a clearer outcome
 * than a reply timeout caused by a line that never ends.
 */
export function lineSplitter(options: LineSplitterOptions = {}): LineSplitter {
  const terminators = (options.terminators ?? ['\n']).map((t) => Buffer.from(t, 'utf8'));
  if (terminators.length === 0 || terminators.some((t) => t.length === 0)) {
    throw new Error('lineSplitter: terminators must be non-empty strings, e.g. ["\\n"]');
  }
  const stripCR = options.stripCR ?? true;
  const maxLength = options.maxLength ?? 64 * 1024;
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`lineSplitter: maxLength must be a positive integer, got ${maxLength}`);
  const skipEmpty = options.skipEmpty ?? false;
  const longestTerminator = Math.max(...terminators.map((t) => t.length));
  // A stripped CR and a terminator split across chunks may sit beyond maxLength without the
  // reply itself being too long.
  const holdLimit = maxLength + (stripCR ? 1 : 0) + longestTerminator - 1;

  let buffer: Buffer = EMPTY;
  let scanFrom = 0;
  let discarding = false;
  let overflows = 0;

  function findTerminator(): { index: number; length: number } | undefined {
    let best: { index: number; length: number } | undefined;
    for (const t of terminators) {
      const index = buffer.indexOf(t, scanFrom);
      if (index < 0) continue;
      if (!best || index < best.index || (index === best.index && t.length > best.length)) best = { index, length: t.length };
    }
    return best;
  }

  return {
    get overflows() {
      return overflows;
    },
    push(chunk: Buffer): Buffer[] {
      if (chunk.length === 0) return [];
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      const replies: Buffer[] = [];
      let overflowed = false;
      for (;;) {
        const hit = findTerminator();
        if (!hit) break;
        let reply = buffer.subarray(0, hit.index);
        buffer = buffer.subarray(hit.index + hit.length);
        scanFrom = 0;
        if (discarding) {
          discarding = false;
          continue;
        }
        if (stripCR && reply.length > 0 && reply[reply.length - 1] === CR) reply = reply.subarray(0, -1);
        if (reply.length > maxLength) {
          overflows += 1;
          overflowed = true;
          continue;
        }
        if (skipEmpty && reply.length === 0) continue;
        // Copy: a subarray would pin the whole (possibly large) chunk for as long as the reply lives.
        replies.push(Buffer.from(reply));
      }
      if (buffer.length > holdLimit) {
        // Keep only what could be the start of a terminator; the rest belongs to an overlong reply.
        buffer = Buffer.from(buffer.subarray(buffer.length - (longestTerminator - 1)));
        if (!discarding) {
          discarding = true;
          overflows += 1;
          overflowed = true;
        }
      }
      scanFrom = Math.max(0, buffer.length - (longestTerminator - 1));
      if (buffer.length === 0) buffer = EMPTY;
      if (overflowed) throw new ReplyTooLongError(maxLength);
      return replies;
    },
    reset(): void {
      buffer = EMPTY;
      scanFrom = 0;
      discarding = false;
    },
    takePartial(): Buffer {
      const partial = discarding ? EMPTY : Buffer.from(buffer);
      buffer = EMPTY;
      scanFrom = 0;
      discarding = false;
      return partial;
    },
  };
}

/** Replies of exactly `length` bytes each (binary protocols with fixed-size answers). */
export function fixedLengthSplitter(length: number): ReplySplitter & { takePartial(): Buffer } {
  if (!Number.isInteger(length) || length < 1) throw new Error(`fixedLengthSplitter: length must be a positive integer, got ${length}`);
  let buffer: Buffer = EMPTY;
  return {
    push(chunk: Buffer): Buffer[] {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      const replies: Buffer[] = [];
      while (buffer.length >= length) {
        replies.push(Buffer.from(buffer.subarray(0, length)));
        buffer = buffer.subarray(length);
      }
      if (buffer.length === 0) buffer = EMPTY;
      return replies;
    },
    reset(): void {
      buffer = EMPTY;
    },
    takePartial(): Buffer {
      const partial = Buffer.from(buffer);
      buffer = EMPTY;
      return partial;
    },
  };
}
