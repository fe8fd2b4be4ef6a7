/** Shared by the outage writer and its tests (the writer is a script: importing it would run it). */
export const OUTAGE_SERIES = 4;
