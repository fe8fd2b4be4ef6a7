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
    this.stream = fs.createWriteStream(path, { flags: 'a' });
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
