/**
 * A SECoP client written from the specification only (reference/secop.md §1–§5), for the tests: it
 * frames LF lines, splits `action [SP specifier [SP data]]`, and parses data as JSON.
 */
import net from 'node:net';
import { eventually } from '../../testing/eventually.js';

export interface Msg {
  action: string;
  specifier: string;
  data: unknown;
  line: string;
}

/** A SECoP client from the spec: one message per LF-terminated line, `action [SP specifier [SP json]]`. */
export class SpecClient {
  readonly messages: Msg[] = [];
  private buf = '';
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        this.messages.push(SpecClient.parse(line));
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static parse(line: string): Msg {
    const a = line.indexOf(' ');
    const action = a < 0 ? line : line.slice(0, a);
    const rest = a < 0 ? '' : line.slice(a + 1);
    const b = rest.indexOf(' ');
    const specifier = b < 0 ? rest : rest.slice(0, b);
    const json = b < 0 ? undefined : rest.slice(b + 1);
    return { action, specifier, data: json === undefined ? undefined : JSON.parse(json), line };
  }

  /** `localAddress`: connect from another loopback address (127.0.0.2 …), as another host would. */
  static connect(port: number, localAddress?: string): Promise<SpecClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => resolve(new SpecClient(s)));
      s.once('error', reject);
    });
  }

  send(line: string): void {
    this.socket.write(`${line}\n`);
  }

  /** Waits for the first message from `from` on that matches. */
  async next(match: (m: Msg) => boolean, from = 0, timeoutMs = 20_000): Promise<Msg> {
    return eventually(() => {
      const m = this.messages.slice(from).find(match);
      if (!m) throw new Error(`no matching message; last: ${this.messages.slice(-3).map((x) => x.line.slice(0, 200)).join(' | ')}`);
      return m;
    }, timeoutMs);
  }

  /** Sends a request and waits for its reply (or an error_<action> for it). */
  async request(line: string, replyAction: string, specifier?: string): Promise<Msg> {
    const from = this.messages.length;
    this.send(line);
    const action = line.split(' ')[0]!;
    return this.next((m) => (m.action === replyAction || m.action === `error_${action}`) && (specifier === undefined || m.specifier === specifier), from);
  }

  close(): void {
    this.socket.destroy();
  }
}
