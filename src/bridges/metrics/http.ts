/**
 * A daemon's metrics listener (`--metrics host:port`): node:http, one route, GET /metrics.
 *
 * Who may scrape (decision 0025): the listener binds 127.0.0.1 unless told otherwise. With the
 * daemon's tokens configured, a scrape must send `Authorization: Bearer <token>` of any role
 * (viewer is enough), checked through the labwire port's back-off for wrong tokens (one SecretThrottle for both);
 * without tokens it is open, and a listener beyond loopback warns at start, because the device's
 * values are readable by anyone who reaches it.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import { ConnectionSlots, SecretThrottle, ThrottleBusy, isLoopbackHost, type TokenStore } from '../../server/index.js';
import type { Logger } from '../../util/logger.js';
import { METRICS_CONTENT_TYPE } from './registry.js';
import type { MetricsAddress } from './address.js';

export { parseMetricsAddress, METRICS_DEFAULT_HOST, type MetricsAddress } from './address.js';

export interface MetricsListenerOptions extends MetricsAddress {
  registry: Registry;
  logger: Logger;
  /** What this listener serves, for messages (e.g. `daemon "chiller"`). */
  label: string;
  /** With tokens enabled, scrapes must present one (any role). */
  tokens?: TokenStore;
  throttle?: SecretThrottle;
}

export interface MetricsListener {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(body);
}

/** Limits of the metrics listener: Prometheus keeps one connection per target. */
export const METRICS_MAX_CONNECTIONS = 64;
export const METRICS_MAX_PER_ADDRESS = 8;
const METRICS_IDLE_MS = 15_000;

export async function startMetricsListener(opts: MetricsListenerOptions): Promise<MetricsListener> {
  const tokens = opts.tokens?.enabled ? opts.tokens : undefined;
  const throttle = opts.throttle ?? new SecretThrottle();
  if (!isLoopbackHost(opts.host) && !tokens) {
    opts.logger.warn(`${opts.label}: metrics on ${opts.host}:${opts.port} are open to anyone who can reach it (the device's values included); configure tokens, or bind 127.0.0.1 and scrape through a firewall rule`);
  }
  const server = http.createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') return send(res, 404, 'only /metrics here\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'GET /metrics\n', { Allow: 'GET, HEAD' });
      if (tokens) {
        const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
        if (!m) return send(res, 401, 'a token is needed: Authorization: Bearer <token> (any role)\n', { 'WWW-Authenticate': 'Bearer realm="labwire"' });
        let entry;
        try {
          entry = await throttle.attempt(req.socket.remoteAddress ?? '?', () => tokens.check(m[1]!));
        } catch (err) {
          if (!(err instanceof ThrottleBusy)) throw err;
          return send(res, 429, `${err.message}\n`, { 'Retry-After': String(err.retryAfterS) });
        }
        if (!entry) return send(res, 401, 'unknown token\n', { 'WWW-Authenticate': 'Bearer realm="labwire"' });
      }
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch((err: unknown) => {
      opts.logger.error({ err }, `${opts.label}: metrics scrape failed`);
      if (!res.headersSent) send(res, 500, 'metrics failed; see the log\n');
      else res.destroy();
    });
  });
  // A scrape is one short request: nobody needs a socket held open for minutes. The request and
  // header timeouts start only with a request; `timeout` also closes a socket that never sends one.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.timeout = METRICS_IDLE_MS;
  // Descriptors are the daemon's too (its labwire port, its device link): a few scrapers need few.
  const slots = new ConnectionSlots(METRICS_MAX_CONNECTIONS, METRICS_MAX_PER_ADDRESS);
  server.on('connection', (socket) => {
    const why = slots.take(socket);
    if (why !== undefined) {
      opts.logger.debug(`${opts.label}: metrics connection refused: ${why}`);
      socket.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EADDRNOTAVAIL' ? 'no interface of this machine has that address' : err.message;
      reject(new Error(`${opts.label}: metrics cannot listen on ${opts.host}:${opts.port}: ${why}`));
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      server.on('error', (err) => opts.logger.error({ err }, `${opts.label}: metrics listener error`));
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const urlHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | undefined;
  return {
    host: opts.host,
    port,
    url: `http://${urlHost}:${port}/metrics`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
