import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually as poll } from '../../testing/eventually.js';
import { startDaemon, type Daemon, type DaemonOptions } from '../../daemon/daemon.js';
import { silentLogger } from '../../util/logger.js';
import type { DescribeDoc, StatusDoc } from '../../wire/types.js';
import { RawClient } from '../../testing/raw-client.js';
import { CMD, blankChannelRecord } from './codec.js';
import { resolveDevice } from '../../daemon/resolved-device.js';
import { ARBIN_PARAM_CHANNELS, arbinDevice, arbinFamily, arbinOptionsSchema, arbinStateOverride, channelValues, recordResult } from './device.js';
import { ArbinSimulator, type ArbinSimulatorOptions } from './simulator.js';

/** The definition as a daemon with these options sees it. */
const resolved = (options: Record<string, unknown> = {}): ReturnType<typeof resolveDevice> => resolveDevice(arbinDevice, { options });

const CREDS = { username: 'lab', password: 'cell-42' };

function secretsFile(text = `ARBIN_CTI_USERNAME=${CREDS.username}\nARBIN_CTI_PASSWORD=${CREDS.password}\n`): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbin-dev-'));
  const file = path.join(dir, 'cti.env');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** This file's waits allow 8 s, polled every 50 ms (the cycler simulator's refresh). */
const eventually = <T>(check: () => T | Promise<T>, timeoutMs = 8000): Promise<T> => poll(check, timeoutMs, 50);

describe('arbin device definition', () => {
  it('accepts {} and fills the defaults; options may be strings', () => {
    expect(arbinOptionsSchema.parse({})).toEqual({ readOnly: false, pollMode: 'all', replyTimeoutMs: 10_000, channels: 16 });
    expect(arbinOptionsSchema.parse({ readOnly: 'yes', pollMode: 'each', replyTimeoutMs: '3000', secretsFile: '/x' })).toEqual({ readOnly: true, pollMode: 'each', replyTimeoutMs: 3000, secretsFile: '/x', channels: 16 });
    expect(arbinOptionsSchema.safeParse({ pollMode: 'some' }).success).toBe(false);
  });

  it('declares cycler parameters, then 16 channels of the same parameters with units', () => {
    const names = Object.keys(resolved().params);
    expect(names.slice(0, 5)).toEqual(['serial_number', 'channel_count', 'allow_control', 'ch1.status', 'ch1.status_code']);
    expect(names).toHaveLength(3 + 16 * ARBIN_PARAM_CHANNELS);
    expect(names).toContain('ch16.step');
    const p = resolved().params;
    expect(p['ch3.voltage']).toMatchObject({ type: 'float', unit: 'V' });
    expect(p['ch3.current']).toMatchObject({ type: 'float', unit: 'A' });
    expect(p['ch3.charge_capacity']).toMatchObject({ unit: 'Ah' });
    expect(p['ch3.discharge_energy']).toMatchObject({ unit: 'Wh' });
    expect(p['ch3.test_time']).toMatchObject({ unit: 's' });
    expect(p['ch3.status']?.values).toContain('charge');
    expect(Object.values(p).every((d) => d.readonly !== false && !d.write)).toBe(true);
    expect(Object.keys(resolved({ channels: 2 }).params)).toHaveLength(3 + 32);
    expect(arbinFamily.definition.type).toBe('arbin');
  });

  it('declares the commands with 1-based channel arguments', () => {
    const c = resolved().commands;
    expect(Object.keys(c)).toEqual(['start', 'stop', 'resume', 'set_mv', 'channel_info']);
    expect(Object.keys(c.start!.args!)).toEqual(['channel', 'test', 'schedule', 'capacity']);
    expect(c.start!.args!.channel).toMatchObject({ type: 'int', min: 1 });
    expect(c.set_mv!.args!.mv?.values).toHaveLength(16);
    expect([c.start!.write, c.stop!.write, c.resume!.write, c.set_mv!.write, c.channel_info!.write]).toEqual([true, true, true, true, false]);
  });

  it('maps a record to parameters, and a missing channel to missing values', () => {
    const v = channelValues(3, { ...blankChannelRecord(3), status: 2, voltage: 3.9, testTime: 1.23456789 });
    expect(v).toMatchObject({ 'ch3.status': 'charge', 'ch3.status_code': 2, 'ch3.voltage': 3.9, 'ch3.test_time': 1.235 });
    expect(Object.values(channelValues(4, undefined)).every((x) => x === null)).toBe(true);
    const r = blankChannelRecord(2);
    r.aux.temperature.push({ value: 25.5, dt: 0 });
    r.smb.push({ index: 4, value: 'ok', unit: '' });
    expect(recordResult(r)).toMatchObject({ channel: 2, status: 'idle', status_text: 'Idle', aux_temperature_1: 25.5, smb_4: 'ok' });
  });

  it('derives state: a warning for unsafe, failing or unknown channels, otherwise a summary', () => {
    expect(arbinStateOverride({})).toBeUndefined();
    expect(arbinStateOverride({ channel_count: 16, 'ch1.status_code': 0, 'ch3.status_code': 2 })).toEqual({ state: 'idle', text: 'channels running: 3 (charge)' });
    expect(arbinStateOverride({ channel_count: 16, allow_control: false })).toEqual({ state: 'idle', text: 'no test running; this CTI user may not control the cycler' });
    expect(arbinStateOverride({ 'ch5.status_code': 8, 'ch6.comm_failure': true, 'ch7.status_code': 99 })).toEqual({
      state: 'warn',
      text: 'channel 5 is Unsafe; channel 6 cannot reach its MCU; channel 7 reports unknown status code 99',
    });
  });
});

describe('arbin daemon against the simulator', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function lab(simOptions: ArbinSimulatorOptions = {}, deviceOptions: Record<string, unknown> = {}, daemonOptions: Partial<DaemonOptions> = {}) {
    const sim = new ArbinSimulator({ ...CREDS, noise: 0, timeScale: 600, ...simOptions }, { env: {} });
    cleanup.push(() => sim.close());
    const simPort = await sim.listenTcp('127.0.0.1', 0);
    const daemon: Daemon = await startDaemon({
      definition: arbinFamily.definition,
      options: { secretsFile: secretsFile(), ...deviceOptions },
      link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
      name: 'cycler',
      port: 0,
      logger: silentLogger(),
      version: 'test',
      ...daemonOptions,
    });
    cleanup.push(() => daemon.close());
    const c = await RawClient.connect(daemon.port);
    cleanup.push(() => c.close());
    const status = async (): Promise<StatusDoc> => JSON.parse((await c.request('get_status format=json')).slice('status_json '.length)) as StatusDoc;
    const values = async (): Promise<StatusDoc['values']> => (await status()).values;
    return { sim, daemon, c, status, values };
  }

  it('logs in, polls all channels with one request per cycle, and shows every parameter', async () => {
    const { sim, values } = await lab({ serialNumber: '207855' });
    const v = await eventually(async () => {
      const v = await values();
      expect(v.state).toBe('idle');
      return v;
    });
    expect(v).toMatchObject({ hw_connected: true, serial_number: '207855', channel_count: 16, allow_control: true, state_text: 'no test running' });
    for (let ch = 1; ch <= 16; ch++) {
      expect(v[`ch${ch}.status`]).toBe('idle');
      expect(v[`ch${ch}.voltage`]).toBe(3.75);
    }
    const missing = Object.keys(resolved().params).filter((k) => v[k] === null || v[k] === undefined);
    expect(missing).toEqual([]);
    const polls = sim.transcript.filter((e) => e.cmd === CMD.GET_CHANNELS_INFO);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((e) => e.channelIndex === -1)).toBe(true);
    expect(sim.transcript[0]?.cmd).toBe(CMD.LOGIN);
  });

  it('start, set_mv while it runs, voltage rises, stop; errors name the cause', async () => {
    const { sim, c, values } = await lab();
    await eventually(async () => expect((await values()).state).toBe('idle'));
    expect(await c.request('start channel=3 test=t1 schedule=MV_Charge.sdx')).toBe('ok start channel=3 status=charge');
    expect(await c.request('set_mv 3 UD1 1.5')).toBe('ok set_mv channel=3 mv=UD1 value=1.5');
    const v0 = Number((await values())['ch3.voltage']);
    await eventually(async () => {
      const v = await values();
      expect(v['ch3.current']).toBe(1.5);
      expect(Number(v['ch3.voltage'])).toBeGreaterThan(v0 + 0.02);
      expect(v['ch3.test_name']).toBe('t1');
      expect(v['ch3.schedule']).toBe('MV_Charge.sdx');
      expect(v.state_text).toBe('channels running: 3 (charge)');
    });
    expect(await c.request('start channel=3 test=t2')).toBe(
      'error start code=HardwareError message="cycler refused START_SCHEDULE of test \\"t2\\" on channel 3: channel is running or unsafe (result 0x12)"',
    );
    expect(await c.request('channel_info channel=3')).toMatch(/^ok channel_info channel=3 status=charge status_code=2 status_text=Charge .*exit_condition="Voltage >= 4\.2 V"/);
    expect(await c.request('stop channel=3')).toBe('ok stop channel=3 status=idle');
    expect(await c.request('set_mv channel=3 mv=UD1 value=1')).toBe(
      'error set_mv code=HardwareError message="cycler refused SET_MV_VALUE of MV_UD1 = 1 on channel 3: channel is not running (result 0x12)"',
    );
    expect(await c.request('resume channel=3')).toBe('ok resume channel=3 status=charge');
    expect(sim.channel(3).status).toBe(2);
  });

  it('refuses channel 0 with a clear error and sends nothing for it', async () => {
    const { sim, c, values } = await lab();
    await eventually(async () => expect((await values()).state).toBe('idle'));
    for (const line of ['stop channel=0', 'set_mv channel=0 mv=UD1 value=1', 'start channel=0 test=t schedule=Rest.sdx', 'resume 0', 'channel_info 0']) {
      const name = line.split(' ')[0]!;
      expect(await c.request(line)).toBe(`error ${name} code=RangeError message="channel 0 is below the arbin limit of 1"`);
    }
    expect(await c.request('stop channel=17')).toBe('error stop code=RangeError message="channel 17 does not exist: this cycler has 16 channels (1 … 16)"');
    expect(sim.transcript.filter((e) => e.cmd !== CMD.LOGIN && e.cmd !== CMD.GET_CHANNELS_INFO)).toEqual([]);
    expect(sim.transcript.some((e) => e.cmd === CMD.GET_CHANNELS_INFO && e.channelIndex !== -1)).toBe(false);
  });

  it('read-only device option: readings only, like the predecessor cycler interface', async () => {
    const { sim, c, values } = await lab({}, { readOnly: true });
    await eventually(async () => expect((await values()).state).toBe('idle'));
    expect(await c.request('stop channel=1')).toMatch(/^error stop code=ReadOnly message="stop refused: the Arbin driver is read-only/);
    expect(await c.request('channel_info 1')).toMatch(/^ok channel_info channel=1 /);
    expect(sim.transcript.every((e) => e.cmd === CMD.LOGIN || e.cmd === CMD.GET_CHANNELS_INFO)).toBe(true);
  });

  it('a CTI user without control permission: state says so; commands are refused before sending', async () => {
    const { c, values } = await lab({ allowControl: false });
    await eventually(async () => expect((await values()).state_text).toBe('no test running; this CTI user may not control the cycler'));
    expect(await c.request('start 1 t Rest.sdx')).toMatch(/^error start code=HardwareError message="start refused: the CTI user \\"lab\\" may not control this cycler/);
  });

  it('a refused login keeps hw_connected=0 and says why; an unsafe channel is a warning', async () => {
    const refused = await lab({ password: 'other' });
    await eventually(async () => {
      const v = await refused.values();
      expect(v.hw_connected).toBe(false);
      expect(v.state).toBe('error');
      expect(String(v.state_text)).toMatch(/CTI login refused for user \\?"lab\\?" \(result 2/);
    });
    const { sim, values } = await lab();
    sim.setChannelFault(5, 'unsafe');
    await eventually(async () => {
      const v = await values();
      expect(v.state).toBe('warn');
      expect(v.state_text).toBe('channel 5 is Unsafe');
      expect(v['ch5.status']).toBe('unsafe');
    });
  });

  it('logs in again after the link comes back', async () => {
    const { sim, values } = await lab();
    await eventually(async () => expect((await values()).state).toBe('idle'));
    expect(sim.stats.logins).toBe(1);
    sim.setFault('linkDrop', true);
    await eventually(async () => expect((await values()).hw_connected).toBe(false));
    sim.setFault('linkDrop', false);
    await eventually(async () => expect((await values()).state).toBe('idle'), 15_000);
    expect(sim.stats.logins).toBe(2);
  }, 30_000);

  it('channels=4 declares, shows, reads and commands four channels of a 16-channel cycler', async () => {
    const { sim, c, status } = await lab({}, { channels: 4, pollMode: 'each' });
    const s = await eventually(async () => {
      const s = await status();
      expect(s.values.state).toBe('idle');
      return s;
    });
    expect(s.values.channel_count).toBe(16);
    expect(s.values['ch4.status']).toBe('idle');
    expect(Object.keys(s.values).filter((k) => /^ch([5-9]|1\d)\./.test(k))).toEqual([]);
    const doc = JSON.parse((await c.request('describe')).slice('describe '.length)) as DescribeDoc;
    expect(Object.keys(doc.params)).toHaveLength(3 + 3 + 4 * 16);
    expect(Object.keys(doc.params)).not.toContain('ch5.voltage');
    // One request per declared channel, none for the twelve it does not show.
    expect(sim.transcript.filter((e) => e.cmd === CMD.GET_CHANNELS_INFO).every((e) => e.channelIndex! >= 0 && e.channelIndex! < 4)).toBe(true);
    expect(await c.request('stop channel=5')).toBe('error stop code=RangeError message="channel 5 is not declared: this daemon shows channels 1 … 4 (device option channels=4)"');
    expect(await c.request('stop channel=17')).toBe('error stop code=RangeError message="channel 17 does not exist: this cycler has 16 channels (1 … 16)"');
    expect(sim.transcript.filter((e) => e.cmd !== CMD.LOGIN && e.cmd !== CMD.GET_CHANNELS_INFO)).toEqual([]);
  });

  it('pollMode=each asks channel by channel; channels the cycler lacks read as missing', async () => {
    const { sim, values } = await lab({ channels: 4 }, { pollMode: 'each' });
    const v = await eventually(async () => {
      const v = await values();
      expect(v.state).toBe('idle');
      return v;
    });
    expect(v.channel_count).toBe(4);
    expect(v['ch4.status']).toBe('idle');
    expect(v['ch5.status']).toBeNull();
    expect(sim.transcript.filter((e) => e.cmd === CMD.GET_CHANNELS_INFO).every((e) => e.channelIndex! >= 0 && e.channelIndex! < 4)).toBe(true);
  });
});
