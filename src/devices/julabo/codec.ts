/**
 * Julabo FL-series RS232 protocol (manual §11): pure encoding and decoding, no I/O.
 *
 * Requests are `word[ param]` + CR; only `in…`/`version`/`status` queries are answered, with a
 * string followed by LF (the splitter strips the line end). Errors come back as `-NN TEXT`.
 */
import type { DeviceState } from '../../daemon/api.js';
import { LabwireError } from '../../wire/types.js';

export interface EncodeOptions {
  /** Terminate with CR LF instead of the manual's CR (the predecessor did; units seem to accept it). */
  crlf?: boolean;
}

/** The documented command words (manual §11.3). */
export const COMMAND_WORDS = {
  version: 'version',
  status: 'status',
  temperature: 'in_pv_00',
  setpoint: 'in_sp_00',
  mode: 'in_mode_05',
  setSetpoint: 'out_sp_00',
  setMode: 'out_mode_05',
} as const;

/** Builders for every documented command, without terminator. */
export const commands = {
  version: (): string => COMMAND_WORDS.version,
  status: (): string => COMMAND_WORDS.status,
  temperature: (): string => COMMAND_WORDS.temperature,
  setpoint: (): string => COMMAND_WORDS.setpoint,
  mode: (): string => COMMAND_WORDS.mode,
  setSetpoint: (celsius: number): string => `${COMMAND_WORDS.setSetpoint} ${formatSetpoint(celsius)}`,
  setMode: (running: boolean): string => `${COMMAND_WORDS.setMode} ${running ? '1' : '0'}`,
};

/**
 * Checks that a request line can go on a 7-bit wire as one command: printable ASCII only, so a
 * stray CR or LF cannot split it into two commands and nothing is lost to the 8th bit.
 */
export function checkRequestLine(line: string): string {
  const trimmed = line.trim();
  if (trimmed.length === 0) throw new LabwireError('WrongType', 'an empty line is not a Julabo command');
  if (!/^[\x20-\x7e]+$/.test(trimmed)) {
    throw new LabwireError(
      'WrongType',
      `Julabo commands are printable ASCII on one line; ${JSON.stringify(line)} contains other characters`,
    );
  }
  return trimmed;
}

export function encodeRequest(line: string, options: EncodeOptions = {}): Buffer {
  return Buffer.from(`${checkRequestLine(line)}${options.crlf ? '\r\n' : '\r'}`, 'latin1');
}

/** `out_…` commands are never answered (manual §11.2); everything else is a query. */
export function expectsReply(line: string): boolean {
  return !/^out_/i.test(line.trim());
}

/**
 * Formats a setpoint the way the manual writes it (`out_sp_00 15.5`): decimal point, at most two
 * decimals, no exponent, no negative zero.
 */
export function formatSetpoint(celsius: number): string {
  if (!Number.isFinite(celsius)) {
    throw new LabwireError('WrongType', `setpoint must be a finite number of °C, not ${String(celsius)}`);
  }
  if (Math.abs(celsius) >= 1e6) {
    throw new LabwireError('RangeError', `setpoint ${celsius} °C cannot be sent to a Julabo chiller`);
  }
  let text = celsius.toFixed(2);
  if (/^-0\.00$/.test(text)) text = '0.00';
  // 15.50 → 15.5 and 15.00 → 15.0, matching the manual's example.
  text = text.replace(/0$/, '');
  return text;
}

const NUMBER_RE = /^[+-]?\s*(?:\d+(?:\.\d*)?|\.\d+)$/;

/** Parses a numeric reply leniently (padding, optional sign); undefined when it is no number. */
export function parseNumber(reply: string): number | undefined {
  const text = reply.trim();
  if (!NUMBER_RE.test(text)) return undefined;
  const value = Number(text.replace(/\s+/g, ''));
  return Number.isFinite(value) ? value : undefined;
}

/** `in_mode_05` reply: `0` stop, `1` start; undefined for anything else. */
export function parseMode(reply: string): boolean | undefined {
  const text = reply.trim();
  if (!/^[+]?0*[01]$/.test(text)) return undefined;
  return text.endsWith('1');
}

/** What a status code means for the daemon's state. */
export type StatusKind = 'state' | 'alarm' | 'warning' | 'commandError' | 'unknown';

export interface StatusCodeInfo {
  code: number;
  text: string;
  kind: StatusKind;
  /** What a person should know or do, for state texts and messages. */
  meaning: string;
}

/** Status and error codes of manual §11.4–§11.5. */
export const STATUS_CODES: ReadonlyMap<number, StatusCodeInfo> = new Map(
  (
    [
      [0, 'MANUAL STOP', 'state', 'stopped, under keypad control (remote commands are refused)'],
      [1, 'MANUAL START', 'state', 'running, under keypad control (remote commands are refused)'],
      [2, 'REMOTE STOP', 'state', 'stopped, under remote control'],
      [3, 'REMOTE START', 'state', 'running, under remote control'],
      [-1, 'LOW LEVEL ALARM', 'alarm', 'bath liquid level too low: the unit has shut down; top up the bath and restart'],
      [-3, 'EXCESS TEMPERATURE WARNING', 'warning', 'return temperature at or above 82 °C; the unit keeps running'],
      [-5, 'WORKING SENSOR ALARM', 'alarm', 'Pt100 working sensor shorted or open: the unit has shut down; service needed'],
      [-7, 'I2C-BUS ERROR', 'alarm', 'internal bus error: switch the unit off and on; service if it persists'],
      [-8, 'INVALID COMMAND', 'commandError', 'the unit did not understand a command'],
      [-9, 'COMMAND NOT ALLOWED IN CURRENT OPERATING MODE', 'commandError', 'command refused: enable remote control on the unit'],
      [-10, 'VALUE TOO SMALL', 'commandError', 'a value was below the unit\'s range'],
      [-11, 'VALUE TOO LARGE', 'commandError', 'a value was above the unit\'s range'],
      [-12, 'TEMPERATURE MEASUREMENT ALARM', 'alarm', 'A/D converter error: the unit cannot measure; service needed'],
      [-14, 'EXCESS TEMPERATURE PROTECTOR ALARM', 'alarm', 'above the 85 °C cut-out: the unit has shut down'],
      [
        -20,
        'WARNING: CLEAN CONDENSOR OR CHECK COOLING WATER CIRCUIT OF REFRIGERATOR',
        'warning',
        'condenser cooling impaired: clean the condenser or check the cooling water',
      ],
    ] as const
  ).map(([code, text, kind, meaning]) => [code, { code, text, kind, meaning }]),
);

export function statusCodeInfo(code: number): StatusCodeInfo {
  const known = STATUS_CODES.get(code);
  if (known) return known;
  // Unknown codes are kept, never dropped: a negative one is an error the table does not list.
  return code < 0
    ? { code, text: '', kind: 'unknown', meaning: 'error code not in the FL manual' }
    : { code, text: '', kind: 'unknown', meaning: 'status code not in the FL manual' };
}

export interface JulaboStatus {
  code: number;
  text: string;
  /** Negative codes are errors, alarms and warnings. */
  error: boolean;
}

const STATUS_RE = /^([+-]?)\s*(\d{1,3})\s+(\S.*)$/;

/** Parses `03 REMOTE START` or `-08 INVALID COMMAND`; undefined for anything else. */
export function parseStatus(reply: string): JulaboStatus | undefined {
  const m = STATUS_RE.exec(reply.trim());
  if (!m) return undefined;
  const magnitude = Number(m[2]);
  const code = m[1] === '-' ? -magnitude : magnitude;
  // The text is required: a bare `1` or `-5` is a late reply to another query, not a status line.
  return { code, text: (m[3] ?? '').trim(), error: code < 0 };
}

export function formatStatus(code: number, text: string): string {
  const sign = code < 0 ? '-' : '';
  return `${sign}${String(Math.abs(code)).padStart(2, '0')} ${text}`;
}

/** A `-NN TEXT` reply: the device's way of reporting any error. */
export interface DeviceErrorReply {
  code: number;
  text: string;
  info: StatusCodeInfo;
}

const DEVICE_ERROR_RE = /^-\s*(\d{1,3})\s+(\S.*)$/;

/** Recognises any `-NN TEXT` reply; a plain negative number (`-5.25`) is not an error. */
export function parseDeviceError(reply: string): DeviceErrorReply | undefined {
  const m = DEVICE_ERROR_RE.exec(reply.trim());
  if (!m) return undefined;
  const code = -Number(m[1]);
  return { code, text: (m[2] ?? '').trim(), info: statusCodeInfo(code) };
}

/**
 * Turns a device error reply into the error a person sees, e.g.
 * `chiller refused setpoint 55: -11 VALUE TOO LARGE`. `what` says what was being done.
 */
export function deviceError(err: DeviceErrorReply, what: string): LabwireError {
  // A command error's text says it all, except that keypad mode needs a person at the unit.
  const silent = err.info.kind === 'unknown' || (err.info.kind === 'commandError' && err.code !== -9);
  const hint = silent ? '' : ` (${err.info.meaning})`;
  return new LabwireError('HardwareError', `${what}: ${formatStatus(err.code, err.text)}${hint}`);
}

/** Throws the device's error if the reply is one; returns the trimmed reply otherwise. */
export function checkReply(reply: string, what: string): string {
  const err = parseDeviceError(reply);
  if (err) throw deviceError(err, what);
  return reply.trim();
}

/** How a status code bears on the daemon's state; undefined for the normal remote states. */
export function stateForStatus(status: { code: number; text: string }): { state: DeviceState; text: string } | undefined {
  const info = statusCodeInfo(status.code);
  const shown = formatStatus(status.code, status.text || info.text);
  switch (info.kind) {
    case 'alarm':
      return { state: 'error', text: `chiller alarm ${shown}: ${info.meaning}` };
    case 'warning':
      return { state: 'warn', text: `chiller warning ${shown}: ${info.meaning}` };
    case 'commandError':
      return { state: 'warn', text: `chiller refused a command, ${shown}: ${info.meaning}` };
    case 'unknown':
      return status.code < 0 ? { state: 'error', text: `chiller reports ${shown}: ${info.meaning}` } : undefined;
    case 'state':
      // Keypad control is normal for the unit but means labwire cannot control it.
      return status.code === 0 || status.code === 1
        ? { state: 'warn', text: `chiller is under keypad control (${shown}): enable remote control on the unit` }
        : undefined;
  }
}

/**
 * Whether a `version` reply looks like a Julabo unit. The manual gives the form `V X.xx`; the unit
 * shows `v 1.02` and `FL1703` at power-up; other Julabo series answer `JULABO … VERSION x.x`.
 */
export function looksLikeJulaboVersion(reply: string): boolean {
  const text = reply.trim();
  if (text.length === 0 || text.length > 80 || parseDeviceError(text)) return false;
  return /julabo/i.test(text) || /\bv(?:ersion)?\s*\d+\.\d+/i.test(text);
}

/** Reply validators for RequestOptions.validate: a reply that fails one triggers a resync. */
export const validators = {
  number: (reply: Buffer): boolean => {
    const text = reply.toString('latin1');
    return parseNumber(text) !== undefined || parseDeviceError(text) !== undefined;
  },
  mode: (reply: Buffer): boolean => {
    const text = reply.toString('latin1');
    return parseMode(text) !== undefined || parseDeviceError(text) !== undefined;
  },
  status: (reply: Buffer): boolean => parseStatus(reply.toString('latin1')) !== undefined,
  version: (reply: Buffer): boolean => {
    const text = reply.toString('latin1').trim();
    if (parseDeviceError(text)) return true;
    return isVersionText(text);
  },
};

/**
 * Whether a reply can only be the answer to `version`: text that is no number (temperature,
 * setpoint, mode) and no status or error line. No other query's reply passes, so `version` serves
 * as the Exchange's resync probe.
 */
export function isVersionText(reply: string): boolean {
  const text = reply.trim();
  return text.length > 0 && /^[\x20-\x7e]+$/.test(text) && parseNumber(text) === undefined && parseStatus(text) === undefined;
}
