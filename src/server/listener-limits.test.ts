import { describe, expect, it } from 'vitest';
import { LISTENER_DEFAULTS, listenerLimits } from './listener-limits.js';
import { LINE_SERVER_DEFAULTS } from './line-server.js';
import { SecretThrottle } from './secret-throttle.js';

describe('listenerLimits', () => {
  it('fills in one set of defaults for every listener', () => {
    expect(listenerLimits({})).toEqual({
      rateLimit: { perSecond: 1000, burst: 2000 },
      maxConnections: 1024,
      maxConnectionsPerAddress: LINE_SERVER_DEFAULTS.maxConnectionsPerAddress,
      idleTimeoutMs: 3_600_000,
      authTimeoutMs: LINE_SERVER_DEFAULTS.authTimeoutMs,
      handshakeTimeoutMs: LINE_SERVER_DEFAULTS.handshakeTimeoutMs,
      refusalSummaryMs: LINE_SERVER_DEFAULTS.refusalSummaryMs,
      maxLineLength: LISTENER_DEFAULTS.maxLineLength,
    });
  });

  it('takes what is given; a burst defaults to twice the rate; 0 stays 0', () => {
    const l = listenerLimits({ rateLimit: { perSecond: 5 }, maxConnections: 3, idleTimeoutMs: 0, authTimeoutMs: 0 });
    expect(l.rateLimit).toEqual({ perSecond: 5, burst: 10 });
    expect([l.maxConnections, l.idleTimeoutMs, l.authTimeoutMs]).toEqual([3, 0, 0]);
  });

  it('passes a shared throttle through as the same object', () => {
    const shared = new SecretThrottle();
    expect(listenerLimits({ authThrottle: shared }).authThrottle).toBe(shared);
  });
});
