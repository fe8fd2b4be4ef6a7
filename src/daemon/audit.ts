/**
 * The audit trail: one JSON line per state-changing command with who, from where, what, the
 * values before and after, and the result; and one summary line per interval for refusals that
 * were only counted (RefusalSummary). Appended; at its size cap the file is rotated (`audit.jsonl`
 * → `audit.jsonl.1` → `.2` ...), so a flood cannot fill the disk.
 *
 * Lines are written synchronously: the trail is small once refusals are summarised, a line is on
 * disk when the request's reply goes out, and nothing piles up in memory when the disk is slow.
 */
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { WireValue } from '../wire/types.js';
import type { AuditEvent } from './runner.js';

/** Longest text (command, result, who, string values) written to the audit trail and the log, in UTF-8 bytes. */
export const AUDIT_TEXT_LIMIT = 1024;

export const AUDIT_DEFAULTS = {
  /** Rotate when the file would grow beyond this; 0: never. */
  maxBytes: 10 * 1024 * 1024,
  /** Rotated files kept besides the current one. */
  keep: 5,
} as const;

/** A summary of refusals that were counted, not written one by one. */
export interface AuditSummary extends AuditEvent {
  /** Refused requests the line stands for. */
  count: number;
}

export interface AuditLogOptions {
  maxBytes?: number;
  keep?: number;
}

/** `text` cut to `limit` UTF-8 bytes on a character boundary, marked as cut with its full length. */
export function capText(text: string, limit = AUDIT_TEXT_LIMIT): string {
  if (text.length * 3 <= limit) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= limit) return text;
  // The decoder holds back a character cut in half instead of making a replacement character of it.
  const head = new StringDecoder('utf8').write(Buffer.from(text).subarray(0, limit));
  return `${head}… (cut: ${bytes} bytes in all)`;
}

function capValues(values: Record<string, WireValue>): Record<string, WireValue> {
  let out: Record<string, WireValue> | undefined;
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') continue;
    const cut = capText(v);
    if (cut !== v) (out ??= { ...values })[k] = cut;
  }
  return out ?? values;
}

/** An event with every text cut at AUDIT_TEXT_LIMIT: what the audit file and the log get. */
export function capAudit<E extends AuditEvent>(e: E): E {
  return { ...e, who: capText(e.who), command: capText(e.command), result: capText(e.result), before: capValues(e.before), after: capValues(e.after) };
}

export class AuditLog {
  private fd: number | undefined;
  private size: number;
  private failed = false;
  private readonly maxBytes: number;
  private readonly keep: number;

  constructor(readonly path: string, private readonly onError: (err: Error) => void, opts: AuditLogOptions = {}) {
    this.maxBytes = opts.maxBytes ?? AUDIT_DEFAULTS.maxBytes;
    this.keep = opts.keep ?? AUDIT_DEFAULTS.keep;
    // Opened synchronously so that a daemon whose audit trail cannot be written does not start.
    try {
      this.fd = fs.openSync(path, 'a');
      this.size = fs.fstatSync(this.fd).size;
    } catch (err) {
      throw new Error(`cannot open the audit log ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  write(event: AuditEvent | AuditSummary): void {
    if (this.failed || this.fd === undefined) return;
    const line = `${JSON.stringify({ ...event, time: new Date(event.t).toISOString() })}\n`;
    const bytes = Buffer.byteLength(line);
    try {
      if (this.maxBytes > 0 && this.size > 0 && this.size + bytes > this.maxBytes) this.rotate(bytes);
      fs.writeSync(this.fd, line);
      this.size += bytes;
    } catch (err) {
      this.failed = true;
      this.onError(err as Error);
    }
  }

  private rotate(bytes: number): void {
    // Someone may have truncated the file (logrotate's copytruncate): trust the file, not the count.
    this.size = fs.fstatSync(this.fd!).size;
    if (this.size === 0 || this.size + bytes <= this.maxBytes) return;
    fs.closeSync(this.fd!);
    this.fd = undefined;
    if (this.keep === 0) {
      fs.rmSync(this.path, { force: true });
    } else {
      for (let i = this.keep - 1; i >= 1; i--) {
        if (fs.existsSync(`${this.path}.${i}`)) fs.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      }
      fs.renameSync(this.path, `${this.path}.1`);
    }
    this.fd = fs.openSync(this.path, 'a');
    this.size = 0;
  }

  close(): Promise<void> {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // Closing a descriptor that failed to write: nothing more to lose.
      }
      this.fd = undefined;
    }
    return Promise.resolve();
  }
}
