/**
 * The monitor's web server: JSON API, live streams, CCDLab's endpoints and the page, on fastify.
 * One plugin per concern — auth (hooks on the root, so they cover everything), api, stream,
 * ccdlab, static — all seeing the monitor only through MonitorView.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import { SecretThrottle, TokenStore, exposureWarnings, isLoopbackHost, resolveAnonymousRole, type Role, type TokenEntry, type ThrottleOptions } from '../server/index.js';
import type { ImageRecord, LogEntry } from '../archive/types.js';
import type { AlarmState, AlarmTransition, MonitorUpdate, MonitorView, PeerState } from '../monitor/types.js';
import type { Logger } from '../util/logger.js';
import { LabwireError } from '../wire/types.js';
import { VERSION } from '../version.js';
import { apiRoutes } from './api.js';
import { installAuth } from './auth.js';
import { ccdlabRoutes } from './ccdlab.js';
import { HttpError, fromLabwireError } from './errors.js';
import { Hub, type HubLimits } from './hub.js';
import { buildOpenApi, collectRoutes } from './openapi.js';
import { PAGE_CSP, SECURITY_HEADERS, defaultUiDir, staticRoutes } from './static.js';
import { streamRoutes } from './stream.js';
import { alarmEvent, deviceView } from './views.js';
import { alarmRoutes } from './alarms.js';
import { programmeRoutes } from './programme.js';
import { imageRoutes } from './images.js';
import { metricsRoutes } from './metrics.js';

export interface WebOptions {
  monitor: MonitorView;
  /** The lab's name (`name:` of the lab file), in the page's title and header; default the monitor's name. */
  labName?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8888; 0 picks a free port. */
  port?: number;
  tokens?: TokenEntry[];
  /** Role of requests without a token: default admin without tokens, none with tokens. */
  anonymousRole?: Role | 'none';
  logger: Logger;
  /** The bundled page; default: the build's dist/web/public. */
  uiDir?: string;
  /** Login sessions last this long (default 12 h). */
  sessionTtlMs?: number;
  /** Limits of the live streams (tests make them small). */
  streamLimits?: Partial<HubLimits>;
  /**
   * Back-off for wrong tokens (tests make it short; see server/secret-throttle.ts), or the throttle
   * of the monitor's port when the page checks the same tokens, so guesses on both count together.
   */
  authThrottle?: Partial<ThrottleOptions> | SecretThrottle;
  /** The cache of recently fetched image files (default 4 files, 256 MiB). */
  imageCache?: { cacheFiles?: number; cacheBytes?: number };
  /** Serve HTTPS with this certificate and key (PEM); with `ca`, browsers must present a client certificate issued by it. */
  https?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
}

export interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const WEB_DEFAULTS = { host: '127.0.0.1', port: 8888, sessionTtlMs: 12 * 3_600_000 } as const;

export interface WebApp {
  app: FastifyInstance;
  hub: Hub;
}

/** Builds the fastify app without listening (tests use `app.inject`). Call `app.close()` to detach. */
export async function createWebApp(options: WebOptions): Promise<WebApp> {
  const { monitor } = options;
  const logger = options.logger.child({ component: 'web' });
  const tokens = new TokenStore(options.tokens ?? []);
  const anonymousRole = resolveAnonymousRole(options.anonymousRole, tokens.enabled);

  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 128 * 1024,
    forceCloseConnections: true,
    return503OnClosing: true,
    ...(options.https
      ? { https: { cert: options.https.cert, key: options.https.key, ...(options.https.ca !== undefined ? { ca: options.https.ca, requestCert: true, rejectUnauthorized: true } : {}) } }
      : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  const routes = collectRoutes(app);
  const hub = new Hub(options.streamLimits);

  app.setErrorHandler((err: FastifyError | HttpError | LabwireError, req, reply) => {
    let e: HttpError;
    if (err instanceof HttpError) e = err;
    else if (err instanceof LabwireError) e = fromLabwireError(err);
    else if ('validation' in err && err.validation) e = new HttpError(400, 'BadRequest', err.message);
    else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      e = new HttpError(err.statusCode, err.code ?? 'BadRequest', err.message);
    } else {
      req.log.error({ err, url: req.routeOptions.url }, 'web request failed');
      e = new HttpError(500, 'InternalError', 'internal error; see the monitor log');
    }
    void reply.code(e.statusCode).type('application/json; charset=utf-8').send({ code: e.code, message: e.message, ...e.extra });
  });

  app.setNotFoundHandler((_req, reply) => {
    // Never echo the path back (CCDLab answered unknown /monitor/ paths with the path as HTML).
    void reply.code(404).type('application/json; charset=utf-8').send({ code: 'NotFound', message: 'no such route; the API is listed at /api/openapi.json' });
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(k)) reply.header(k, v);
    if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', PAGE_CSP);
    return payload;
  });

  // Before auth: its onRequest hook marks upgrade requests, so that a refused upgrade's socket is
  // destroyed after the error reply (otherwise it would outlive the server's close).
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  const auth = installAuth(app, {
    tokens,
    anonymousRole,
    sessionTtlMs: options.sessionTtlMs ?? WEB_DEFAULTS.sessionTtlMs,
    readOnly: monitor.readOnly,
    monitorName: monitor.name,
    labName: options.labName ?? monitor.name,
    loopbackOnly: isLoopbackHost(options.host ?? WEB_DEFAULTS.host),
    ...(options.authThrottle ? { throttle: options.authThrottle } : {}),
  });
  const startedAt = Date.now();
  await app.register(apiRoutes, { monitor, hub, startedAt, throttle: auth.throttle });
  await app.register(alarmRoutes, { monitor });
  await app.register(programmeRoutes, { monitor });
  await app.register(imageRoutes, { monitor, ...options.imageCache });
  await app.register(streamRoutes, { monitor, hub });
  await app.register(ccdlabRoutes, { monitor });
  await app.register(metricsRoutes, { monitor, hub, throttle: auth.throttle });

  let openapi: Record<string, unknown> | undefined;
  app.get('/api/openapi.json', {
    config: { role: 'none' },
    schema: { summary: 'This document', tags: ['meta'], 'x-responses': { 200: { type: 'object' } } },
  }, async () => {
    openapi ??= buildOpenApi(routes, { title: `labwire monitor ${monitor.name}`, version: VERSION });
    return openapi;
  });

  await app.register(staticRoutes, { uiDir: options.uiDir ?? defaultUiDir() });

  // Live events from the monitor to every subscriber.
  const onUpdate = (u: MonitorUpdate): void => hub.publishUpdate(u);
  const onMessage = (m: LogEntry): void => hub.publishMessage(m);
  const onPeer = (p: PeerState): void => hub.publish('peer', deviceView(monitor, p));
  const onAlarm = (st: AlarmState, tr: AlarmTransition): void => hub.publish('alarm', alarmEvent(st, tr));
  const onImage = (image: ImageRecord): void => hub.publish('image', image);
  monitor.on('update', onUpdate);
  monitor.on('image', onImage);
  monitor.on('message', onMessage);
  monitor.on('peer', onPeer);
  monitor.on('alarm', onAlarm);
  app.addHook('preClose', async () => {
    monitor.off('update', onUpdate);
    monitor.off('message', onMessage);
    monitor.off('peer', onPeer);
    monitor.off('alarm', onAlarm);
    monitor.off('image', onImage);
    hub.closeAll('server closing');
  });

  await app.ready();
  return { app, hub };
}

export async function startWeb(options: WebOptions): Promise<WebServer> {
  const host = options.host ?? WEB_DEFAULTS.host;
  const port = options.port ?? WEB_DEFAULTS.port;
  const { app } = await createWebApp(options);
  const tokensEnabled = (options.tokens?.length ?? 0) > 0;
  const warnings = exposureWarnings({
    label: 'the web page',
    host,
    tokensEnabled,
    anonymousRole: resolveAnonymousRole(options.anonymousRole, tokensEnabled),
    encrypted: options.https !== undefined,
    power: 'change the devices',
    readPower: 'read every device',
    tokenHint: 'Configure monitor tokens.',
    encryption: 'HTTPS',
    clearText: 'tokens and session cookies',
    encryptionHint: 'Configure HTTPS (monitor.webTls in the lab file).',
  });
  for (const warning of warnings) app.log.warn(warning);
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    throw new Error(`the web server cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `${options.https ? 'https' : 'http'}://${urlHost}:${actual}/`;
  app.log.info(`web page at ${url}${tokensEnabled ? ' (tokens required)' : ''}${options.monitor.readOnly ? ' (read-only)' : ''}`);
  let closing: Promise<void> | undefined;
  return {
    url,
    port: actual,
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}
