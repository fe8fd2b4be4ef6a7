/**
 * The audit trail: one JSON line per state-changing command with who, from where, what, the
 * values before and after, and the result. Appended, never rewritten.
 */
import fs from 'node:fs';
import type { AuditEvent } from './runner.js';

export class AuditLog {
  private readonly stream: fs.WriteStream;
  private failed: Error | undefined;

  constructor(readonly path: string, onError: (err: Error) => void) {
    // Opened synchronously so that a daemon whose audit trail cannot be written does not start.
    let fd: number;
    try {
      fd = fs.openSync(path, 'a');
    } catch (err) {
      throw new Error(`cannot open the audit log ${path}: ${(err as Error).message}`, { cause: err });
    }
    this.stream = fs.createWriteStream(path, { fd });
    this.stream.on('error', (err) => {
      this.failed = err;
      onError(err);
    });
  }

  write(event: AuditEvent): void {
    if (this.failed) return;
    this.stream.write(`${JSON.stringify({ ...event, time: new Date(event.t).toISOString() })}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}
