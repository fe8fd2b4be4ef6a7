/**
 * SCPI errors as values: the standard numbers (SCPI-99 volume 2, chapter 21) and the error queue
 * an instrument reads out with `SYSTem:ERRor?`. Shared by simulators (that fill the queue) and
 * drivers (that read it and name the error to a person).
 */

/** An error an SCPI command produced: the standard number and its text. */
export class ScpiError {
  constructor(
    readonly code: number,
    readonly message: string = SCPI_ERROR_TEXT[code] ?? 'Unknown error',
  ) {}

  /** `-113,"Undefined header"`; HP instruments print a sign on every number (`+0,"No error"`). */
  format(signed = false): string {
    const number = signed && this.code >= 0 ? `+${this.code}` : String(this.code);
    return `${number},"${this.message.replace(/"/g, '""')}"`;
  }
}

export function isScpiError(value: unknown): value is ScpiError {
  return value instanceof ScpiError;
}

/** The numbers simulators and drivers name most; the texts are the standard's. */
export const SCPI = {
  noError: 0,
  commandError: -100,
  invalidCharacter: -101,
  syntaxError: -102,
  invalidSeparator: -103,
  dataTypeError: -104,
  parameterNotAllowed: -108,
  missingParameter: -109,
  headerSeparatorError: -111,
  programMnemonicTooLong: -112,
  undefinedHeader: -113,
  headerSuffixOutOfRange: -114,
  numericDataError: -120,
  invalidSuffix: -131,
  suffixNotAllowed: -138,
  characterDataError: -140,
  invalidCharacterData: -141,
  stringDataError: -150,
  executionError: -200,
  settingsConflict: -221,
  dataOutOfRange: -222,
  tooMuchData: -223,
  illegalParameterValue: -224,
  dataCorruptOrStale: -230,
  hardwareMissing: -241,
  deviceSpecificError: -300,
  queueOverflow: -350,
  queryError: -400,
  queryInterrupted: -410,
  queryUnterminated: -420,
  queryDeadlocked: -430,
} as const;

export const SCPI_ERROR_TEXT: Readonly<Record<number, string>> = {
  0: 'No error',
  [-100]: 'Command error',
  [-101]: 'Invalid character',
  [-102]: 'Syntax error',
  [-103]: 'Invalid separator',
  [-104]: 'Data type error',
  [-108]: 'Parameter not allowed',
  [-109]: 'Missing parameter',
  [-111]: 'Header separator error',
  [-112]: 'Program mnemonic too long',
  [-113]: 'Undefined header',
  [-114]: 'Header suffix out of range',
  [-120]: 'Numeric data error',
  [-131]: 'Invalid suffix',
  [-138]: 'Suffix not allowed',
  [-140]: 'Character data error',
  [-141]: 'Invalid character data',
  [-150]: 'String data error',
  [-200]: 'Execution error',
  [-221]: 'Settings conflict',
  [-222]: 'Data out of range',
  [-223]: 'Too much data',
  [-224]: 'Illegal parameter value',
  [-230]: 'Data corrupt or stale',
  [-241]: 'Hardware missing',
  [-300]: 'Device-specific error',
  [-350]: 'Queue overflow',
  [-400]: 'Query error',
  [-410]: 'Query INTERRUPTED',
  [-420]: 'Query UNTERMINATED',
  [-430]: 'Query DEADLOCKED',
};

/** Which bit of the standard event status register an error sets (IEEE 488.2 §11.5.1). */
export function esrBitFor(code: number): number | undefined {
  if (code <= -100 && code > -200) return 5; // CME
  if (code <= -200 && code > -300) return 4; // EXE
  if ((code <= -300 && code > -400) || code > 0) return 3; // DDE
  if (code <= -400 && code > -500) return 2; // QYE
  return undefined;
}

/**
 * The instrument's error queue: first in, first out, bounded; when full, the newest entry is
 * replaced by -350 as the standard asks, so a person sees that errors were lost.
 */
export class ErrorQueue {
  private readonly entries: ScpiError[] = [];

  constructor(
    readonly capacity = 10,
    /** HP style `+0,"No error"`. */
    private readonly signed = false,
  ) {}

  push(error: ScpiError): void {
    if (this.entries.length < this.capacity) this.entries.push(error);
    else this.entries[this.capacity - 1] = new ScpiError(SCPI.queueOverflow);
  }

  /** The oldest error, removed; `0,"No error"` when empty. */
  next(): ScpiError {
    return this.entries.shift() ?? new ScpiError(SCPI.noError);
  }

  /** `SYSTem:ERRor?` as the wire shows it. */
  nextFormatted(): string {
    return this.next().format(this.signed);
  }

  get count(): number {
    return this.entries.length;
  }

  /** What is queued, oldest first, without removing it (tests, the CLI). */
  peek(): readonly ScpiError[] {
    return [...this.entries];
  }

  clear(): void {
    this.entries.length = 0;
  }
}

/** `-113,"Undefined header"` or `+0,"No error"` from an instrument; undefined for any other shape. */
export function parseErrorReply(reply: string): ScpiError | undefined {
  const m = /^\s*([+-]?\d+)\s*,\s*"((?:[^"]|"")*)"\s*$/.exec(reply);
  if (!m) return undefined;
  return new ScpiError(Number(m[1]), m[2]!.replace(/""/g, '"'));
}
