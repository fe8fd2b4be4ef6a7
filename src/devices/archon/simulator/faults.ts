/**
 * The Archon simulator's faults: the standard `linkDrop`, `garble` and `silence` of every
 * simulator (the kit's SimFaults) and the controller's own.
 */
import { STANDARD_FAULTS } from '../../kits/sim/index.js';

/**
 * `dropMidFetch` — the next FETCH closes the connection after half its blocks (one shot: the
 * switch turns itself off when it fires, so the retry succeeds); `refuse` — every recognised
 * command answers `?HH` with a log entry (unknown words stay silent); `stuckReadout` — a readout
 * stops at half its lines and never completes (BUFnLINES stop, BUFnCOMPLETE stays 0) until the
 * fault is switched off, when it carries on.
 */
export const ARCHON_UNIT_FAULTS = ['dropMidFetch', 'refuse', 'stuckReadout'] as const;
export const ARCHON_FAULTS = [...STANDARD_FAULTS, ...ARCHON_UNIT_FAULTS] as const;
export type ArchonUnitFault = (typeof ARCHON_UNIT_FAULTS)[number];
export type ArchonFault = (typeof ARCHON_FAULTS)[number];
