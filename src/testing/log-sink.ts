/** A pino logger that keeps what it logs, for tests that check a log line names the right thing. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../util/logger.js';

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface RecordingLogger {
  logger: Logger;
  records: LogRecord[];
  /** Every record as one searchable text: message and fields. */
  text(): string;
}

export function recordingLogger(level = 'info'): RecordingLogger {
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as LogRecord);
      callback();
    },
  });
  return { logger: pino({ level }, sink), records, text: () => records.map((r) => JSON.stringify(r)).join('\n') };
}
