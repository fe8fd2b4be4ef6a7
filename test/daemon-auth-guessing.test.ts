/**
 * Guessing tokens over the line protocol: `auth` with a wrong token is answered only after the
 * address's back-off, and while one waits the others from that address are refused unchecked —
 * the web server's rules (src/server/secret-throttle.ts), on every labwire listener. A correct
 * token is still accepted once the back-off has run, and clears the count.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseTokenFile } from '../src/server/index.js';
import { startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import type { RawClient } from '../src/testing/raw-client.js';

const OPERATOR = 'operator-token-0123456789';
const TOKENS = parseTokenFile(`operator ${OPERATOR} bob\n`, 'tokens');

let lab: JulaboLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

describe('auth over the line protocol', () => {
  it('500 wrong tokens from one address: few are checked, the rest refused unchecked; the right token then works', async () => {
    // Short back-off so the test is quick; the rule is the same as with the defaults (250 ms → 10 s).
    lab = await startJulaboLab({}, { tokens: TOKENS, anonymousRole: 'viewer', authTimeoutMs: 0, authThrottle: { freeFailures: 3, baseDelayMs: 100, maxDelayMs: 400 } });
    const clients: RawClient[] = [];
    for (let i = 0; i < 20; i++) clients.push(await lab.client());
    // 25 guesses pipelined on each of 20 connections, all at once.
    const froms = clients.map((c) => c.lines.length);
    const started = Date.now();
    for (const [i, c] of clients.entries()) {
      c.write(Array.from({ length: 25 }, (_, k) => `auth token=wrong-guess-${i}-${k}-xxxxxxxx\n`).join(''));
    }
    const replies = (await Promise.all(clients.map((c, i) => c.replies(25, froms[i]!, 60_000)))).flat();
    const elapsed = Date.now() - started;
    expect(replies).toHaveLength(500);
    const checked = replies.filter((l) => l === 'error auth code=Unauthorized message="unknown token"').length;
    const refused = replies.filter((l) => /^error auth code=RateLimited message="too many attempts with a wrong token from this address; try again in \d+ s \(token not checked\)"$/.test(l)).length;
    process.stdout.write(`[figure] line-protocol auth: 500 wrong tokens → ${checked} checked, ${refused} refused unchecked\n`);
    expect(checked + refused).toBe(500);
    // Without the throttle every one of them was checked (the request rate limit allows 2,000 at
    // once). With it: the 3 free ones, the 100 and 200 ms back-offs, then one per 400 ms at most,
    // however many connections ask — a rate, so a slow machine only makes the bound larger.
    expect(checked).toBeLessThanOrEqual(3 + 2 + Math.ceil(elapsed / 400) + 1);
    expect(refused).toBeGreaterThan(checked);

    // Once the address's back-off has run, the correct token is accepted and clears the count.
    const c = clients[0]!;
    let reply = '';
    for (let i = 0; i < 100 && reply !== 'ok auth role=operator'; i++) {
      reply = await c.request(`auth token=${OPERATOR}`);
      if (reply !== 'ok auth role=operator') await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toBe('ok auth role=operator');
    expect(await c.request('set setpoint=12')).toBe('ok set setpoint=12');
    // The count was cleared: the next typo is answered at once again, as any of the first few are.
    expect(await clients[1]!.request('auth token=one-more-typo-xxxxxxxx')).toBe('error auth code=Unauthorized message="unknown token"');
  }, 90_000);
});
