/**
 * The simulation kit: what every simulator shares besides its physics and its protocol. Seeded
 * noise and a fixed-step clock, a line session with byte timing, the request pacer, the standard
 * faults, and a bounded transcript. Serving on TCP and PTYs is links/sim-host.ts.
 */
export * from './faults.js';
export * from './line-session.js';
export * from './noise-and-clock.js';
export * from './paced-writer.js';
export * from './request-pacer.js';
export * from './transcript.js';
