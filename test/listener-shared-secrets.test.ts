/**
 * The monitor's port and its web page check the same tokens; given one SecretThrottle (as
 * `labwire up` does), a wrong token on either counts for the address on both, and the right one on
 * either clears it. Without sharing, an address would get twice the guesses.
 */
import { afterEach, expect, it } from 'vitest';
import { SecretThrottle } from '../src/server/index.js';
import { startMonitor } from '../src/monitor/monitor.js';
import { createWebApp } from '../src/web/server.js';
import { silentLogger } from '../src/util/logger.js';
import { RawClient } from '../src/testing/raw-client.js';

const TOKENS = [{ role: 'operator' as const, token: 'operator-token-0123456789', name: 'otto' }];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

it('counts wrong tokens on the monitor port and over HTTP together, and clears them together', async () => {
  // No back-off within the test: only the shared count is under test here.
  const secrets = new SecretThrottle({ freeFailures: 100 });
  const m = await startMonitor({ peers: [], tokens: TOKENS, authThrottle: secrets, listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
  cleanups.push(() => m.close());
  const { app } = await createWebApp({ monitor: m, tokens: TOKENS, authThrottle: secrets, logger: silentLogger(), uiDir: '/nonexistent' });
  cleanups.push(() => app.close());

  const web = await app.inject({ url: '/api/status', remoteAddress: '127.0.0.1', headers: { authorization: 'Bearer wrong-token-0123456789' } });
  expect(web.statusCode).toBe(401);
  expect(secrets.failures('127.0.0.1')).toBe(1);

  const c = await RawClient.connect(m.port);
  cleanups.push(() => c.close());
  c.write('auth token=another-wrong-token-0123\n');
  expect(await c.waitLine((l) => l.startsWith('error auth'), 15_000)).toMatch(/code=Unauthorized/);
  expect(secrets.failures('127.0.0.1')).toBe(2);

  c.write(`auth token=${TOKENS[0]!.token}\n`);
  expect(await c.waitLine((l) => l.startsWith('ok auth'), 15_000)).toBe('ok auth role=operator');
  expect(secrets.failures('127.0.0.1')).toBe(0);
});
