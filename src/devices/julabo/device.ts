/**
 * The Julabo FL chiller as the generic daemon sees it: parameters, commands, model limits, the
 * poll plan and how the unit's status codes bear on `state`.
 */
import { z } from 'zod';
import { defineDevice, deviceFamily, type Limits } from '../../daemon/api.js';
import type { WireValue } from '../../wire/types.js';
import { LabwireError } from '../../wire/types.js';
import { stateForStatus } from './codec.js';
import { JULABO_SERIAL_DEFAULTS, JulaboDriver, julaboExchangeOptions, julaboSplitter } from './driver.js';
import { detectJulaboPort } from './detect.js';

export interface JulaboModel {
  /** Working temperature range from the model's manual, °C. */
  setpointMin: number;
  setpointMax: number;
  /** Where the figures come from, for people checking them. */
  reference: string;
}

/**
 * Models with documented limits. Only the FL1703 is documented here; add a model with its manual's
 * working range rather than guessing.
 */
export const JULABO_MODELS = {
  FL1703: { setpointMin: -20, setpointMax: 40, reference: 'FL1201/1203/1701/1703 manual, technical data' },
} as const satisfies Record<string, JulaboModel>;

export type JulaboModelName = keyof typeof JULABO_MODELS;
const MODEL_NAMES = Object.keys(JULABO_MODELS) as [JulaboModelName, ...JulaboModelName[]];

export const julaboOptionsSchema = z.object({
  model: z.enum(MODEL_NAMES, { error: `unknown Julabo model; known models: ${MODEL_NAMES.join(', ')}` }).default('FL1703'),
  /** The bath counts as at the setpoint within this, °C (the manual's stability is ±0.5 °C). */
  tolerance: z.number().positive().max(10).default(0.2),
  /** How long the bath must stay within tolerance before the device is idle again. */
  settleSeconds: z.number().min(0).max(3600).default(30),
  /** End requests with CR LF instead of the manual's CR. */
  crlf: z.boolean().default(false),
}).strict();

export type JulaboOptions = z.output<typeof julaboOptionsSchema>;

const DEFAULTS = julaboOptionsSchema.parse({});

const isRunning = (values: Readonly<Record<string, WireValue>>): boolean => values.running === true;

/** A failed reading with the device's own error (e.g. a broken sensor) is a missing value, not a poll failure. */
async function readOrNull<T extends WireValue>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof LabwireError && err.code === 'HardwareError') return null;
    throw err;
  }
}

export const julaboDevice = defineDevice<JulaboOptions, JulaboDriver>({
  type: 'julabo',
  title: 'Julabo FL recirculating chiller (RS232)',
  options: julaboOptionsSchema,
  serialDefaults: JULABO_SERIAL_DEFAULTS,
  exchange: julaboExchangeOptions,
  splitter: julaboSplitter,
  params: {
    temperature: {
      type: 'float',
      unit: '°C',
      description: 'bath temperature (in_pv_00)',
      deadband: 0.01,
      key: true,
    },
    setpoint: {
      type: 'float',
      unit: '°C',
      description: 'working temperature setpoint (in_sp_00 / out_sp_00), confirmed by read-back',
      readonly: false,
      key: true,
      target: {
        of: 'temperature',
        tolerance: DEFAULTS.tolerance,
        settleMs: DEFAULTS.settleSeconds * 1000,
        activeWhen: isRunning,
      },
      write: async (driver, value) => {
        if (typeof value !== 'number') throw new LabwireError('WrongType', `setpoint must be a number of °C, not ${String(value)}`);
        return driver.setSetpoint(value);
      },
    },
    running: {
      type: 'bool',
      description: 'refrigeration and pump running (in_mode_05 / out_mode_05)',
      readonly: false,
      write: async (driver, value) => {
        if (typeof value !== 'boolean') throw new LabwireError('WrongType', `running must be true or false, not ${String(value)}`);
        return driver.setRunning(value);
      },
    },
    status_code: {
      type: 'int',
      description: 'status code from the unit: 0..3 manual/remote stop/start, negative for alarms, warnings and refused commands',
    },
    status_text: {
      type: 'string',
      description: 'status text from the unit, e.g. REMOTE START or LOW LEVEL ALARM',
    },
    version: {
      type: 'string',
      description: 'software version string of the unit',
    },
  },
  commands: {
    start: {
      description: 'start the chiller (out_mode_05 1), confirmed by read-back',
      write: true,
      run: async (driver) => ({ running: await driver.start() }),
    },
    stop: {
      description: 'stop the chiller (out_mode_05 0), confirmed by read-back',
      write: true,
      run: async (driver) => ({ running: await driver.stop() }),
    },
  },
  // At 250 ms per command the unit serves 4 queries a second; this plan uses 1.6 on average.
  poll: [
    {
      name: 'fast',
      everyMs: 1000,
      read: async (driver) => ({ temperature: await readOrNull(() => driver.temperature()) }),
    },
    {
      name: 'slow',
      everyMs: 5000,
      read: async (driver) => {
        const setpoint = await readOrNull(() => driver.setpoint());
        const running = await readOrNull(() => driver.isRunning());
        const status = await driver.status();
        return { setpoint, running, status_code: status.code, status_text: status.text };
      },
    },
  ],
  createDriver: (exchange, options) => new JulaboDriver(exchange, { crlf: options.crlf }),
  limits: (options): Record<string, Limits> => {
    const model = JULABO_MODELS[options.model];
    return { setpoint: { min: model.setpointMin, max: model.setpointMax, source: options.model } };
  },
  targetTuning: (options) => ({
    setpoint: { tolerance: options.tolerance, settleMs: options.settleSeconds * 1000 },
  }),
  identify: async (driver) => ({ version: await driver.version() }),
  stateOverride: (values) => {
    const code = values.status_code;
    if (typeof code !== 'number') return undefined;
    const text = typeof values.status_text === 'string' ? values.status_text : '';
    return stateForStatus({ code, text });
  },
});

/** How much faster than `labwire demo --time-scale` the demo's bath runs (see `demo` below). */
export const JULABO_DEMO_SPEED_UP = 30;

export const julaboFamily = deviceFamily(julaboDevice, {
  loadSimulator: async () => (await import('./simulator.js')).createJulaboSimulator,
  detectPort: (options) => detectJulaboPort(options),
  plots: [{ id: 'temperature', name: 'Bath temperature', values: ['time', 'temperature', 'setpoint'], ylabel: '°C' }],
  // One alarm a newcomer can trip on purpose: `set setpoint=38`, and clear again with a lower one.
  // The real unit's 500 W heater takes over half an hour from 12 to 35 °C; the demo runs this
  // bath JULABO_DEMO_SPEED_UP times faster than the rest of the lab, so the alarm (2 s above 35 °C)
  // raises about 10 s after the set at the default --time-scale 10 (README's first session).
  demo: ({ name }) => ({
    timeScaleFactor: JULABO_DEMO_SPEED_UP,
    alarms: [{ id: `${name}_hot`, type: 'threshold', param: `${name}.temperature`, above: 35, hysteresis: 1, delay: '2s', severity: 'critical', description: 'bath above 35 °C' }],
  }),
});
