/**
 * An Arbin cycler (MITS Pro over CTI) as the generic daemon sees it: one daemon per cycler,
 * per-channel parameters (`ch3.voltage`, `ch3.status`, …), the test commands, the login as the
 * identify step after every connect, and one GET_CHANNELS_INFO for all channels per poll.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { boolOption, defineDevice, deviceFamily, type CommandDecl, type ParamDecl, type StateOverride } from '../../daemon/api.js';
import { numbered, vector } from '../../daemon/declare.js';
import { LabwireError, type WireValue } from '../../wire/types.js';
import { AUX_TYPES, CHANNEL_STATUS, CHANNEL_STATUS_TEXT, META_VARIABLE_COUNT, STATUS, parseMetaVariable, statusName, type ChannelRecord } from './codec.js';
import { ArbinDriver, arbinExchangeOptions, arbinSplitter } from './driver.js';

/**
 * Channels declared when the `channels` option is not given: the common MITS Pro cabinet and the
 * simulator's default. Declared channels the cycler does not have read as missing.
 */
export const ARBIN_PARAM_CHANNELS = 16;

export const arbinOptionsSchema = z.object({
  /** `.env`-style file with ARBIN_CTI_USERNAME and ARBIN_CTI_PASSWORD (else the environment). */
  secretsFile: z.string().min(1).optional(),
  /** Channel readings only, like pycti's CyclerInterface: no control command is ever sent. */
  readOnly: boolOption.default(false),
  /**
   * `all`: one GET_CHANNELS_INFO for every channel (OnlyChannel −1, one message with N records, as
   * MITS Pro 8 and the simulator answer). `each`: one request per channel, for servers that answer
   * "all" differently (the pycti spoofer wraps −1 to its last channel).
   */
  pollMode: z.enum(['all', 'each']).default('all'),
  /** Feedback timeout (vendor advice ≈ 10 s). */
  replyTimeoutMs: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Channels of this cycler: only these get parameters, are read, and take commands. */
  channels: z.coerce.number().int().min(1).max(512).default(ARBIN_PARAM_CHANNELS),
});

export type ArbinOptions = z.output<typeof arbinOptionsSchema>;

/** The per-channel parameters: suffix → declaration (without the channel in the description). Channel 1's status, voltage and current are the overview's key values. */
const CHANNEL_PARAMS: Array<[string, (ch: number) => ParamDecl<ArbinDriver>]> = [
  ['status', (ch) => ({ type: 'enum', values: [...CHANNEL_STATUS, 'unknown'], key: ch === 1, description: `channel ${ch} status (idle, charge, discharge, rest, finished, unsafe, …)` })],
  ['status_code', (ch) => ({ type: 'int', description: `channel ${ch} status code as the cycler sends it (0 idle, 2 charge, 3 discharge, 4 rest, 15 finished, …)` })],
  ['voltage', (ch) => ({ type: 'float', unit: 'V', deadband: 0.0005, key: ch === 1, description: `channel ${ch} cell voltage` })],
  ['current', (ch) => ({ type: 'float', unit: 'A', deadband: 0.0005, key: ch === 1, description: `channel ${ch} current (positive: charge)` })],
  ['power', (ch) => ({ type: 'float', unit: 'W', deadband: 0.001, description: `channel ${ch} power` })],
  ['charge_capacity', (ch) => ({ type: 'float', unit: 'Ah', deadband: 0.0001, description: `channel ${ch} charge capacity of the test` })],
  ['discharge_capacity', (ch) => ({ type: 'float', unit: 'Ah', deadband: 0.0001, description: `channel ${ch} discharge capacity of the test` })],
  ['charge_energy', (ch) => ({ type: 'float', unit: 'Wh', deadband: 0.0001, description: `channel ${ch} charge energy of the test` })],
  ['discharge_energy', (ch) => ({ type: 'float', unit: 'Wh', deadband: 0.0001, description: `channel ${ch} discharge energy of the test` })],
  ['test_time', (ch) => ({ type: 'float', unit: 's', description: `channel ${ch} time since the test started` })],
  ['step_time', (ch) => ({ type: 'float', unit: 's', description: `channel ${ch} time since the step started` })],
  ['internal_resistance', (ch) => ({ type: 'float', unit: 'Ω', description: `channel ${ch} internal resistance` })],
  ['schedule', (ch) => ({ type: 'string', description: `channel ${ch} assigned schedule file, e.g. Charge.sdx` })],
  ['test_name', (ch) => ({ type: 'string', description: `channel ${ch} name of the test` })],
  ['step', (ch) => ({ type: 'string', description: `channel ${ch} cycle and step, e.g. "[1] 1: Step_A, Rest"` })],
  ['comm_failure', (ch) => ({ type: 'bool', description: `channel ${ch} cannot reach its MCU (CommFailure)` })],
];

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

/** One record → its parameter values. */
export function channelValues(ch: number, r: ChannelRecord | undefined): Record<string, WireValue> {
  const p = `ch${ch}.`;
  if (!r) return Object.fromEntries(CHANNEL_PARAMS.map(([suffix]) => [p + suffix, null]));
  return {
    [`${p}status`]: statusName(r.status),
    [`${p}status_code`]: r.status,
    [`${p}voltage`]: r.voltage,
    [`${p}current`]: r.current,
    [`${p}power`]: r.power,
    [`${p}charge_capacity`]: r.chargeCapacity,
    [`${p}discharge_capacity`]: r.dischargeCapacity,
    [`${p}charge_energy`]: r.chargeEnergy,
    [`${p}discharge_energy`]: r.dischargeEnergy,
    [`${p}test_time`]: round(r.testTime, 3),
    [`${p}step_time`]: round(r.stepTime, 3),
    [`${p}internal_resistance`]: r.internalResistance,
    [`${p}schedule`]: r.schedule,
    [`${p}test_name`]: r.testName,
    [`${p}step`]: r.stepText,
    [`${p}comm_failure`]: r.commFailure,
  };
}

/** Every field of one record, for the `channel_info` command. */
export function recordResult(r: ChannelRecord): Record<string, WireValue> {
  const out: Record<string, WireValue> = {
    channel: r.channel,
    status: statusName(r.status),
    status_code: r.status,
    status_text: CHANNEL_STATUS_TEXT[r.status] ?? `unknown status ${r.status}`,
    comm_failure: r.commFailure,
    schedule: r.schedule,
    test_name: r.testName,
    step: r.stepText,
    exit_condition: r.exitCondition,
    barcode: r.barcode,
    can_config: r.canConfig,
    smb_config: r.smbConfig,
    master_channel: r.masterChannel,
    test_time: round(r.testTime, 3),
    step_time: round(r.stepTime, 3),
    voltage: r.voltage,
    current: r.current,
    power: r.power,
    charge_capacity: r.chargeCapacity,
    discharge_capacity: r.dischargeCapacity,
    charge_energy: r.chargeEnergy,
    discharge_energy: r.dischargeEnergy,
    internal_resistance: r.internalResistance,
    dvdt: r.dvdt,
    acr: r.acr,
    aci: r.aci,
    aci_phase: r.aciPhase,
  };
  for (const t of AUX_TYPES) r.aux[t].forEach((a, i) => (out[`aux_${t}_${i + 1}`] = a.value));
  r.bms.forEach((b) => (out[`bms_${b.index}`] = b.value));
  r.smb.forEach((s) => (out[`smb_${s.index}`] = s.value));
  return out;
}

function channelArgFor(channels: number) {
  return {
    type: 'int',
    min: 1,
    description: `channel number, 1–${channels} (channel 0 does not exist; it is never sent as −1 = all channels)`,
  } as const;
}

/**
 * A channel the cycler has but this daemon does not declare (option `channels`) has no
 * parameters to show what a command did, so commands refuse it too. The cycler's own count is
 * checked first: its message names what the hardware has.
 */
function declaredChannel(driver: ArbinDriver, channel: number, channels: number, command: string): number {
  driver.checkChannel(channel, command);
  if (channel > channels) {
    throw new LabwireError('RangeError', `channel ${channel} is not declared: this daemon shows channels 1 … ${channels} (device option channels=${channels})`, command);
  }
  return channel;
}

/**
 * Reads the channel back after a command, so the reply shows what the cycler did. The command
 * itself succeeded: a failed read-back leaves the status out rather than turning it into an error.
 */
async function statusAfter(driver: ArbinDriver, channel: number): Promise<Record<string, WireValue>> {
  try {
    const r = await driver.channelInfo(channel);
    return { channel, status: statusName(r.status) };
  } catch {
    return { channel };
  }
}

function commands(channels: number): Record<string, CommandDecl<ArbinDriver>> {
  const channelArg = channelArgFor(channels);
  const int = (v: WireValue | undefined): number => Number(v);
  const ch = (driver: ArbinDriver, args: Record<string, WireValue>, command: string): number => declaredChannel(driver, int(args.channel), channels, command);
  const str = (v: WireValue | undefined): string => (v === undefined || v === null ? '' : String(v));
  return {
    start: {
      description: 'assign a schedule to a channel (if given) and start a test on it: start channel=3 test=t1 schedule=Charge.sdx',
      write: true,
      args: {
        channel: channelArg,
        test: { type: 'string', description: 'test name (not empty; at most 71 characters)' },
        schedule: { type: 'string', optional: true, description: 'schedule file to assign first, e.g. Charge.sdx; omit to use the one assigned' },
        capacity: { type: 'float', unit: 'Ah', min: 0, optional: true, description: 'test capacity given with the schedule (default 1 Ah)' },
      },
      run: async (driver, args) => {
        const channel = ch(driver, args, 'start');
        await driver.startTest({
          channels: channel,
          testName: str(args.test),
          ...(args.schedule !== undefined ? { schedule: str(args.schedule) } : {}),
          ...(args.capacity !== undefined ? { capacityAh: Number(args.capacity) } : {}),
        });
        return statusAfter(driver, channel);
      },
    },
    stop: {
      description: 'stop the test on a channel: stop channel=3',
      write: true,
      args: { channel: channelArg },
      run: async (driver, args) => {
        const channel = ch(driver, args, 'stop');
        await driver.stopTest(channel);
        return statusAfter(driver, channel);
      },
    },
    resume: {
      description: 'resume the stopped test on a channel: resume channel=3',
      write: true,
      args: { channel: channelArg },
      run: async (driver, args) => {
        const channel = ch(driver, args, 'resume');
        await driver.resumeTest(channel);
        return statusAfter(driver, channel);
      },
    },
    set_mv: {
      description: 'set a meta variable of a running test (at most once per 200 ms each): set_mv channel=3 mv=UD1 value=1.5',
      write: true,
      args: {
        channel: channelArg,
        mv: { type: 'enum', values: Array.from({ length: META_VARIABLE_COUNT }, (_, i) => `UD${i + 1}`), description: 'meta variable MV_UD1 … MV_UD16' },
        value: { type: 'float', description: 'the new value (a 32-bit float on the wire)' },
      },
      run: async (driver, args) => {
        const ud = parseMetaVariable(str(args.mv));
        const channel = ch(driver, args, 'set_mv');
        await driver.setMetaVariable(channel, ud, Number(args.value));
        return { channel, mv: `UD${ud}`, value: Number(args.value) };
      },
    },
    channel_info: {
      description: 'every field the cycler reports for one channel, aux values included: channel_info channel=3',
      write: false,
      args: { channel: channelArg },
      run: async (driver, args) => recordResult(await driver.channelInfo(ch(driver, args, 'channel_info'), { aux: { aux: true, bms: true, smb: true } })),
    },
  };
}

/** State from the cached values: alarms on any channel are a warning; otherwise a summary. */
export function arbinStateOverride(values: Readonly<Record<string, WireValue>>, channels = ARBIN_PARAM_CHANNELS): StateOverride | undefined {
  const problems: string[] = [];
  const active: string[] = [];
  for (let ch = 1; ch <= channels; ch++) {
    const code = values[`ch${ch}.status_code`];
    if (values[`ch${ch}.comm_failure`] === true) problems.push(`channel ${ch} cannot reach its MCU`);
    if (typeof code !== 'number') continue;
    const name = statusName(code);
    if (name === 'unknown') problems.push(`channel ${ch} reports unknown status code ${code}`);
    else if (code === STATUS.unsafe || code === STATUS.error || code === STATUS.daq_memory_unsafe) problems.push(`channel ${ch} is ${CHANNEL_STATUS_TEXT[code]}`);
    else if (code !== STATUS.idle && code !== STATUS.finished && code !== STATUS.idle_from_mcu && code !== STATUS.empty) active.push(`${ch} (${name})`);
  }
  if (problems.length > 0) return { state: 'warn', text: problems.join('; ') };
  if (values.channel_count === undefined) return undefined;
  const readOnly = values.allow_control === false ? '; this CTI user may not control the cycler' : '';
  return { state: 'idle', text: (active.length > 0 ? `channels running: ${active.join(', ')}` : 'no test running') + readOnly };
}

/** The cycler's parameters: login facts, then one block per declared channel. */
export function arbinParams(channels: number): Record<string, ParamDecl<ArbinDriver>> {
  return {
    serial_number: { type: 'string', description: 'serial number of the cycler (from the login reply)' },
    channel_count: { type: 'int', description: 'channels the cycler reports (login reply, then every poll)' },
    allow_control: { type: 'bool', description: 'the CTI user may control the cycler (IsAllowToControl at login)' },
    ...vector(numbered(channels), (ch) => Object.fromEntries(CHANNEL_PARAMS.map(([suffix, decl]) => [`ch${ch}.${suffix}`, decl(ch)]))),
  };
}

export const arbinDevice = defineDevice<ArbinOptions, ArbinDriver>({
  type: 'arbin',
  title: 'Arbin battery cycler (MITS Pro CTI over TCP)',
  options: arbinOptionsSchema,
  exchange: arbinExchangeOptions,
  splitter: () => arbinSplitter(),
  params: (options) => arbinParams(options.channels),
  commands: (options) => commands(options.channels),
  poll: (options) => [
    {
      name: 'channels',
      everyMs: 1000,
      read: async (driver) => {
        // One request per channel reads only the declared ones; "all" is one message either way.
        const records =
          driver.pollMode === 'each' ? await driver.channelsOneByOne(Math.min(options.channels, driver.session?.channelCount ?? 0)) : await driver.readAllChannels();
        const byChannel = new Map(records.map((r) => [r.channel, r]));
        const values: Record<string, WireValue> = { channel_count: driver.pollMode === 'all' ? records.length : (driver.session?.channelCount ?? records.length) };
        for (let ch = 1; ch <= options.channels; ch++) Object.assign(values, channelValues(ch, byChannel.get(ch)));
        return values;
      },
    },
  ],
  createDriver: (exchange, options) =>
    new ArbinDriver(exchange, {
      secretsFile: options.secretsFile,
      readOnly: options.readOnly,
      pollMode: options.pollMode,
      timeoutMs: options.replyTimeoutMs,
    }),
  identify: async (driver) => {
    const s = await driver.login();
    return { serial_number: s.serialNumber, channel_count: s.channelCount, allow_control: s.allowControl };
  },
  stateOverride: (values, options) => arbinStateOverride(values, options?.channels),
});

/**
 * The demo lab's simulated cycler and its daemon share a random password through a secrets file
 * in the demo's data folder (mode 600), so nothing secret is on a command line or in the config.
 */
function demoCredentials(ctx: { dataDir: string }): { simulatorOptions: Record<string, unknown>; deviceOptions: Record<string, unknown> } {
  const file = path.join(ctx.dataDir, 'arbin-demo.env');
  const password = randomBytes(12).toString('hex');
  fs.mkdirSync(ctx.dataDir, { recursive: true });
  fs.writeFileSync(file, `ARBIN_CTI_USERNAME=demo\nARBIN_CTI_PASSWORD=${password}\n`, { mode: 0o600 });
  return { simulatorOptions: { secretsFile: file }, deviceOptions: { secretsFile: file } };
}

export const arbinFamily = deviceFamily(arbinDevice, {
  loadSimulator: async () => (await import('./simulator.js')).createArbinSimulator,
  demo: demoCredentials,
  plots: [{ id: 'ch1', name: 'Channel 1', values: ['time', 'ch1.voltage', 'ch1.current'], ylabel: 'V, A' }],
});
