/**
 * A driver's real path to a simulator, for end-to-end driver tests: the simulator served on a real
 * TCP socket or a real pseudo-terminal, and an Exchange with the device's own pacing in front of it.
 */
import { expect } from 'vitest';
import type { Simulator } from '../daemon/api.js';
import { createLink, Exchange, type ExchangeOptions, type LinkSpec, type ReplySplitter } from '../links/index.js';

export type Transport = 'tcp' | 'pty';

/**
 * Opens the exchange and checks it is up. PTYs are opened at 8N1: Linux ignores the framing there,
 * and re-opening one with only 7E1 changed fails with EINVAL. The caller stops the exchange.
 */
export async function simExchange(
  sim: Simulator,
  transport: Transport,
  splitter: ReplySplitter,
  options: ExchangeOptions & { baudRate?: number },
): Promise<Exchange> {
  const { baudRate = 9600, ...exchangeOptions } = options;
  const spec: LinkSpec =
    transport === 'tcp'
      ? { kind: 'tcp', host: '127.0.0.1', port: await sim.listenTcp('127.0.0.1', 0) }
      : { kind: 'serial', path: await sim.listenPty(), baudRate, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false };
  // Fast reconnects keep link-drop tests short.
  const exchange = new Exchange(() => createLink(spec), splitter, { initialBackoffMs: 50, maxBackoffMs: 200, ...exchangeOptions });
  await exchange.start();
  expect(exchange.isUp).toBe(true);
  return exchange;
}

/** Waits for an exchange event with a bound, so a broken reconnect fails the test instead of hanging it. */
export function nextEvent(ex: Exchange, event: 'up' | 'down', timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    ex.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
