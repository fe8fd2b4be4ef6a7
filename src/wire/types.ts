/**
 * Types of the labwire line protocol (PROTOCOL.md). Shared by the daemon, the client, the monitor
 * and the CLI; this file has no runtime code.
 */

/**
 * One parsed line. `kwargs` is a null-prototype record so that a key such as `__proto__` typed by
 * a peer is plain data. Positional arguments and keyword arguments are kept apart; their relative
 * order on the wire carries no meaning, so formatting writes positionals first.
 */
export interface Command {
  /** The first token that is not a keyword argument; null only for an empty line or a line of kwargs only. */
  name: string | null;
  args: string[];
  kwargs: Record<string, string>;
}

/** A value as a daemon reports it. `null` is a missing reading and goes on the wire as `nan`. */
export type WireValue = string | number | boolean | null;

/** Error codes of PROTOCOL.md, after SECoP's error classes. */
export const ERROR_CODES = [
  'ProtocolError',
  'LineTooLong',
  'NoSuchCommand',
  'NoSuchParameter',
  'WrongType',
  'RangeError',
  'ReadOnly',
  'Unauthorized',
  'RateLimited',
  'IsBusy',
  'Disabled',
  'HardwareError',
  'CommunicationFailed',
  'Timeout',
  'InternalError',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * An error that travels to the peer that caused it: `error <command> code=<code> message="..."`.
 * The message is meant for a person and should say what to do ("setpoint 55 °C is above the
 * FL1703 limit of 40 °C").
 */
export class LabwireError extends Error {
  readonly code: ErrorCode;
  /** The command the error answers; `-` when the line could not be parsed. */
  readonly command: string;

  constructor(code: ErrorCode, message: string, command = '-') {
    super(message);
    this.name = 'LabwireError';
    this.code = code;
    this.command = command;
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s);
}

/** What the framer hands on: a decoded line, a protocol problem, or a block of raw bytes. */
export type Frame =
  | { kind: 'line'; text: string }
  | { kind: 'error'; code: 'LineTooLong' | 'ProtocolError'; message: string }
  | { kind: 'binary'; data: Buffer };

/** A reply as a client sees it: the line, its parsed form, and the raw bytes a `binary` reply announced. */
export interface Reply {
  line: string;
  command: Command;
  binary?: Buffer;
}

export type ValueType = 'float' | 'int' | 'bool' | 'enum' | 'string';

/**
 * Type and limits of one value — a parameter or a command argument — as a device declares it and
 * as `describe` reports it.
 */
export interface ValueDescription {
  type: ValueType;
  description: string;
  unit?: string;
  /** Limits; a device declares its class limits, site config may only tighten them. */
  min?: number;
  max?: number;
  /** Members of an enum. */
  values?: readonly string[];
  /** Arguments only: may be left out. */
  optional?: boolean;
}

export interface ParamDescription extends ValueDescription {
  readonly: boolean;
  /** Changes smaller than this are noise: a hint for archives. */
  deadband?: number;
  /**
   * A key value of the device (what says how it is doing: a temperature and its setpoint), shown
   * first in overviews. Optional and only ever `true`: peers that do not send it (CCDLab) are fine.
   */
  key?: true;
  /** Present on targets: the parameter that follows this one and when it counts as reached. */
  target?: { of: string; tolerance: number; settleMs: number };
  /**
   * Where a page shows the parameter (a channel, a loop); optional. Without it a page groups by
   * the name's prefix before the first '.' (`chA.temperature` → `chA`).
   */
  group?: string;
}

/** The JSON document of a `describe` reply. Parameters are listed in status order. */
export interface DescribeDoc {
  name: string;
  type: string;
  title: string;
  protocol: 'labwire/1';
  version: string;
  readOnly: boolean;
  params: Record<string, ParamDescription>;
  /** `binary`: the command answers with a binary block (`binary <kind> size=<n>` and the bytes), not a line. */
  commands: Record<string, { description: string; write: boolean; args: Record<string, ValueDescription>; binary?: true }>;
}

/** The JSON document of a `get_status format=json` reply. */
export interface StatusDoc {
  name: string;
  /** Unix ms when the reply was made. */
  t: number;
  /** Numbers as JSON numbers (a missing reading as null), booleans as true/false. */
  values: Record<string, string | number | boolean | null>;
  units: Record<string, string>;
  /** Unix ms of each parameter's last refresh. */
  ts: Record<string, number>;
}

