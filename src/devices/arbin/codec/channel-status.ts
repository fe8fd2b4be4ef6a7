/** Channel status codes (i16 at record offset 4). */

/** Status names as labwire reports them (`ch3.status=charge`), indexed by code. */
export const CHANNEL_STATUS = [
  'idle',
  'transition',
  'charge',
  'discharge',
  'rest',
  'wait',
  'external_charge',
  'calibration',
  'unsafe',
  'pulse',
  'internal_resistance',
  'ac_impedance',
  'aci_cell',
  'test_settings',
  'error',
  'finished',
  'volt_meter',
  'waiting_for_acs',
  'pause',
  'empty',
  'idle_from_mcu',
  'start',
  'running',
  'step_transfer',
  'resume',
  'go_pause',
  'go_stop',
  'go_next_step',
  'online_update',
  'daq_memory_unsafe',
  'acr',
] as const;
export type ChannelStatusName = (typeof CHANNEL_STATUS)[number] | 'unknown';

/** The vendor's wording, for people. */
export const CHANNEL_STATUS_TEXT: readonly string[] = [
  'Idle',
  'Transition',
  'Charge',
  'Discharge',
  'Rest',
  'Wait',
  'External Charge',
  'Calibration',
  'Unsafe',
  'Pulse',
  'Internal Resistance',
  'AC Impedance',
  'ACI Cell',
  'Test Settings',
  'Error',
  'Finished',
  'Volt Meter',
  'Waiting for ACS',
  'Pause',
  'Empty',
  'Idle from MCU',
  'Start',
  'Running',
  'Step Transfer',
  'Resume',
  'Go Pause',
  'Go Stop',
  'Go Next Step',
  'Online Update',
  'DAQ Memory Unsafe',
  'ACR',
];

export const STATUS = Object.fromEntries(CHANNEL_STATUS.map((name, code) => [name, code])) as Record<(typeof CHANNEL_STATUS)[number], number>;

export function statusName(code: number): ChannelStatusName {
  return CHANNEL_STATUS[code] ?? 'unknown';
}

/** Statuses that mean a channel needs a person. */
export const ALARM_STATUSES: ReadonlySet<number> = new Set([STATUS.unsafe, STATUS.error, STATUS.daq_memory_unsafe]);

/** Statuses in which a test is active (a channel that cannot take START). */
export const ACTIVE_STATUSES: ReadonlySet<number> = new Set([
  STATUS.transition,
  STATUS.charge,
  STATUS.discharge,
  STATUS.rest,
  STATUS.wait,
  STATUS.external_charge,
  STATUS.pulse,
  STATUS.internal_resistance,
  STATUS.ac_impedance,
  STATUS.aci_cell,
  STATUS.pause,
  STATUS.start,
  STATUS.running,
  STATUS.step_transfer,
  STATUS.resume,
  STATUS.go_pause,
  STATUS.go_stop,
  STATUS.go_next_step,
  STATUS.acr,
]);
