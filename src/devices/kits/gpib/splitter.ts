/**
 * Cuts what the adapter sends into transactions: each ends with the adapter's version line (the
 * bus ends every transaction with `++ver`, see codec.ts), so instrument replies may hold any bytes.
 */
import { ReplyTooLongError } from '../../../links/splitters.js';
import type { ReplySplitter } from '../../../links/types.js';
import { findTransactionEnd } from './codec.js';

/** Largest transaction kept (an instrument's reply plus the version line). */
export const MAX_TRANSACTION_BYTES = 1 << 20;

export function transactionSplitter(maxBytes = MAX_TRANSACTION_BYTES): ReplySplitter & { takePartial(): Buffer } {
  let buf: Buffer = Buffer.alloc(0);
  return {
    push(chunk: Buffer): Buffer[] {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const frames: Buffer[] = [];
      for (;;) {
        const at = findTransactionEnd(buf);
        if (!at) break;
        frames.push(buf.subarray(0, at.end));
        buf = buf.subarray(at.end);
      }
      if (buf.length > maxBytes) {
        buf = Buffer.alloc(0);
        throw new ReplyTooLongError(maxBytes);
      }
      return frames;
    },
    reset(): void {
      buf = Buffer.alloc(0);
    },
    takePartial(): Buffer {
      const partial = buf;
      buf = Buffer.alloc(0);
      return partial;
    },
  };
}
