/**
 * The STA Archon network protocol as pure functions (reference/archon.md §2–§8): message ids,
 * requests and the three reply forms, KEY=VALUE bodies, FRAME, FETCH, the ACF file. Both the
 * driver and the simulator use it; it does no I/O.
 */
import type { ReplySplitter } from '../../links/types.js';

/** Parameter values are 20-bit integers on the controller. */
export const MAX_PARAM_VALUE = 0xfffff;
/** Configuration memory: lines and characters per line. */
export const MAX_CONFIG_LINES = 16_384;
export const MAX_CONFIG_LINE_CHARS = 2048;
/** Payload bytes of one binary reply block; the block on the wire has a 4-byte header in front. */
export const BLOCK_PAYLOAD = 1024;
export const BLOCK_BYTES = BLOCK_PAYLOAD + 4;
/** A text reply longer than this is no Archon reply (STATUS of a full X16 is ~5 kB). */
export const MAX_TEXT_REPLY = 64 * 1024;

/** Module type codes of SYSTEM's MODn_TYPE (vendor GUI enumeration; 19 has no recorded name). */
export const MODULE_TYPES = [
  'none', 'Driver', 'AD', 'LVBias', 'HVBias', 'Heater', 'Atlas', 'HS', 'HVXBias', 'LVXBias',
  'LVDS', 'HeaterX', 'XVBias', 'ADF', 'ADX', 'ADLN', 'DriverX', 'ADM', 'HVYBias', 'type19',
] as const;
export type ModuleType = (typeof MODULE_TYPES)[number];
export const BACKPLANE_TYPES = ['none', 'X12', 'X16'] as const;
export type BackplaneType = (typeof BACKPLANE_TYPES)[number];
/** STATUS POWER codes as words (CCDLab's names, in our snake case). */
export const POWER_STATES = ['unknown', 'not_configured', 'off', 'intermediate', 'on', 'standby'] as const;
export type PowerState = (typeof POWER_STATES)[number];

export function moduleTypeName(code: number): string {
  return MODULE_TYPES[code] ?? `type${code}`;
}

export function powerStateName(code: number): PowerState {
  return POWER_STATES[code] ?? 'unknown';
}

export function backplaneTypeName(code: number): string {
  return BACKPLANE_TYPES[code] ?? `type${code}`;
}

/** Slots of a backplane type (X12: 12, X16: 16). */
export function slotCount(backplane: string): number {
  return backplane === 'X16' ? 16 : 12;
}

// ------------------------------------------------------------------ ids, requests, replies

export function formatId(id: number): string {
  if (!Number.isInteger(id) || id < 0 || id > 0xff) throw new RangeError(`Archon message id must be 0…255, not ${id}`);
  return id.toString(16).toUpperCase().padStart(2, '0');
}

/** `>HHCOMMAND\n`. Commands are sent upper case, as the controller's words are. */
export function encodeRequest(id: number, command: string): string {
  if (/[\r\n]/.test(command)) throw new Error(`an Archon command is one line: ${JSON.stringify(command)}`);
  return `>${formatId(id)}${command}\n`;
}

export interface ParsedRequest {
  id: number;
  /** The id as sent (the simulator echoes it in upper case). */
  idText: string;
  command: string;
}

/** A request line as the controller reads it (without LF; a CR before it dropped); undefined when it is none. */
export function parseRequest(line: string): ParsedRequest | undefined {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.length < 3 || text[0] !== '>') return undefined;
  const idText = text.slice(1, 3);
  if (!/^[0-9A-Fa-f]{2}$/.test(idText)) return undefined;
  return { id: Number.parseInt(idText, 16), idText, command: text.slice(3) };
}

export function formatReply(id: number, body = ''): string {
  return `<${formatId(id)}${body}\n`;
}

export function formatFailure(id: number): string {
  return `?${formatId(id)}\n`;
}

/** One binary reply block: `<HH:` + exactly 1024 bytes (a shorter payload is zero-padded). */
export function formatBlock(id: number, payload: Uint8Array): Buffer {
  if (payload.length > BLOCK_PAYLOAD) throw new RangeError(`a block holds ${BLOCK_PAYLOAD} bytes, not ${payload.length}`);
  const out = Buffer.alloc(BLOCK_BYTES);
  out.write(`<${formatId(id)}:`, 0, 'latin1');
  out.set(payload, 4);
  return out;
}

export type ArchonReply =
  | { kind: 'ok'; id: number; body: string }
  | { kind: 'failed'; id: number }
  | { kind: 'block'; id: number; payload: Buffer };

const HEX = /^[0-9A-F]{2}$/;

/** A reply as cut by ArchonReplySplitter; throws on bytes that are no Archon reply. */
export function parseReply(reply: Buffer): ArchonReply {
  const head = reply.subarray(0, 3).toString('latin1');
  const idText = head.slice(1, 3);
  if (!HEX.test(idText)) throw new Error(`no Archon reply (bad message id): "${printable(reply)}"`);
  const id = Number.parseInt(idText, 16);
  if (head[0] === '<') {
    if (reply.length === BLOCK_BYTES && reply[3] === 0x3a) return { kind: 'block', id, payload: reply.subarray(4) };
    return { kind: 'ok', id, body: reply.subarray(3).toString('latin1').trimEnd() };
  }
  if (head[0] === '?' && reply.length === 3) return { kind: 'failed', id };
  throw new Error(`no Archon reply: "${printable(reply)}"`);
}

/** The id a reply carries, or undefined for bytes that are no reply. */
export function replyId(reply: Buffer): number | undefined {
  if (reply.length < 3 || (reply[0] !== 0x3c && reply[0] !== 0x3f)) return undefined;
  const idText = reply.subarray(1, 3).toString('latin1');
  return HEX.test(idText) ? Number.parseInt(idText, 16) : undefined;
}

function printable(bytes: Buffer): string {
  return bytes.subarray(0, 40).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
}

/**
 * Cuts the controller's byte stream into replies (reference §2.2): look at the 4th byte — LF ends a
 * bare `<HH`/`?HH`, `:` after `<HH` starts a 1028-byte binary block, anything else is a text reply
 * up to LF. Text replies come without their LF. Blocks inside one chunk are handed out as views of
 * it, not copies: a FETCH of 32 768 blocks must not copy every block twice.
 */
export class ArchonReplySplitter implements ReplySplitter {
  private partial: Buffer[] = [];
  private partialLen = 0;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let buf = chunk;
    if (this.partialLen > 0) {
      const head = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
      const need = BLOCK_BYTES - head.length;
      if (head.length >= 4 && head[0] === 0x3c && head[3] === 0x3a && chunk.length >= need) {
        // A block cut by the chunk boundary: finish it with a 1 KiB copy, then cut views of the
        // chunk itself (joining the whole chunk would copy every block of a FETCH once more).
        out.push(Buffer.concat([head, chunk.subarray(0, need)]));
        buf = chunk.subarray(need);
      } else {
        buf = Buffer.concat([head, chunk]);
      }
      this.partial = [];
      this.partialLen = 0;
    }
    let pos = 0;
    while (pos < buf.length) {
      const left = buf.length - pos;
      if (left >= 4 && buf[pos] === 0x3c && buf[pos + 3] === 0x3a) {
        if (left < BLOCK_BYTES) break;
        out.push(buf.subarray(pos, pos + BLOCK_BYTES));
        pos += BLOCK_BYTES;
        continue;
      }
      if (left < 4 && buf[pos] === 0x3c && buf.indexOf(0x0a, pos) < 0) break; // may still become a block
      const lf = buf.indexOf(0x0a, pos);
      if (lf < 0) {
        if (left > MAX_TEXT_REPLY) {
          this.reset();
          throw new Error(`a reply of more than ${MAX_TEXT_REPLY} bytes without a line end`);
        }
        break;
      }
      out.push(buf.subarray(pos, lf));
      pos = lf + 1;
    }
    if (pos < buf.length) {
      // Keep the unfinished tail as a copy: the chunk it came in may be reused by the caller.
      const tail = Buffer.from(buf.subarray(pos));
      this.partial = [tail];
      this.partialLen = tail.length;
    }
    return out;
  }

  reset(): void {
    this.partial = [];
    this.partialLen = 0;
  }

  takePartial(): Buffer {
    const bytes = Buffer.concat(this.partial);
    this.reset();
    return bytes;
  }
}

// ------------------------------------------------------------------ KEY=VALUE bodies

/** Splits a SYSTEM/STATUS/FRAME body on whitespace, each item at its first `=` (keys keep `/`). */
export function parseKeyValues(body: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of body.split(/\s+/)) {
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    out.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return out;
}

export function formatKeyValues(pairs: Iterable<readonly [string, string | number]>): string {
  const parts: string[] = [];
  for (const [k, v] of pairs) parts.push(`${k}=${v}`);
  return parts.join(' ');
}

/** CCDLab's name of a controller key: `MOD2/TEMP` → `MOD2_TEMP`. */
export function statusName(key: string): string {
  return key.replace(/\//g, '_');
}

// ------------------------------------------------------------------ FRAME

export const BUFFER_NUMBERS = [1, 2, 3] as const;
const EDGE_STAMPS = ['RETIMESTAMP', 'FETIMESTAMP', 'REATIMESTAMP', 'FEATIMESTAMP', 'REBTIMESTAMP', 'FEBTIMESTAMP'] as const;

/** The 60 keys of a FRAME reply in the controller's field-major order (reference §4.3). */
export const FRAME_KEYS: readonly string[] = (() => {
  const keys = ['TIMER', 'RBUF', 'WBUF'];
  const each = (field: string) => BUFFER_NUMBERS.map((n) => `BUF${n}${field}`);
  const pairs = (a: string, b: string) => BUFFER_NUMBERS.flatMap((n) => [`BUF${n}${a}`, `BUF${n}${b}`]);
  keys.push(...each('SAMPLE'), ...each('COMPLETE'), ...each('MODE'), ...each('BASE'), ...each('FRAME'));
  keys.push(...pairs('WIDTH', 'HEIGHT'), ...pairs('PIXELS', 'LINES'), ...pairs('RAWBLOCKS', 'RAWLINES'));
  keys.push(...each('RAWOFFSET'), ...each('TIMESTAMP'));
  for (const n of BUFFER_NUMBERS) keys.push(...EDGE_STAMPS.map((s) => `BUF${n}${s}`));
  return keys;
})();

export interface FrameBuffer {
  /** 1…3. */
  n: number;
  /** 0 = 16-bit, 1 = 32-bit samples. */
  sample: number;
  complete: boolean;
  mode: number;
  base: number;
  frame: number;
  width: number;
  height: number;
  pixels: number;
  lines: number;
  rawBlocks: number;
  rawLines: number;
  rawOffset: number;
  /** TIMER ticks (10 ns) of the frame and of the integration edges. */
  timestamp: bigint;
  reTimestamp: bigint;
  feTimestamp: bigint;
}

export interface FrameInfo {
  timer: bigint;
  /** Buffer locked for reading, 0 = none. */
  rbuf: number;
  /** Buffer being written (or last written). */
  wbuf: number;
  buffers: FrameBuffer[];
}

function hexField(kv: Map<string, string>, key: string): bigint {
  const v = kv.get(key);
  if (v === undefined || !/^[0-9A-Fa-f]{1,16}$/.test(v)) return 0n;
  return BigInt(`0x${v}`);
}

function decField(kv: Map<string, string>, key: string): number {
  const v = Number(kv.get(key));
  return Number.isFinite(v) ? v : 0;
}

/** Parses a FRAME body; keys with TIME in them are hex (sdss's rule), the rest decimal. */
export function parseFrame(body: string): FrameInfo {
  const kv = parseKeyValues(body);
  if (!kv.has('WBUF') || !kv.has('BUF1FRAME')) throw new Error('no FRAME reply: WBUF or BUF1FRAME missing');
  return {
    timer: hexField(kv, 'TIMER'),
    rbuf: decField(kv, 'RBUF'),
    wbuf: decField(kv, 'WBUF'),
    buffers: BUFFER_NUMBERS.map((n) => ({
      n,
      sample: decField(kv, `BUF${n}SAMPLE`),
      complete: decField(kv, `BUF${n}COMPLETE`) === 1,
      mode: decField(kv, `BUF${n}MODE`),
      base: decField(kv, `BUF${n}BASE`),
      frame: decField(kv, `BUF${n}FRAME`),
      width: decField(kv, `BUF${n}WIDTH`),
      height: decField(kv, `BUF${n}HEIGHT`),
      pixels: decField(kv, `BUF${n}PIXELS`),
      lines: decField(kv, `BUF${n}LINES`),
      rawBlocks: decField(kv, `BUF${n}RAWBLOCKS`),
      rawLines: decField(kv, `BUF${n}RAWLINES`),
      rawOffset: decField(kv, `BUF${n}RAWOFFSET`),
      timestamp: hexField(kv, `BUF${n}TIMESTAMP`),
      reTimestamp: hexField(kv, `BUF${n}RETIMESTAMP`),
      feTimestamp: hexField(kv, `BUF${n}FETIMESTAMP`),
    })),
  };
}

export function hex16(v: bigint): string {
  return (v & 0xffff_ffff_ffff_ffffn).toString(16).toUpperCase().padStart(16, '0');
}

/** The FRAME body of a state, all 60 keys in order (edge stamps of trigger inputs A/B are 0). */
export function formatFrame(info: FrameInfo): string {
  const values = new Map<string, string | number>([
    ['TIMER', hex16(info.timer)],
    ['RBUF', info.rbuf],
    ['WBUF', info.wbuf],
  ]);
  for (const b of info.buffers) {
    const p = `BUF${b.n}`;
    values.set(`${p}SAMPLE`, b.sample).set(`${p}COMPLETE`, b.complete ? 1 : 0).set(`${p}MODE`, b.mode);
    values.set(`${p}BASE`, b.base).set(`${p}FRAME`, b.frame).set(`${p}WIDTH`, b.width).set(`${p}HEIGHT`, b.height);
    values.set(`${p}PIXELS`, b.pixels).set(`${p}LINES`, b.lines).set(`${p}RAWBLOCKS`, b.rawBlocks).set(`${p}RAWLINES`, b.rawLines);
    values.set(`${p}RAWOFFSET`, b.rawOffset).set(`${p}TIMESTAMP`, hex16(b.timestamp));
    values.set(`${p}RETIMESTAMP`, hex16(b.reTimestamp)).set(`${p}FETIMESTAMP`, hex16(b.feTimestamp));
  }
  return FRAME_KEYS.map((k) => `${k}=${values.get(k) ?? (k.includes('TIME') ? hex16(0n) : 0)}`).join(' ');
}

/** The newest complete buffer with a frame number above `after`, or undefined. */
export function completeFrameAfter(info: FrameInfo, after: number): FrameBuffer | undefined {
  let best: FrameBuffer | undefined;
  for (const b of info.buffers) if (b.complete && b.frame > after && (!best || b.frame > best.frame)) best = b;
  return best;
}

/** Bytes of a buffer's image: WIDTH × HEIGHT × 2 (or × 4 for 32-bit samples). */
export function imageBytes(b: Pick<FrameBuffer, 'width' | 'height' | 'sample'>): number {
  return b.width * b.height * (b.sample === 1 ? 4 : 2);
}

// ------------------------------------------------------------------ FETCH

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`not a 32-bit unsigned value: ${n}`);
  return n.toString(16).toUpperCase().padStart(8, '0');
}

export function blocksFor(bytes: number): number {
  return Math.ceil(bytes / BLOCK_PAYLOAD);
}

/** `FETCHaaaaaaaabbbbbbbb`: start address and number of 1024-byte blocks, 8 upper-case hex digits each. */
export function fetchCommand(address: number, blocks: number): string {
  return `FETCH${hex8(address)}${hex8(blocks)}`;
}

export function parseFetchCommand(command: string): { address: number; blocks: number } | undefined {
  const m = /^FETCH([0-9A-Fa-f]{8})([0-9A-Fa-f]{8})$/.exec(command);
  if (!m) return undefined;
  return { address: Number.parseInt(m[1]!, 16), blocks: Number.parseInt(m[2]!, 16) };
}

// ------------------------------------------------------------------ ACF

/** One `[CONFIG]` line of an ACF, as it goes to WCONFIG: module keys with `/`, values unquoted. */
export interface ConfigLine {
  key: string;
  value: string;
}

/**
 * Reads the `[CONFIG]` section of an ACF (a Windows INI written by Qt QSettings, reference §8):
 * `\` in keys becomes `/`, double quotes around values are removed, other sections are skipped.
 * Throws with the line number on a line that is no `KEY=VALUE`.
 */
export function parseAcf(text: string): ConfigLine[] {
  const out: ConfigLine[] = [];
  let section = '';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim().toUpperCase();
      continue;
    }
    if (section !== 'CONFIG') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`ACF line ${i + 1}: "${line.slice(0, 60)}" is no KEY=VALUE`);
    const key = line.slice(0, eq).trim().replace(/\\/g, '/');
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (key.length + 1 + value.length > MAX_CONFIG_LINE_CHARS) {
      throw new Error(`ACF line ${i + 1}: ${key} is longer than the controller's ${MAX_CONFIG_LINE_CHARS} characters per line`);
    }
    out.push({ key, value });
  }
  if (out.length === 0) throw new Error('the ACF has no [CONFIG] section with KEY=VALUE lines');
  if (out.length > MAX_CONFIG_LINES) throw new Error(`the ACF has ${out.length} configuration lines; the controller holds ${MAX_CONFIG_LINES}`);
  return out;
}

/** The WCONFIG commands that upload a configuration, line numbers from 0 in 4 upper-case hex digits. */
export function wconfigCommands(config: readonly ConfigLine[]): string[] {
  return config.map((c, i) => `WCONFIG${i.toString(16).toUpperCase().padStart(4, '0')}${c.key}=${c.value}`);
}

export function parseWconfig(command: string): { line: number; key: string; value: string } | undefined {
  const m = /^WCONFIG([0-9A-Fa-f]{4})([^=]+)=(.*)$/s.exec(command);
  if (!m) return undefined;
  return { line: Number.parseInt(m[1]!, 16), key: m[2]!, value: m[3]! };
}

/** `Exposures=1` of a PARAMETERn line. */
export function parseParameter(value: string): { name: string; value: number } | undefined {
  const m = /^\s*([A-Za-z_][\w]*)\s*=\s*(\d+)\s*$/.exec(value);
  if (!m) return undefined;
  return { name: m[1]!, value: Number(m[2]) };
}

export interface Geometry {
  width: number;
  height: number;
  /** 0 = 16-bit, 1 = 32-bit. */
  sampleMode: number;
  frameMode: number;
  taps: number;
  lineCount: number;
  pixelCount: number;
}

/**
 * Image size from LINECOUNT, PIXELCOUNT, the non-empty TAPLINEn and FRAMEMODE (reference §8):
 * top/bottom → PIXELCOUNT × taps by LINECOUNT; split → PIXELCOUNT × taps/2 by 2 × LINECOUNT.
 */
export function geometryOf(config: readonly ConfigLine[]): Geometry {
  const get = (key: string): string | undefined => config.find((c) => c.key.toUpperCase() === key)?.value;
  const num = (key: string, fallback: number): number => {
    const v = Number(get(key));
    return Number.isFinite(v) && get(key) !== undefined && get(key) !== '' ? v : fallback;
  };
  const tapLines = num('TAPLINES', 0);
  let taps = 0;
  for (let i = 0; i < tapLines; i += 1) if ((get(`TAPLINE${i}`) ?? '').trim() !== '') taps += 1;
  taps = Math.max(taps, 1);
  const lineCount = num('LINECOUNT', 0);
  const pixelCount = num('PIXELCOUNT', 0);
  const frameMode = num('FRAMEMODE', 0);
  const split = frameMode === 2;
  return {
    width: split ? pixelCount * Math.max(1, Math.floor(taps / 2)) : pixelCount * taps,
    height: split ? 2 * lineCount : lineCount,
    sampleMode: num('SAMPLEMODE', 0),
    frameMode,
    taps,
    lineCount,
    pixelCount,
  };
}
