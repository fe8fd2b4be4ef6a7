/**
 * IEEE-488.2 common commands for both sides. The simulator side: the status registers (event
 * status, its enable, service request enable, the status byte) and the `*` commands as tree
 * declarations, plus `SYSTem:ERRor[:NEXT]?` / `:COUNt?` on the error queue. The driver side: the
 * request texts and parsers of their replies.
 */
import { parseNumericParam } from './codec.js';
import { ErrorQueue, ScpiError, esrBitFor, parseErrorReply } from './errors.js';
import type { ScpiCommandSpec } from './tree.js';

/** Bits of the standard event status register (`*ESR?`). */
export const ESR = { operationComplete: 0, requestControl: 1, queryError: 2, deviceError: 3, executionError: 4, commandError: 5, userRequest: 6, powerOn: 7 } as const;
/** Bits of the status byte (`*STB?`, a serial poll). */
export const STB = { errorAvailable: 2, questionable: 3, messageAvailable: 4, eventSummary: 5, requestService: 6, operation: 7 } as const;

/**
 * The status model an SCPI instrument keeps: the error queue, ESR with its enable mask, SRE.
 * Give `error` to the tree's `onError` so failures land in the queue and set CME/EXE/DDE/QYE.
 */
export class ScpiStatus {
  esr = 0;
  ese = 0;
  sre = 0;
  readonly errors: ErrorQueue;

  constructor(options: { queueCapacity?: number; signedErrors?: boolean; powerOn?: boolean } = {}) {
    this.errors = new ErrorQueue(options.queueCapacity ?? 10, options.signedErrors ?? false);
    if (options.powerOn ?? false) this.esr |= 1 << ESR.powerOn;
  }

  /** Queues an error and sets its event bit. */
  readonly error = (error: ScpiError): void => {
    this.errors.push(error);
    const bit = esrBitFor(error.code);
    if (bit !== undefined) this.esr |= 1 << bit;
  };

  /** `*ESR?`: reads and clears the event register. */
  readEsr(): number {
    const value = this.esr;
    this.esr = 0;
    return value;
  }

  /** `*STB?`; `messageAvailable` is the output buffer's state, which the bus side knows. */
  statusByte(messageAvailable = false, extraBits = 0): number {
    let stb = extraBits & ~((1 << STB.requestService) | (1 << STB.eventSummary) | (1 << STB.errorAvailable) | (1 << STB.messageAvailable));
    if (this.errors.count > 0) stb |= 1 << STB.errorAvailable;
    if (messageAvailable) stb |= 1 << STB.messageAvailable;
    if ((this.esr & this.ese) !== 0) stb |= 1 << STB.eventSummary;
    if ((stb & this.sre & ~(1 << STB.requestService)) !== 0) stb |= 1 << STB.requestService;
    return stb;
  }

  /** `*CLS`: the event register and the error queue. */
  clear(): void {
    this.esr = 0;
    this.errors.clear();
  }
}

export interface CommonCommandOptions {
  status: ScpiStatus;
  /** The `*IDN?` answer (`KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,C01`). */
  idn: () => string;
  /** `*RST`: the instrument's reset state (the status registers are not part of it). */
  reset?: () => void;
  /** `*TST?`: 0 means passed. */
  selfTest?: () => number;
  /** For `*STB?`: whether output waits to be read. */
  messageAvailable?: () => boolean;
}

const mask = { min: 0, max: 255, integer: true } as const;

/** `*IDN? *RST *CLS *ESE(?) *ESR? *SRE(?) *STB? *OPC(?) *WAI *TST?` as tree declarations. */
export function commonCommands(o: CommonCommandOptions): ScpiCommandSpec[] {
  const s = o.status;
  const setMask = (apply: (v: number) => void) => (ctx: { args: string }) => {
    const v = parseNumericParam(ctx.args, mask);
    if (v instanceof ScpiError) return v;
    apply(v);
    return true;
  };
  return [
    { header: '*IDN', query: o.idn },
    { header: '*RST', set: () => void o.reset?.() },
    { header: '*CLS', set: () => s.clear() },
    { header: '*ESE', query: () => String(s.ese), set: setMask((v) => (s.ese = v)) },
    { header: '*ESR', query: () => String(s.readEsr()) },
    { header: '*SRE', query: () => String(s.sre), set: setMask((v) => (s.sre = v & ~(1 << STB.requestService))) },
    { header: '*STB', query: () => String(s.statusByte(o.messageAvailable?.() ?? false)) },
    // Simulated instruments finish every operation before they answer, so *OPC is immediate.
    { header: '*OPC', query: () => '1', set: () => void (s.esr |= 1 << ESR.operationComplete) },
    { header: '*WAI', set: () => true },
    { header: '*TST', query: () => String(o.selfTest?.() ?? 0) },
  ];
}

/** `SYSTem:ERRor[:NEXT]?`, `SYSTem:ERRor:COUNt?`, `SYSTem:ERRor:CLEar`. */
export function errorQueueCommands(status: ScpiStatus): ScpiCommandSpec[] {
  return [
    { header: 'SYSTem:ERRor:COUNt', query: () => String(status.errors.count) },
    { header: 'SYSTem:ERRor:CLEar', set: () => status.errors.clear() },
    { header: 'SYSTem:ERRor[:NEXT]', query: () => status.errors.nextFormatted() },
  ];
}

// ---------------------------------------------------------------- driver side

/** Requests of the common commands, as a driver sends them. */
export const COMMON = {
  identify: '*IDN?',
  reset: '*RST',
  clear: '*CLS',
  operationComplete: '*OPC?',
  eventStatus: '*ESR?',
  statusByte: '*STB?',
  nextError: 'SYST:ERR?',
  errorCount: 'SYST:ERR:COUN?',
} as const;

/** The four fields of an `*IDN?` answer. */
export interface Identity {
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
}

/** `Cryo-con,24C,204683,1.01A` → its fields; undefined unless there are exactly four. */
export function parseIdn(reply: string): Identity | undefined {
  const fields = reply.trim().split(',');
  if (fields.length !== 4 || fields[0]!.trim() === '') return undefined;
  const [manufacturer, model, serial, firmware] = fields.map((f) => f.trim()) as [string, string, string, string];
  return { manufacturer, model, serial, firmware };
}

/** `*OPC?` answers `1`. */
export function isOpcReply(reply: string): boolean {
  return reply.trim() === '1';
}

/** An 8-bit register answer (`*ESR?`, `*STB?`); undefined for anything else. */
export function parseRegister(reply: string): number | undefined {
  const t = reply.trim();
  if (!/^\+?\d{1,3}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= 255 ? n : undefined;
}

/** A `SYST:ERR?` answer; `0,"No error"` parses to code 0. */
export { parseErrorReply };
