import { describe, expect, it } from 'vitest';
import { exposureWarnings, isLoopbackHost, isLoopbackHostHeader, resolveAnonymousRole, type ExposureFacts } from './listener-policy.js';

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (h) => {
    expect(isLoopbackHost(h)).toBe(true);
  });
  it.each(['0.0.0.0', '::', '192.0.2.1', '127.example.org', '127.0.0.1.nip.io', '::2', '::ffff:10.0.0.1', 'localhost.example.org', ''])('%s is not loopback', (h) => {
    expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('resolveAnonymousRole', () => {
  it('defaults to admin without tokens and to none with tokens', () => {
    expect(resolveAnonymousRole(undefined, false)).toBe('admin');
    expect(resolveAnonymousRole(undefined, true)).toBeNull();
  });
  it('takes what is configured, none included', () => {
    expect(resolveAnonymousRole('none', false)).toBeNull();
    expect(resolveAnonymousRole('viewer', true)).toBe('viewer');
    expect(resolveAnonymousRole('operator', false)).toBe('operator');
  });
});

describe('exposureWarnings', () => {
  const facts = (over: Partial<ExposureFacts>): ExposureFacts => ({
    label: 'daemon "x"',
    host: '0.0.0.0',
    tokensEnabled: false,
    anonymousRole: 'admin',
    encrypted: false,
    power: 'change the device',
    readPower: 'read the device',
    tokenHint: 'Configure tokens.',
    encryption: 'TLS',
    clearText: 'tokens and commands',
    ...over,
  });

  it('says nothing on loopback, whatever the setup', () => {
    expect(exposureWarnings(facts({ host: '127.0.0.1' }))).toEqual([]);
    expect(exposureWarnings(facts({ host: '::1', tokensEnabled: true, anonymousRole: 'admin' }))).toEqual([]);
  });

  it('warns about a stranger who may write without any token, and about clear text', () => {
    const w = exposureWarnings(facts({}));
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/^daemon "x" listens on 0\.0\.0\.0 WITHOUT any token: anyone who can reach this address can change the device\. Configure tokens\.$/);
    expect(w[1]).toBe('daemon "x" listens on 0.0.0.0 without TLS: tokens and commands cross the network in clear text.');
  });

  it('warns about an anonymous operator or admin role even with tokens', () => {
    for (const role of ['operator', 'admin'] as const) {
      const w = exposureWarnings(facts({ tokensEnabled: true, anonymousRole: role, encrypted: true }));
      expect(w).toEqual([`daemon "x" listens on 0.0.0.0 and gives connections WITHOUT a token the ${role} role: anyone who can reach it can change the device.`]);
    }
  });

  it('warns without tokens whatever the anonymous role, and says what that role means', () => {
    const viewer = exposureWarnings(facts({ anonymousRole: 'viewer', encrypted: true }));
    expect(viewer).toHaveLength(1);
    expect(viewer[0]).toMatch(/WITHOUT any token: anyone who can reach this address can read the device, and nobody can authenticate for more\. Configure tokens\.$/);
    const none = exposureWarnings(facts({ anonymousRole: null, encrypted: true }));
    expect(none).toHaveLength(1);
    expect(none[0]).toMatch(/WITHOUT any token: nobody can authenticate, so no connection gets any role\./);
  });

  it('is quiet about roles when tokens are required and strangers get viewer or nothing', () => {
    expect(exposureWarnings(facts({ tokensEnabled: true, anonymousRole: null, encrypted: true }))).toEqual([]);
    expect(exposureWarnings(facts({ tokensEnabled: true, anonymousRole: 'viewer', encrypted: true }))).toEqual([]);
  });

  it('appends the hint on how to switch encryption on', () => {
    const w = exposureWarnings(facts({ tokensEnabled: true, anonymousRole: null, encryption: 'HTTPS', clearText: 'tokens and session cookies', encryptionHint: 'Configure HTTPS.' }));
    expect(w).toEqual(['daemon "x" listens on 0.0.0.0 without HTTPS: tokens and session cookies cross the network in clear text. Configure HTTPS.']);
  });
});

describe('isLoopbackHostHeader', () => {
  it.each(['127.0.0.1:8888', '127.0.0.1', 'localhost:80', '[::1]:8888', '[::1]', 'LOCALHOST'])('%s names loopback', (h) => {
    expect(isLoopbackHostHeader(h)).toBe(true);
  });
  it.each(['evil.example:8888', '127.0.0.1.evil.example', '127.evil.example:80', '[::2]:8888', '', '::1', '127.0.0.1:80:80'])('%s does not', (h) => {
    expect(isLoopbackHostHeader(h)).toBe(false);
  });
});
