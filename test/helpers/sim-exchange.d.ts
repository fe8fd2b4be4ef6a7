import type { Simulator } from '../../src/daemon/api.js';
import { Exchange, type ExchangeOptions, type ReplySplitter } from '../../src/links/index.js';
export type Transport = 'tcp' | 'pty';
/**
 * Opens the exchange and checks it is up. PTYs are opened at 8N1: Linux ignores the framing there,
 * and re-opening one with only 7E1 changed fails with EINVAL. The caller stops the exchange.
 */
export declare function simExchange(sim: Simulator, transport: Transport, splitter: ReplySplitter, options: ExchangeOptions & {
    baudRate?: number;
}): Promise<Exchange>;
/** Waits for an exchange event with a bound, so a broken reconnect fails the test instead of hanging it. */
export declare function nextEvent(ex: Exchange, event: 'up' | 'down', timeoutMs: number): Promise<void>;
