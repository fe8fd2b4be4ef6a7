/**
 * The driver side every instrument behind the GPIB bus shares: how its messages are framed and how
 * its Exchange is paced. A family adds only its identity query, the one request whose answer
 * proves the link in step again.
 */
import { lineSplitter } from '../../../links/splitters.js';
import type { ExchangeOptions, ReplySplitter, ResyncProbe } from '../../../links/types.js';

/**
 * A message with its LF: a GPIB link strips it (the adapter ends the message with EOI and its
 * end-of-string), a byte link would need it.
 */
export function gpibMessage(command: string): string {
  return `${command}\n`;
}

/** Instrument replies end with LF (CR LF for some): one reply per line, the CR dropped. */
export function gpibReplySplitter(maxLength = 1024): ReplySplitter {
  return lineSplitter({ terminators: ['\n'], stripCR: true, skipEmpty: true, maxLength });
}

/**
 * Exchange options for an instrument behind the bus: the bus daemon pairs every reply with its own
 * request, so no late reply can arrive and a short silence is enough before the probe.
 */
export function gpibInstrumentExchange(probe: ResyncProbe, overrides: Partial<ExchangeOptions> = {}): ExchangeOptions {
  return {
    minGapMs: 20,
    gapAfterReplyMs: 10,
    timeoutMs: 2000,
    resyncQuietMs: 100,
    resyncProbe: probe,
    silentLinkMs: 10_000,
    initialBackoffMs: 500,
    maxBackoffMs: 10_000,
    ...overrides,
  };
}
