/** Small SSE and WebSocket clients for the web tests. */
import http from 'node:http';
import { createRequire } from 'node:module';

export interface SseEvent {
  event: string;
  data: unknown;
  at: number;
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Resolves with the first event (from index `from`) that matches. */
  next(pred: (e: SseEvent) => boolean, timeoutMs?: number, from?: number): Promise<SseEvent>;
  res: http.IncomingMessage;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const waiters = new Set<() => void>();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          const text = data.join('\n');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          events.push({ event, data: parsed, at: performance.now() });
          for (const w of [...waiters]) w();
        }
      });
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        res,
        next(pred, timeoutMs = 3000, from = 0) {
          return new Promise((ok, fail) => {
            const check = (): boolean => {
              const e = events.slice(from).find(pred);
              if (e) {
                waiters.delete(check as () => void);
                clearTimeout(timer);
                ok(e);
                return true;
              }
              return false;
            };
            const timer = setTimeout(() => {
              waiters.delete(check as () => void);
              fail(new Error(`no matching SSE event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(',')}`));
            }, timeoutMs);
            if (!check()) waiters.add(check as () => void);
          });
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
  });
}

/** The `ws` package's WebSocket, typed as far as the tests use it (the package ships no types). */
export interface WsLike {
  readyState: number;
  send(data: string): void;
  close(): void;
  on(event: 'message', cb: (data: Buffer) => void): void;
  on(event: 'open' | 'close', cb: () => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  on(event: 'unexpected-response', cb: (req: http.ClientRequest, res: http.IncomingMessage) => void): void;
}

const require = createRequire(import.meta.url);
const WsCtor = (require('ws') as { WebSocket: new (url: string, opts?: { headers?: Record<string, string> }) => WsLike }).WebSocket;

export interface WsClient {
  ws: WsLike;
  messages: Array<{ type: string; data: unknown }>;
  next(pred: (m: { type: string; data: unknown }) => boolean, timeoutMs?: number): Promise<{ type: string; data: unknown }>;
  close(): void;
}

/** Opens a WebSocket; rejects with the HTTP status when the upgrade is refused. */
export function openWs(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WsCtor(url, { headers });
    const messages: WsClient['messages'] = [];
    const waiters = new Set<() => void>();
    ws.on('message', (d) => {
      messages.push(JSON.parse(String(d)) as { type: string; data: unknown });
      for (const w of [...waiters]) w();
    });
    ws.on('unexpected-response', (req, res) => {
      req.destroy();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.on('error', (err) => reject(err));
    ws.on('open', () =>
      resolve({
        ws,
        messages,
        next(pred, timeoutMs = 3000) {
          return new Promise((ok, fail) => {
            const check = (): boolean => {
              const m = messages.find(pred);
              if (m) {
                waiters.delete(check as () => void);
                clearTimeout(timer);
                ok(m);
                return true;
              }
              return false;
            };
            const timer = setTimeout(() => {
              waiters.delete(check as () => void);
              fail(new Error(`no matching WebSocket message within ${timeoutMs} ms; got ${messages.map((m) => m.type).join(',')}`));
            }, timeoutMs);
            if (!check()) waiters.add(check as () => void);
          });
        },
        close: () => ws.close(),
      }),
    );
  });
}
