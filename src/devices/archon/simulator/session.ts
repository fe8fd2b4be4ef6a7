/**
 * One client connection of the simulated controller: LF-terminated request lines (a CR before
 * the LF dropped, lines not starting with `>HH` ignored), replies with the id in upper case, and
 * FETCH streamed as `<HH:` + 1024-byte blocks at the configured rate. The controller's single CPU
 * answers nothing else while it streams, on any connection: requests that arrive meanwhile wait
 * and are answered after the last block, in order.
 */
import type { SimClient, SimSession } from '../../../links/sim-host.js';
import { BLOCK_BYTES, BLOCK_PAYLOAD, formatFailure, formatReply, parseRequest } from '../codec.js';
import { LineSession, garbleText } from '../../kits/sim/index.js';
import type { Outcome } from './controller.js';
import type { SimBuffer } from './buffers.js';

/** Longest request kept: a WCONFIG of 2 048 characters plus its command and id, with room to spare. */
export const MAX_REQUEST_CHARS = 4096;
/** Requests kept waiting behind a FETCH, by count and by characters; more are lost (a client flooding a streaming controller). */
const MAX_QUEUED = 4096;
const MAX_QUEUED_CHARS = 1024 * 1024;
/** Blocks written to the socket at once. */
const CHUNK_BLOCKS = 64;
/** Bytes the socket may hold unsent before the stream waits for it to drain. */
const HIGH_WATER = 4 * 1024 * 1024;

export interface SessionHooks {
  /** Answers one command; `undefined` when the simulator hears nothing (a fault). */
  execute(command: string): Outcome;
  read(buffer: SimBuffer, offset: number, bytes: number): Buffer;
  deaf(): boolean;
  /** Whether this text reply is to be garbled (the garble fault). */
  garble(): boolean;
  /** FETCH rate, bytes per wall-clock ms; 0 = unlimited. */
  bytesPerMs(): number;
  /** When a FETCH starts: the block after which the connection drops (the dropMidFetch fault), or undefined. */
  dropAfter(blocks: number): number | undefined;
  /** Some connection is streaming a FETCH: the controller's one CPU answers nobody else meanwhile. */
  busy(): boolean;
  /** A FETCH of this connection starts or ends (the simulator then resumes every connection). */
  streaming(active: boolean): void;
  /** REBOOT/WARMBOOT/APPLYNET: the simulator drops every client and restarts. */
  restart(kind: 'reboot' | 'warmboot' | 'none', session: ArchonSession): void;
  transcript(request: string, reply: string | undefined): void;
  onClose(session: ArchonSession): void;
}

export class ArchonSession implements SimSession {
  private readonly lines: LineSession;
  private readonly queue: string[] = [];
  private queuedChars = 0;
  private streaming = false;
  closed = false;
  /** Blocks sent by FETCHes of this connection. */
  blocksSent = 0;

  constructor(
    readonly client: SimClient,
    private readonly hooks: SessionHooks,
  ) {
    this.lines = new LineSession(client, {
      terminators: '\n',
      replyTerminator: '',
      maxLineChars: MAX_REQUEST_CHARS,
      stripTrailingCr: true,
      deaf: () => hooks.deaf(),
      onLine: (line) => this.arrive(line),
    });
  }

  receive(chunk: Buffer): void {
    this.lines.receive(chunk);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lines.close();
    this.queue.length = 0;
    this.queuedChars = 0;
    this.hooks.onClose(this);
  }

  /** Closes the connection from the controller's side. */
  drop(): void {
    this.client.socket?.destroy();
    this.close();
  }

  private arrive(line: string): void {
    if (this.streaming || this.hooks.busy() || this.queue.length > 0) {
      if (this.queue.length < MAX_QUEUED && this.queuedChars + line.length <= MAX_QUEUED_CHARS) {
        this.queue.push(line);
        this.queuedChars += line.length;
      }
      return;
    }
    this.handle(line);
  }

  private handle(line: string): void {
    const request = parseRequest(line);
    if (!request) return;
    const outcome = this.hooks.execute(request.command);
    const id = request.id;
    switch (outcome.kind) {
      case 'silent':
        this.hooks.transcript(line, undefined);
        return;
      case 'reply':
        this.sendText(line, formatReply(id, outcome.body));
        return;
      case 'fail':
        this.sendText(line, formatFailure(id));
        return;
      case 'close':
        this.hooks.transcript(line, undefined);
        this.hooks.restart(outcome.restart, this);
        return;
      case 'fetch':
        this.hooks.transcript(line, `<${request.idText.toUpperCase()}: × ${outcome.blocks}`);
        this.streaming = true;
        this.hooks.streaming(true);
        void this.stream(id, outcome.buffer, outcome.offset, outcome.blocks).finally(() => {
          this.streaming = false;
          this.hooks.streaming(false);
        });
    }
  }

  private sendText(request: string, reply: string): void {
    const text = reply.slice(0, -1);
    const out = this.hooks.garble() ? garbleText(text) : text;
    this.hooks.transcript(request, out);
    this.client.write(Buffer.from(`${out}\n`, 'latin1'));
  }

  /** Answers what waited behind a FETCH, in order, until this or another connection streams again. */
  resume(): void {
    while (!this.streaming && !this.hooks.busy() && !this.closed && this.queue.length > 0) {
      const line = this.queue.shift()!;
      this.queuedChars -= line.length;
      this.handle(line);
    }
  }

  private async stream(id: number, buffer: SimBuffer, offset: number, blocks: number): Promise<void> {
    const header = Buffer.from(formatReply(id, ':').slice(0, 4), 'latin1');
    const dropAt = this.hooks.dropAfter(blocks);
    const started = performance.now();
    let sent = 0;
    while (sent < blocks && !this.closed) {
      const n = Math.min(CHUNK_BLOCKS, blocks - sent, dropAt !== undefined ? Math.max(1, dropAt - sent) : Infinity);
      const payload = this.hooks.read(buffer, offset + sent * BLOCK_PAYLOAD, n * BLOCK_PAYLOAD);
      const chunk = Buffer.allocUnsafe(n * BLOCK_BYTES);
      for (let i = 0; i < n; i++) {
        header.copy(chunk, i * BLOCK_BYTES);
        payload.copy(chunk, i * BLOCK_BYTES + 4, i * BLOCK_PAYLOAD, (i + 1) * BLOCK_PAYLOAD);
      }
      this.client.write(chunk);
      sent += n;
      this.blocksSent += n;
      if (dropAt !== undefined && sent >= dropAt) {
        this.drop();
        return;
      }
      await this.pace(started, sent * BLOCK_BYTES);
    }
  }

  /** Waits until `bytes` may have left at the configured rate and the socket has room. */
  private async pace(started: number, bytes: number): Promise<void> {
    const rate = this.hooks.bytesPerMs();
    const socket = this.client.socket;
    if (socket && !socket.destroyed && socket.writableLength > HIGH_WATER) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
    const wait = rate > 0 ? started + bytes / rate - performance.now() : 0;
    // Even unlimited, let the event loop breathe between chunks: the engine and other clients go on.
    await new Promise<void>((resolve) => (wait >= 1 ? setTimeout(resolve, wait) : setImmediate(resolve)));
  }
}
