/**
 * The limits every labwire listener takes — a daemon's port and the monitor's port — with one set
 * of defaults, so the two cannot drift apart (they were written twice; decision 0013).
 */
import { LINE_SERVER_DEFAULTS, type LineServerOptions } from './line-server.js';
import type { SecretThrottle, ThrottleOptions } from './secret-throttle.js';

export interface ListenerLimitOptions {
  /** Requests per second per peer address; 0 disables (default 1000, burst twice that). */
  rateLimit?: { perSecond: number; burst?: number };
  /** Connections at once, TLS handshakes included (default 1024). */
  maxConnections?: number;
  /** Connections at once from one address, TLS handshakes included (default 64). */
  maxConnectionsPerAddress?: number;
  /** Close connections that send no request for this long; subscribers exempt; 0 disables (default 1 h). */
  idleTimeoutMs?: number;
  /** With tokens and no anonymous role: unauthenticated connections are closed after this long (default 10 s; 0: never). */
  authTimeoutMs?: number;
  /** TLS handshakes not finished within this long are dropped (default 10 s). */
  handshakeTimeoutMs?: number;
  /**
   * Back-off for wrong tokens given to `auth`, per address (defaults as on the web server), or a
   * throttle shared with another listener that checks the same tokens (the monitor's port and its
   * web page), so guesses on either count together.
   */
  authThrottle?: Partial<ThrottleOptions> | SecretThrottle;
  /** Longest accepted line (default 65536). */
  maxLineLength?: number;
  /** Refusals beyond the first per address and reason are counted and summarised once per this interval (default 10 s; 0: every one in full). */
  refusalSummaryMs?: number;
  /** Bytes of binary replies (FITS files) all connections together may leave unread (default 256 MiB). */
  maxBinaryUnsent?: number;
}

export const LISTENER_DEFAULTS = {
  rateLimit: { perSecond: 1000, burst: 2000 },
  maxConnections: 1024,
  maxConnectionsPerAddress: LINE_SERVER_DEFAULTS.maxConnectionsPerAddress,
  idleTimeoutMs: 3_600_000,
  authTimeoutMs: LINE_SERVER_DEFAULTS.authTimeoutMs,
  handshakeTimeoutMs: LINE_SERVER_DEFAULTS.handshakeTimeoutMs,
  maxLineLength: 65_536,
  refusalSummaryMs: LINE_SERVER_DEFAULTS.refusalSummaryMs,
} as const;

export type ListenerLimits = Pick<
  LineServerOptions,
  'rateLimit' | 'maxConnections' | 'maxConnectionsPerAddress' | 'idleTimeoutMs' | 'authTimeoutMs' | 'handshakeTimeoutMs' | 'refusalSummaryMs' | 'authThrottle' | 'maxLineLength' | 'maxBinaryUnsent'
>;

/** The LineServer's limits from a listener's options, defaults filled in. */
export function listenerLimits(o: ListenerLimitOptions): ListenerLimits {
  const rate = o.rateLimit ?? LISTENER_DEFAULTS.rateLimit;
  return {
    rateLimit: { perSecond: rate.perSecond, burst: rate.burst ?? rate.perSecond * 2 },
    maxConnections: o.maxConnections ?? LISTENER_DEFAULTS.maxConnections,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress ?? LISTENER_DEFAULTS.maxConnectionsPerAddress,
    idleTimeoutMs: o.idleTimeoutMs ?? LISTENER_DEFAULTS.idleTimeoutMs,
    authTimeoutMs: o.authTimeoutMs ?? LISTENER_DEFAULTS.authTimeoutMs,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? LISTENER_DEFAULTS.handshakeTimeoutMs,
    refusalSummaryMs: o.refusalSummaryMs ?? LISTENER_DEFAULTS.refusalSummaryMs,
    maxLineLength: o.maxLineLength ?? LISTENER_DEFAULTS.maxLineLength,
    ...(o.authThrottle !== undefined ? { authThrottle: o.authThrottle } : {}),
    ...(o.maxBinaryUnsent !== undefined ? { maxBinaryUnsent: o.maxBinaryUnsent } : {}),
  };
}
