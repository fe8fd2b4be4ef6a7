/**
 * The Prologix GPIB-ETHERNET host protocol as pure functions (reference/prologix-gpib.md §2–§4):
 * escaping of instrument data, `++` command lines, the adapter's line assembler, and the framing
 * of what the adapter sends back. No I/O; the bus (bus.ts) and the simulator share these.
 */

export const ESC = 0x1b;
export const CR = 0x0d;
export const LF = 0x0a;
export const PLUS = 0x2b;

/** Primary GPIB addresses an instrument may have (0 is usually the controller itself). */
export const MIN_ADDRESS = 0;
export const MAX_ADDRESS = 30;

/** `++read_tmo_ms` accepts 1–3000 ms. */
export const MIN_READ_TMO_MS = 1;
export const MAX_READ_TMO_MS = 3000;

/** `++eos`: what the adapter appends to data sent to the instrument. */
export const EOS_BYTES: Readonly<Record<number, Buffer>> = {
  0: Buffer.from('\r\n'),
  1: Buffer.from('\r'),
  2: Buffer.from('\n'),
  3: Buffer.alloc(0),
};

export const UNRECOGNIZED = 'Unrecognized command';

export function isAddress(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_ADDRESS && n <= MAX_ADDRESS;
}

/**
 * Instrument data as the adapter must receive it: CR, LF, ESC and `+` each prefixed with ESC, so
 * that they reach the instrument literally and data that starts with `++` is never taken for an
 * adapter command. The host line terminator is not included.
 */
export function escapeData(data: Buffer): Buffer {
  let extra = 0;
  for (const b of data) if (b === CR || b === LF || b === ESC || b === PLUS) extra += 1;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let j = 0;
  for (const b of data) {
    if (b === CR || b === LF || b === ESC || b === PLUS) out[j++] = ESC;
    out[j++] = b;
  }
  return out;
}

/**
 * One instrument message for the wire: its final terminator dropped (the adapter ends a message
 * with EOI and its own ++eos bytes, so a family's `*IDN?\n` must not become `*IDN?\n\n`), the rest
 * escaped, then the host terminator.
 */
export function dataLine(message: Buffer): Buffer {
  // Every byte is data (a binary block may end in 0x0A): a family's own terminator is taken off
  // by its gpib:// link, where it was added, not here.
  return Buffer.concat([escapeData(message), Buffer.from('\n')]);
}

/** The message without one trailing CR LF, LF or CR. */
export function stripTerminator(message: Buffer): Buffer {
  let end = message.length;
  if (end > 0 && message[end - 1] === LF) end -= 1;
  if (end > 0 && message[end - 1] === CR) end -= 1;
  return end === message.length ? message : message.subarray(0, end);
}

/** A `++` command line with its terminator, e.g. `command('addr', 14)` → `++addr 14\n`. */
export function command(name: string, ...args: Array<string | number>): Buffer {
  return Buffer.from(`++${[name, ...args.map(String)].join(' ')}\n`, 'latin1');
}

/** One host line as the adapter's assembler delivers it. */
export type HostLine =
  | { kind: 'command'; name: string; args: string[]; raw: string }
  | { kind: 'data'; data: Buffer };

/**
 * The adapter's input side: lines end at an unescaped CR or LF; ESC makes the next byte literal.
 * A line that starts with an unescaped `++` is a command; blank lines are ignored. Pure state
 * machine, fed with whatever TCP chunks arrive.
 */
export class HostLineAssembler {
  private bytes: number[] = [];
  /** Which bytes of the line were escaped (an escaped `+` cannot start a command). */
  private escapedAt: boolean[] = [];
  private escapeNext = false;
  /** Longest line kept; beyond it the line is cut, as a small device buffer would. */
  constructor(private readonly maxLine = 65_536) {}

  push(chunk: Buffer): HostLine[] {
    const out: HostLine[] = [];
    for (const b of chunk) {
      if (this.escapeNext) {
        this.escapeNext = false;
        this.add(b, true);
      } else if (b === ESC) {
        this.escapeNext = true;
      } else if (b === CR || b === LF) {
        const line = this.finish();
        if (line) out.push(line);
      } else {
        this.add(b, false);
      }
    }
    return out;
  }

  private add(b: number, escaped: boolean): void {
    if (this.bytes.length >= this.maxLine) return;
    this.bytes.push(b);
    this.escapedAt.push(escaped);
  }

  private finish(): HostLine | undefined {
    const bytes = this.bytes;
    const escaped = this.escapedAt;
    this.bytes = [];
    this.escapedAt = [];
    if (bytes.length === 0) return undefined;
    if (bytes[0] === PLUS && bytes[1] === PLUS && !escaped[0] && !escaped[1]) {
      // An escaped byte inside a command makes the whole token unrecognised (measured): keep it visible.
      const raw = Buffer.from(bytes.slice(2)).toString('latin1');
      const bad = escaped.some((e) => e);
      const words = raw.split(' ').filter((w) => w !== '');
      return { kind: 'command', name: bad ? `\x1b${words[0] ?? ''}` : (words[0] ?? ''), args: words.slice(1), raw };
    }
    return { kind: 'data', data: Buffer.from(bytes) };
  }
}

/**
 * The version line is the bus's end-of-transaction mark: every transaction ends with `++ver`, so
 * whatever the adapter sends before that line is the instrument's reply (any bytes, CR and LF
 * included), and a read that found nothing is an empty reply rather than an unbounded wait.
 */
const VERSION_LINE = /Prologix GPIB-[A-Z0-9-]+ Controller version [0-9.]+\r\n/;

/** Everything up to and including the next version line, or undefined while none is complete. */
export function findTransactionEnd(buf: Buffer): { end: number; versionStart: number } | undefined {
  // latin1 maps byte i to char i, so string offsets are byte offsets.
  const m = VERSION_LINE.exec(buf.toString('latin1'));
  if (!m) return undefined;
  return { versionStart: m.index, end: m.index + m[0].length };
}

/** A complete transaction's bytes split into the instrument's reply and the adapter version. */
export function splitTransaction(frame: Buffer): { reply: Buffer; version: string } {
  const at = findTransactionEnd(frame);
  if (!at) return { reply: frame, version: '' };
  return { reply: frame.subarray(0, at.versionStart), version: frame.subarray(at.versionStart, at.end - 2).toString('latin1') };
}
