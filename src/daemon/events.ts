/** What a device runner emits: value updates, log lines, audit records. */
import type { WireValue } from '../wire/types.js';

export type LogLevel = 'info' | 'warning' | 'error' | 'success';

export interface UpdateEvent {
  t: number;
  changes: Record<string, WireValue>;
}

export interface LogEvent {
  t: number;
  level: LogLevel;
  message: string;
}

/** Who asked, for the audit trail. */
export interface Actor {
  who: string;
  peer: string;
}

export interface AuditEvent extends Actor {
  t: number;
  device: string;
  command: string;
  before: Record<string, WireValue>;
  after: Record<string, WireValue>;
  result: string;
}
