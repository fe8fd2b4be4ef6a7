/**
 * A raw Archon client for the simulator's tests: a TCP socket, requests with explicit ids, and the
 * reply stream cut by the codec's splitter, so a test sees exactly what arrived and in what order.
 */
import net from 'node:net';
import { ArchonReplySplitter, parseReply, type ArchonReply } from '../codec.js';
import { eventually } from '../../../testing/eventually.js';

export class RawArchonClient {
  readonly replies: ArchonReply[] = [];
  /** Pieces that are no Archon reply (line noise). */
  readonly garbage: Buffer[] = [];
  /** Every byte received, for framing checks. */
  bytes: Buffer[] = [];
  closed = false;
  private readonly splitter = new ArchonReplySplitter();
  private nextId = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(Buffer.from(chunk));
      for (const r of this.splitter.push(chunk)) {
        try {
          this.replies.push(parseReply(Buffer.from(r)));
        } catch {
          this.garbage.push(Buffer.from(r));
        }
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawArchonClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawArchonClient(socket);
  }

  /** All bytes received so far as latin1 text. */
  get text(): string {
    return Buffer.concat(this.bytes).toString('latin1');
  }

  write(raw: string): void {
    this.socket.write(raw);
  }

  /** Sends `>HHcommand\n` with the next id; returns the id. */
  send(command: string, id = this.nextId++ & 0xff): number {
    this.socket.write(`>${id.toString(16).toUpperCase().padStart(2, '0')}${command}\n`);
    return id;
  }

  /** Waits for the first text reply (or failure) with this id and removes it (and anything before it) from the list. */
  async reply(id: number, timeoutMs = 15_000): Promise<ArchonReply> {
    return eventually(() => {
      const i = this.replies.findIndex((r) => r.id === id && r.kind !== 'block');
      if (i < 0) throw new Error(`no reply with id ${id} yet`);
      const [r] = this.replies.splice(0, i + 1).slice(-1);
      return r!;
    }, timeoutMs);
  }

  /** Sends a command and returns its reply body; throws on `?HH`. */
  async ask(command: string): Promise<string> {
    const r = await this.reply(this.send(command));
    if (r.kind !== 'ok') throw new Error(`${command} answered ${r.kind}`);
    return r.body;
  }

  /** Sends a command and expects `?HH`. */
  async askFails(command: string): Promise<void> {
    const r = await this.reply(this.send(command));
    if (r.kind !== 'failed') throw new Error(`${command} answered ${r.kind}, not ?`);
  }

  /** FETCH: waits for `blocks` blocks with the id and returns their payloads joined. */
  async fetch(address: number, blocks: number, timeoutMs = 30_000): Promise<Buffer> {
    const id = this.send(`FETCH${address.toString(16).toUpperCase().padStart(8, '0')}${blocks.toString(16).toUpperCase().padStart(8, '0')}`);
    const payloads = await eventually(() => {
      const got = this.replies.filter((r) => r.id === id && r.kind === 'block');
      if (got.length < blocks) throw new Error(`${got.length} of ${blocks} blocks`);
      return got;
    }, timeoutMs);
    for (let i = this.replies.length - 1; i >= 0; i--) if (this.replies[i]!.id === id && this.replies[i]!.kind === 'block') this.replies.splice(i, 1);
    return Buffer.concat(payloads.map((p) => (p as { payload: Buffer }).payload));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
