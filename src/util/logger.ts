/**
 * The one logger factory: JSON lines in production, pretty output when a person watches a
 * terminal. Library code receives a Logger and never writes to the console itself.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Force pretty (true) or JSON (false); default: pretty when stderr is a TTY. */
  pretty?: boolean;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LABWIRE_LOG_LEVEL ?? 'info';
  const pretty = options.pretty ?? (process.stderr.isTTY === true && process.env.LABWIRE_LOG_FORMAT !== 'json');
  const base = { level, name: options.name };
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(base, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything, for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
