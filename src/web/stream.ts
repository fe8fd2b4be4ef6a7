/**
 * Live data: Server-Sent Events at `/api/stream` and a WebSocket at `/api/ws`. Both start with a
 * `snapshot` (every device, the lab status, recent messages) and then carry `update`, `message`,
 * `peer`, `alarm` and `image` events as they happen. The WebSocket also takes commands from operators:
 * `{"type":"command","id":1,"client":"chiller","line":"set setpoint=20"}` is answered with
 * `{"type":"reply","data":{"id":1,"ok":true,"status":200,"result":{...}}}`.
 *
 * Each owner (a token's name; an address for anonymous clients) holds at most the hub's
 * `maxPerOwner` streams: more are refused with 429 before the stream starts. A WebSocket must
 * answer the server's pings: one that has not for the stall limit does not read and is dropped,
 * however much of its traffic the kernel's buffers still absorb.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MonitorView } from '../monitor/types.js';
import { actorOf, sameHost } from './auth.js';
import { sendCommand } from './commands.js';
import { HttpError } from './errors.js';
import { HubEvent, batchingSink, sseFrame, wsFrame, type Hub, type Sink } from './hub.js';
import { SECURITY_HEADERS } from './static.js';
import { addressKey } from '../server/index.js';
import { snapshot } from './views.js';

/** SSE frames of this long are sent together: far fewer writes, at most this much added latency. */
const SSE_BATCH_MS = 20;

export interface StreamContext {
  monitor: MonitorView;
  hub: Hub;
  /** Comment line interval that keeps proxies and idle timers from closing an SSE stream. */
  heartbeatMs?: number;
  /** Bytes buffered per WebSocket before it counts as blocked. */
  wsHighWaterMark?: number;
}

/** Whose stream slot a request takes: the token's name, or the address when anonymous. */
export function streamOwner(req: FastifyRequest): string {
  return req.auth.via === 'anonymous' ? `addr:${addressKey(req.ip)}` : `user:${req.auth.name}`;
}

const WS_MAX_INFLIGHT_COMMANDS = 16;

/** What this module uses of a `ws` WebSocket (the package ships no types here). */
interface WsSocket {
  send(data: string, cb: (err?: Error) => void): void;
  ping(): void;
  close(code: number, reason: string): void;
  terminate(): void;
  on(event: 'message', cb: (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
  on(event: 'close' | 'error' | 'pong', cb: () => void): void;
}

/** WebSocket Origin must be this server (a cross-site page must not drive it with the user's cookie). */
function checkOrigin(req: FastifyRequest): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  if (!sameHost(origin, req.headers.host)) throw new HttpError(403, 'Forbidden', 'cross-origin WebSocket connections are refused');
}

export async function streamRoutes(app: FastifyInstance, ctx: StreamContext): Promise<void> {
  const { monitor, hub } = ctx;
  const heartbeatMs = ctx.heartbeatMs ?? 15_000;
  const wsHwm = ctx.wsHighWaterMark ?? 256 * 1024;
  const stallMs = hub.limits.stallMs;
  // Often enough that a missing pong is noticed within the stall limit.
  const pingMs = Math.max(50, Math.min(heartbeatMs, stallMs > 0 ? stallMs / 2 : heartbeatMs));

  /** Refuses, before the stream starts, an owner at its limit or a full hub. */
  const admit = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const no = hub.refusal(streamOwner(req));
    if (!no) return;
    reply.header('Retry-After', String(no.retryAfterS));
    throw new HttpError(no.status, no.code, no.message);
  };

  app.get('/api/stream', {
    preHandler: admit,
    schema: {
      summary: 'Server-Sent Events: snapshot, then update, message, peer, alarm and image events (JSON data)',
      tags: ['live'],
      'x-responses': { 200: { description: 'text/event-stream', content: 'text/event-stream' }, 401: { $ref: '#/components/schemas/Error' }, 429: { $ref: '#/components/schemas/Error' }, 503: { $ref: '#/components/schemas/Error' } },
    },
  }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    res.socket?.setNoDelay(true);
    const sink: Sink = batchingSink(
      {
        write: (frame) => res.write(frame),
        onDrain: (cb) => res.once('drain', cb),
        close: (_reason, abort) => (abort ? res.destroy() : res.end()),
      },
      SSE_BATCH_MS,
    );
    const sub = hub.add('sse', sink, sseFrame, streamOwner(req));
    sub.push(new HubEvent('snapshot', { ...snapshot(monitor), role: req.auth.role }));
    const beat = setInterval(() => {
      if (!sub.blocked && !sub.isClosed) res.write(': ping\n\n');
    }, heartbeatMs);
    beat.unref();
    res.on('close', () => {
      clearInterval(beat);
      sub.close('client gone');
    });
  });

  app.get('/api/ws', {
    websocket: true,
    onRequest: async (req) => checkOrigin(req),
    preHandler: admit,
    schema: {
      summary: 'WebSocket: the same events as /api/stream as {type, data} messages; operators may send {type:"command", id, client, line}',
      tags: ['live'],
      'x-responses': { 101: { description: 'switching protocols' }, 401: { $ref: '#/components/schemas/Error' }, 403: { $ref: '#/components/schemas/Error' }, 429: { $ref: '#/components/schemas/Error' }, 503: { $ref: '#/components/schemas/Error' } },
    },
  }, (socket: WsSocket, req) => {
    // Checked again: streams opened while this one's upgrade was under way count too.
    const no = hub.refusal(streamOwner(req));
    if (no) {
      socket.close(1013, no.message.slice(0, 100));
      return;
    }
    let inflightBytes = 0;
    let drain: (() => void) | undefined;
    const sink: Sink = {
      write(frame) {
        const n = Buffer.byteLength(frame);
        inflightBytes += n;
        socket.send(frame, () => {
          inflightBytes -= n;
          if (drain && inflightBytes < wsHwm / 2) {
            const cb = drain;
            drain = undefined;
            cb();
          }
        });
        return inflightBytes < wsHwm;
      },
      onDrain(cb) {
        drain = cb;
      },
      close(reason, abort) {
        // A client that does not read would never complete the closing handshake.
        if (abort) socket.terminate();
        else socket.close(1001, reason.slice(0, 100));
      },
    };
    const sub = hub.add('ws', sink, wsFrame, streamOwner(req));
    sub.push(new HubEvent('snapshot', { ...snapshot(monitor), role: req.auth.role }));
    let lastPong = Date.now();
    socket.on('pong', () => (lastPong = Date.now()));
    const pinger = setInterval(() => {
      if (stallMs > 0 && Date.now() - lastPong > stallMs) {
        sub.close(`client did not answer pings for ${Math.round(stallMs / 1000)} s`, true);
        return;
      }
      try {
        socket.ping();
      } catch {
        // not open (yet or any more): the close handler cleans up
      }
    }, pingMs);
    pinger.unref();
    socket.on('close', () => {
      clearInterval(pinger);
      sub.close('client gone');
    });
    socket.on('error', () => sub.close('socket error'));

    let inflightCommands = 0;
    const answer = (data: unknown): void => sub.push(new HubEvent('reply', data));
    socket.on('message', (raw, isBinary) => {
      let msg: { type?: unknown; id?: unknown; client?: unknown; line?: unknown };
      try {
        if (isBinary) throw new Error('binary');
        msg = JSON.parse(String(raw)) as typeof msg;
        if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
      } catch {
        sub.push(new HubEvent('error', { code: 'BadRequest', message: 'messages must be JSON objects such as {"type":"command","client":"x","line":"get_status"}' }));
        return;
      }
      const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? msg.id : null;
      if (msg.type === 'ping') {
        answer({ id, ok: true, status: 200, result: 'pong' });
        return;
      }
      if (msg.type !== 'command' || typeof msg.client !== 'string' || typeof msg.line !== 'string') {
        answer({ id, ok: false, status: 400, error: { code: 'BadRequest', message: 'expected {"type":"command","client":"<device>","line":"<labwire line>"} or {"type":"ping"}' } });
        return;
      }
      if (inflightCommands >= WS_MAX_INFLIGHT_COMMANDS) {
        answer({ id, ok: false, status: 429, error: { code: 'RateLimited', message: `at most ${WS_MAX_INFLIGHT_COMMANDS} commands may wait for replies at once` } });
        return;
      }
      inflightCommands++;
      sendCommand(monitor, { client: msg.client, line: msg.line, role: req.auth.role, actor: actorOf(req) })
        .then((result) => answer({ id, ok: true, status: 200, result }))
        .catch((err: unknown) => {
          const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', 'internal error');
          answer({ id, ok: false, status: e.statusCode, error: { code: e.code, message: e.message, ...e.extra } });
        })
        .finally(() => inflightCommands--);
    });
  });
}
