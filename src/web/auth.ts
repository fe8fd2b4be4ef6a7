/**
 * Who is asking: a bearer token, a session cookie from `/api/login`, or the anonymous role. The
 * tokens and roles are every listener's (server/tokens.ts, server/roles.ts); sessions live in server memory only, so
 * a restart logs everybody out and a stolen cookie dies with its expiry or a logout.
 *
 * Routes declare the role they need in `config.role`; without one, `/api/...` and `/monitor/...`
 * need `viewer` and everything else (the page itself) is public. A request without credentials
 * that needs a role gets 401, one whose role is too low 403. Every presented token (Bearer header,
 * login) goes through one per-address back-off (server/secret-throttle.ts); there is no lockout.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TokenStore, isLoopbackHostHeader, roleAtLeast, SecretThrottle, ThrottleBusy, type Role, type TokenEntry, type ThrottleOptions } from '../server/index.js';
import type { MonitorActor } from '../monitor/types.js';
import { HttpError } from './errors.js';

export interface AuthInfo {
  /** null: no role at all (tokens required and none given). */
  role: Role | null;
  /** The token's name, `anonymous` otherwise. */
  name: string;
  via: 'bearer' | 'session' | 'anonymous';
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthInfo;
  }
  interface FastifyContextConfig {
    /** The least role the route needs; 'none' for public routes. */
    role?: Role | 'none';
  }
}

export const SESSION_COOKIE = 'labwire_session';

interface Session {
  role: Role;
  name: string;
  expires: number;
}

/** Server-side sessions: random ids, absolute expiry, bounded count (the oldest go first). */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  constructor(
    readonly ttlMs: number,
    private readonly max = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  create(role: Role, name: string): { id: string; expires: number } {
    this.sweep();
    while (this.sessions.size >= this.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const expires = this.now() + this.ttlMs;
    this.sessions.set(id, { role, name, expires });
    return { id, expires };
  }

  get(id: string): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expires <= now) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    let v = part.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

export interface AuthOptions {
  tokens: TokenStore;
  /** Role of requests without credentials (null: none). */
  anonymousRole: Role | null;
  sessionTtlMs: number;
  readOnly: boolean;
  monitorName: string;
  /** The lab's name, shown on the page (public: the login form shows it too). */
  labName: string;
  /**
   * Listening on loopback only: then the Host header must name a loopback address too, so a web
   * site whose name an attacker re-points at 127.0.0.1 (DNS rebinding) cannot use the page.
   */
  loopbackOnly: boolean;
  /** Back-off for wrong tokens (tests make it short), or a throttle shared with the monitor's port. */
  throttle?: Partial<ThrottleOptions> | SecretThrottle;
}

/** True when a browser says the request comes from another site (scripts send no such header). */
function crossSite(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return origin === 'null';
  return !sameHost(origin, req.headers.host);
}

/** Whether an Origin header names this server's Host (default ports normalised). */
export function sameHost(origin: string, host: string | undefined): boolean {
  try {
    const o = new URL(origin);
    return o.host === new URL(`${o.protocol}//${host ?? ''}`).host;
  } catch {
    return false;
  }
}

export interface Auth {
  readonly tokens: TokenStore;
  readonly sessions: SessionStore;
  readonly anonymousRole: Role | null;
  /** Every presented token goes through it: Bearer headers and logins. */
  readonly throttle: SecretThrottle;
  /**
   * Who sent the request; throws HttpError 401 for a bad bearer token (after its back-off) and
   * 429 while the address's previous wrong token is serving its back-off.
   */
  authenticate(req: FastifyRequest, reply: FastifyReply): Promise<AuthInfo>;
  /** Throws 401/403 unless the request's role reaches `need`. */
  require(req: FastifyRequest, need: Role): void;
}

const PUBLIC_API = new Set(['/api/login', '/api/logout', '/api/session', '/api/openapi.json']);

function defaultNeed(url: string): Role | 'none' {
  if (PUBLIC_API.has(url)) return 'none';
  if (url.startsWith('/api/') || url === '/api' || url.startsWith('/monitor/')) return 'viewer';
  return 'none';
}

/** Who asked, with the role the daemon applies when the monitor forwards for this person. */
export function actorOf(req: FastifyRequest): MonitorActor {
  return { who: req.auth.via === 'anonymous' ? 'web' : req.auth.name, peer: req.ip, role: req.auth.role };
}

function cookieHeader(req: FastifyRequest, value: string, maxAgeS: number): string {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure}`;
}

/** Installs authentication on the root instance (hooks apply to every plugin) and the login routes. */
export function installAuth(app: FastifyInstance, options: AuthOptions): Auth {
  const sessions = new SessionStore(options.sessionTtlMs);
  const throttle = options.throttle instanceof SecretThrottle ? options.throttle : new SecretThrottle(options.throttle);
  /** A token checked through the throttle; 429 (with Retry-After) while the address is held. */
  const checkToken = async (req: FastifyRequest, reply: FastifyReply, token: string): Promise<TokenEntry | undefined> => {
    try {
      return await throttle.attempt(req.ip, () => options.tokens.check(token));
    } catch (err) {
      if (!(err instanceof ThrottleBusy)) throw err;
      reply.header('Retry-After', String(err.retryAfterS));
      throw new HttpError(429, 'RateLimited', err.message);
    }
  };
  const anonymous: AuthInfo = { role: options.anonymousRole, name: 'anonymous', via: 'anonymous' };

  const auth: Auth = {
    tokens: options.tokens,
    sessions,
    anonymousRole: options.anonymousRole,
    throttle,
    async authenticate(req, reply) {
      const header = req.headers.authorization;
      if (header !== undefined) {
        const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
        if (!m) throw new HttpError(401, 'Unauthorized', 'the Authorization header must be "Bearer <token>"');
        const entry = await checkToken(req, reply, m[1]!);
        if (!entry) throw new HttpError(401, 'Unauthorized', 'unknown token');
        return { role: entry.role, name: entry.name, via: 'bearer' };
      }
      const sid = parseCookies(req.headers.cookie)[SESSION_COOKIE];
      if (sid) {
        const s = sessions.get(sid);
        if (s) return { role: s.role, name: s.name, via: 'session' };
      }
      return anonymous;
    },
    require(req, need) {
      const have = req.auth.role;
      if (roleAtLeast(have, need)) return;
      if (have === null) {
        throw new HttpError(401, 'Unauthorized', 'a token is needed: log in on the page or send "Authorization: Bearer <token>"');
      }
      throw new HttpError(403, 'Forbidden', `this needs the ${need} role; you have ${have}`);
    },
  };

  app.decorateRequest('auth', null as unknown as AuthInfo);
  app.addHook('onRequest', async (req, reply: FastifyReply) => {
    if (options.loopbackOnly && !isLoopbackHostHeader(req.headers.host ?? '')) {
      req.auth = anonymous;
      throw new HttpError(421, 'MisdirectedRequest', 'this server answers only to a loopback address such as 127.0.0.1 or localhost');
    }
    try {
      req.auth = await auth.authenticate(req, reply);
    } catch (err) {
      req.auth = { role: null, name: 'anonymous', via: 'anonymous' };
      if (err instanceof HttpError && err.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer realm="labwire"');
      throw err;
    }
    const url = req.routeOptions.url;
    // Unknown routes go on to the JSON 404 without revealing whether they would need a role.
    if (url === undefined) return;
    const need = req.routeOptions.config.role ?? defaultNeed(url);
    // Another site's page in the user's browser must not change devices (with the user's cookie,
    // or anonymously on an open loopback server). Scripts send no Sec-Fetch-Site or Origin.
    if ((need === 'operator' || need === 'admin') && crossSite(req)) {
      throw new HttpError(403, 'Forbidden', 'requests from another site may not send commands');
    }
    if (need === 'none') return;
    try {
      auth.require(req, need);
    } catch (err) {
      if (err instanceof HttpError && err.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer realm="labwire"');
      throw err;
    }
  });

  const sessionView = (req: FastifyRequest) => ({
    monitor: options.monitorName,
    lab: options.labName,
    tokensEnabled: options.tokens.enabled,
    authRequired: options.tokens.enabled && options.anonymousRole === null,
    role: req.auth.role,
    name: req.auth.name,
    via: req.auth.via,
    readOnly: options.readOnly,
  });

  const sessionSchema = {
    type: 'object',
    properties: {
      monitor: { type: 'string' },
      lab: { type: 'string', description: "the lab's name (name: in the lab file), shown on the page" },
      tokensEnabled: { type: 'boolean' },
      authRequired: { type: 'boolean' },
      role: { type: ['string', 'null'], enum: ['viewer', 'operator', 'admin', null] },
      name: { type: 'string' },
      via: { type: 'string', enum: ['bearer', 'session', 'anonymous'] },
      readOnly: { type: 'boolean' },
    },
  };

  app.get('/api/session', {
    config: { role: 'none' },
    schema: { summary: 'Who am I: role, whether a login is needed, read-only mode', tags: ['auth'], 'x-responses': { 200: sessionSchema } },
  }, async (req) => sessionView(req));

  app.post<{ Body: { token: string } }>('/api/login', {
    config: { role: 'none' },
    schema: {
      summary: 'Log in with a token; sets an HttpOnly, SameSite=Strict session cookie',
      tags: ['auth'],
      body: { type: 'object', required: ['token'], additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 4096 } } },
      'x-responses': { 200: sessionSchema, 400: { $ref: '#/components/schemas/Error' }, 401: { $ref: '#/components/schemas/Error' }, 429: { $ref: '#/components/schemas/Error' } },
    },
  }, async (req, reply) => {
    if (!options.tokens.enabled) throw new HttpError(400, 'NoTokens', 'this server has no tokens configured: no login is needed');
    const entry = await checkToken(req, reply, req.body.token);
    if (!entry) throw new HttpError(401, 'Unauthorized', 'unknown token');
    const old = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (old) sessions.delete(old);
    const s = sessions.create(entry.role, entry.name);
    reply.header('Set-Cookie', cookieHeader(req, s.id, Math.floor(options.sessionTtlMs / 1000)));
    req.auth = { role: entry.role, name: entry.name, via: 'session' };
    return sessionView(req);
  });

  app.post('/api/logout', {
    config: { role: 'none' },
    schema: { summary: 'End the session and clear its cookie', tags: ['auth'], 'x-responses': { 200: sessionSchema } },
  }, async (req, reply) => {
    const sid = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (sid) sessions.delete(sid);
    reply.header('Set-Cookie', cookieHeader(req, '', 0));
    req.auth = anonymous;
    return sessionView(req);
  });

  const sweeper = setInterval(() => sessions.sweep(), 60_000);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));
  return auth;
}
