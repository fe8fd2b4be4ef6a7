/**
 * The WebSocket variant of SECoP (reference §2): a connection whose first bytes are `GET /` is an
 * HTTP upgrade (RFC 6455), after which every SECoP message is one TEXT frame. Only what a SECoP
 * node needs: the handshake, unfragmented or fragmented text frames from the client (masked, as
 * RFC 6455 requires), ping/pong and close; messages are bounded, so nothing grows without limit.
 */
import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The longest upgrade request head the node reads. */
export const MAX_HANDSHAKE_BYTES = 8 * 1024;

export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}${GUID}`).digest('base64');
}

/** The HTTP response to an upgrade request head (up to and without the blank line). */
export function handshakeResponse(head: string): { ok: boolean; response: string } {
  const lines = head.split('\r\n');
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  const key = headers.get('sec-websocket-key');
  const upgrade = headers.get('upgrade')?.toLowerCase();
  if (!/^GET \/\S* HTTP\/1\.1$/.test(lines[0] ?? '') || upgrade !== 'websocket' || !key) {
    const text = 'this is a SECoP node: send SECoP lines over TCP, or a WebSocket upgrade (GET / with Upgrade: websocket)\n';
    return { ok: false, response: `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}` };
  }
  return { ok: true, response: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n` };
}

/** One frame, unmasked (the server's direction; `mask` for a client). */
export function encodeFrame(opcode: number, payload: Buffer, mask?: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = len;
  else if (len < 65536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  head[1] = head[1]! | 0x80;
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

export interface WsMessage {
  opcode: number;
  data: Buffer;
}

export class WsError extends Error {
  constructor(
    /** The close code to send (1002 protocol error, 1009 too big). */
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Frames in, whole messages out; holds at most one frame head and `maxMessage` bytes. */
export class WsDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentOp = 0;

  constructor(
    private readonly maxMessage: number,
    /** Client frames must be masked; a client's decoder of server frames says false. */
    private readonly requireMask = true,
  ) {}

  /** Bytes held for a frame not yet whole and the fragments of an unfinished message. */
  get heldBytes(): number {
    return this.buf.length + this.fragmentBytes;
  }

  push(chunk: Buffer): WsMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: WsMessage[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return out;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return out;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return out;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(this.maxMessage)) throw new WsError(1009, `a WebSocket frame of ${big} bytes: messages are limited to ${this.maxMessage}`);
        len = Number(big);
        off = 10;
      }
      if (this.requireMask && !masked) throw new WsError(1002, 'client frames must be masked (RFC 6455 §5.1)');
      if (len > this.maxMessage || this.fragmentBytes + len > this.maxMessage) throw new WsError(1009, `a WebSocket message over ${this.maxMessage} bytes`);
      const maskLen = masked ? 4 : 0;
      if (b.length < off + maskLen + len) return out;
      const payload = Buffer.from(b.subarray(off + maskLen, off + maskLen + len));
      if (masked) {
        const mask = b.subarray(off, off + 4);
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
      }
      this.buf = b.subarray(off + maskLen + len);
      if (opcode >= 8) {
        if (!fin || len > 125) throw new WsError(1002, 'a control frame must be whole and at most 125 bytes');
        out.push({ opcode, data: payload });
        continue;
      }
      if (opcode === OP.continuation) {
        if (this.fragments.length === 0) throw new WsError(1002, 'a continuation frame without a message to continue');
      } else {
        if (this.fragments.length > 0) throw new WsError(1002, 'a new message before the last one was finished');
        if (opcode !== OP.text && opcode !== OP.binary) throw new WsError(1002, `unknown WebSocket opcode ${opcode}`);
        this.fragmentOp = opcode;
      }
      this.fragments.push(payload);
      this.fragmentBytes += len;
      if (fin) {
        out.push({ opcode: this.fragmentOp, data: Buffer.concat(this.fragments) });
        this.fragments = [];
        this.fragmentBytes = 0;
      }
    }
  }
}
