/**
 * The device conformance suite for the Archon family, and the delaying-proxy scenario: every
 * STATUS, FRAME and SYSTEM value the daemon publishes must be the simulator's answer to that very
 * request, which the Archon's message ids make checkable beyond position.
 */
import { archonFamily, frameValues, statusValues, systemValues } from '../../src/devices/archon/device.js';
import { archonExchangeOptions } from '../../src/devices/archon/driver.js';
import { parseFrame, parseKeyValues, parseReply, parseRequest } from '../../src/devices/archon/codec.js';
import { createArchonSimulator, type ArchonSimulator } from '../../src/devices/archon/simulator/index.js';
import { lineSplitter } from '../../src/links/splitters.js';
import { deviceConformance } from '../../src/testing/conformance/suite.js';
import type { LateReplySubject } from '../../src/testing/conformance/late-replies.js';
import type { WireValue } from '../../src/wire/types.js';

/** Slots the demo backplane (X12, slots 2…11 populated) leaves empty, and readings it does not have. */
const ABSENT: string[] = [
  'FANTACH',
  ...[1, 12, 13, 14, 15, 16].map((n) => `MOD${n}_TEMP`),
  ...[13, 14, 15, 16].flatMap((n) => [`MOD${n}_TYPE`, `MOD${n}_REV`, `MOD${n}_VERSION`, `MOD${n}_ID`]),
];

/** Which values a reply carries, decoded the way the daemon decodes them. */
function archonValues(request: Buffer, reply: Buffer): Record<string, WireValue> {
  const req = parseRequest(request.toString('latin1').replace(/\n$/, ''));
  const parsed = parseReply(reply);
  if (!req || parsed.kind !== 'ok' || parsed.id !== req.id) return {};
  switch (req.command) {
    case 'STATUS': {
      const values = statusValues(parseKeyValues(parsed.body));
      return values;
    }
    case 'FRAME':
      return frameValues(parseFrame(parsed.body));
    case 'SYSTEM':
      return systemValues(parseKeyValues(parsed.body));
    default:
      return {};
  }
}

function archonLateReplies(seed: number): LateReplySubject {
  return {
    family: archonFamily,
    createSimulator: () => createArchonSimulator({ seed, fetchRate: 0, timeScale: 10 }),
    requestSplitter: () => lineSplitter({ terminators: ['\n'], stripCR: true, skipEmpty: true }),
    // The simulator answers every word the driver sends while polling.
    answered: () => true,
    values: archonValues,
    exchange: {
      ...archonExchangeOptions,
      timeoutMs: 200,
      resyncQuietMs: 100,
      resyncProbe: { ...archonExchangeOptions.resyncProbe!, timeoutMs: 200 },
    },
    pollDivisor: 10,
  };
}

deviceConformance<ArchonSimulator>({
  family: archonFamily,
  simulatorOptions: { fetchRate: 0, timeScale: 10 },
  createSimulator: (o) => createArchonSimulator(o),
  deviceOptions: { pollMs: 300 },
  // Polled in every STATUS and constant on a healthy simulator: its timestamp shows the polling.
  freshParam: 'power',
  whileDown: 'set_param name=IntMS value=10',
  mayBeMissing: ABSENT,
  dropLink: (sim) => sim.setFault('linkDrop', true),
  restoreLink: (sim) => sim.setFault('linkDrop', false),
  garbleReplies: (sim, n) => sim.garbleNextReplies(n),
  refreshMs: 15_000,
  lateReplies: archonLateReplies,
});
