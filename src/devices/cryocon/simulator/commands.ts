/**
 * The Cryo-con command table: every header the simulated 24C answers, as the manual's tree, with
 * what each query shows and each set changes on the controller. A handler that refuses answers
 * `NACK` (undefined from a query, false from a set).
 */
import {
  DISPLAY_UNITS,
  LOOP_RANGES,
  SENSOR_FAULT,
  deltaFromKelvin,
  deltaToKelvin,
  formatFloat,
  formatHeaterPercent,
  formatPadded,
  heaterStatusText,
  loopTypesFor,
  parseNumber,
  parseOnOff,
  parseQuoted,
  type Channel,
  type DisplayUnit,
  type LoopType,
} from '../codec.js';
import { diodeVolts } from '../physics.js';
import type { ChannelState, CryoconController, LoopState, Stats } from './controller.js';
import { nameString } from './options.js';
import type { Ctx, TreeNode } from './scpi-tree.js';

function onOff(v: boolean): string {
  return v ? 'ON' : 'OFF';
}

function setOnOff(args: string, apply: (v: boolean) => void): boolean {
  const v = parseOnOff(args);
  if (v === undefined) return false;
  apply(v);
  return true;
}

function setNumber(args: string, min: number, max: number, apply: (v: number) => void): boolean {
  const v = parseNumber(args);
  if (v === undefined || v < min || v > max) return false;
  apply(v);
  return true;
}

export function buildCommandTable(ctl: CryoconController): TreeNode[] {
  const ch = (ctx: Ctx) => ctl.channelState(ctx.channel);
  const lp = (ctx: Ctx) => ctl.loopState(ctx.loop);
  const o = ctl.options;
  const idnModel = ctl.model === 'M24C' ? '24C' : '32';
  const statInDisplay = (ctx: Ctx, value: (s: Stats) => number, kind: 'abs' | 'delta' | 'square'): string => {
    const c = ch(ctx);
    if (c.units === 'S') return 'N/A';
    const v = value(c.stats);
    const shown = kind === 'abs' ? ctl.display(v, c.units) : kind === 'delta' ? (deltaFromKelvin(v, c.units) ?? v) : v * (deltaFromKelvin(1, c.units) ?? 1) ** 2;
    return formatFloat(shown);
  };
  const alarmLimit =
    (get: (c: ChannelState) => number, delta = false) =>
    (ctx: Ctx): string => {
      const c = ch(ctx);
      const k = get(c);
      return formatFloat(delta ? (deltaFromKelvin(k, c.units) ?? k) : ctl.display(k, c.units));
    };
  const setAlarmLimit = (apply: (c: ChannelState, k: number) => void, delta = false) => (ctx: Ctx): boolean => {
    const c = ch(ctx);
    const v = parseNumber(ctx.args);
    if (v === undefined) return false;
    const k = delta ? (deltaToKelvin(v, c.units) ?? v) : ctl.fromDisplay(v, c.units);
    if (k === undefined) return false;
    apply(c, k);
    ctl.evaluateAlarm(c);
    return true;
  };
  const alarmFlag = (key: 'alarmHighEnabled' | 'alarmLowEnabled' | 'alarmLatch' | 'alarmAudio'): TreeNode => ({
    name: { alarmHighEnabled: 'HIENa', alarmLowEnabled: 'LOENa', alarmLatch: 'LTEna', alarmAudio: 'AUDio' }[key],
    query: (ctx) => onOff(ch(ctx)[key]),
    set: (ctx) => setOnOff(ctx.args, (v) => ((ch(ctx)[key] = v), ctl.evaluateAlarm(ch(ctx)))),
  });
  const gain = (name: string, key: 'pgain' | 'igain' | 'dgain'): TreeNode => ({
    name,
    query: (ctx) => formatFloat(lp(ctx)[key]),
    set: (ctx) => setNumber(ctx.args, 0, 1000, (v) => (lp(ctx)[key] = v)),
  });
  const restartLoop = (l: LoopState) => ctl.restartLoop(l);
  return [
    { name: '*IDN', query: () => `Cryo-con,${idnModel},${o.serial},${o.firmware}` },
    {
      name: '*RST',
      set: () => {
        ctl.controlOn = false;
        for (const l of ctl.loops.values()) restartLoop(l);
        return true;
      },
    },
    {
      name: 'CONTrol',
      query: () => onOff(ctl.controlOn),
      set: (ctx) => {
        if (ctx.args !== '') return false;
        if (!ctl.controlOn) for (const l of ctl.loops.values()) restartLoop(l);
        ctl.controlOn = true;
        return true;
      },
    },
    {
      name: 'STOP',
      set: (ctx) => {
        if (ctx.args !== '') return false;
        ctl.controlOn = false;
        return true;
      },
    },
    {
      name: 'SYSTem',
      children: [
        {
          name: 'NAMe',
          query: () => `"${ctl.systemName}"`,
          set: (ctx) => {
            const r = nameString.safeParse(parseQuoted(ctx.args));
            if (!r.success || !/^".*"$/.test(ctx.args.trim())) return false;
            ctl.systemName = r.data;
            return true;
          },
        },
        { name: 'HWRev', query: () => o.hardwareRevision },
        { name: 'FWRev', query: () => o.firmwareRevision },
        { name: 'LOCKout', query: () => onOff(ctl.lockout), set: (ctx) => setOnOff(ctx.args, (v) => (ctl.lockout = v)) },
        { name: 'REMLed', query: () => onOff(ctl.remoteLed), set: (ctx) => setOnOff(ctx.args, (v) => (ctl.remoteLed = v)) },
        { name: 'PUControl', query: () => onOff(ctl.powerUpControl), set: (ctx) => setOnOff(ctx.args, (v) => (ctl.powerUpControl = v)) },
        { name: 'DISTc', query: () => formatFloat(ctl.displayFilter, 1), set: (ctx) => setNumber(ctx.args, 0.5, 64, (v) => (ctl.displayFilter = v)) },
        {
          name: 'DATe',
          query: () => {
            const d = new Date();
            return `"${String(d.getMonth() + 1).padStart(2, '0')}/${String(d.getDate()).padStart(2, '0')}/${d.getFullYear()}"`;
          },
          set: (ctx) => /^"\d{2}\/\d{2}\/\d{4}"$/.test(ctx.args.trim()),
        },
        {
          name: 'TIMe',
          query: () => {
            const d = new Date();
            return `"${[d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':')}"`;
          },
          set: (ctx) => /^"\d{2}:\d{2}:\d{2}"$/.test(ctx.args.trim()),
        },
        { name: 'BEEP', set: (ctx) => setNumber(ctx.args, 0, 60, () => undefined) },
        { name: 'ADRes', query: () => '12', set: (ctx) => setNumber(ctx.args, 1, 31, () => undefined) },
        { name: 'BAUD', query: () => String(o.baud), set: (ctx) => [9600, 19200, 38400, 57600, 115200].includes(Number(ctx.args)) },
        { name: 'LINefreq', query: () => '60' },
        { name: 'NVSave', set: () => true },
      ],
    },
    {
      name: 'INPut',
      selector: 'channel',
      // `INPUT? A,B,C,D`: the readings of a channel list, joined by `;`.
      query: (ctx) => {
        const list = ctl.parseSelector('channel', ctx.args);
        if (!list) return undefined;
        return list.map((c) => ctl.reading(ctl.channelState(c as Channel))).join(';');
      },
      children: [
        { name: 'TEMPerature', query: (ctx) => ctl.reading(ch(ctx)) },
        {
          name: 'UNITs',
          query: (ctx) => ch(ctx).units,
          set: (ctx) => {
            const u = ctx.args.trim().toUpperCase();
            if (!(DISPLAY_UNITS as readonly string[]).includes(u)) return false;
            ch(ctx).units = u as DisplayUnit;
            return true;
          },
        },
        {
          name: 'NAMe',
          query: (ctx) => `"${ch(ctx).name}"`,
          set: (ctx) => {
            const r = nameString.safeParse(parseQuoted(ctx.args));
            if (!r.success || !/^".*"$/.test(ctx.args.trim())) return false;
            ch(ctx).name = r.data;
            return true;
          },
        },
        {
          name: 'SENPr',
          query: (ctx) => (ch(ctx).sensor === 'fault' ? SENSOR_FAULT : formatFloat(diodeVolts(ctl.cryostat.temperatures[ch(ctx).node]))),
        },
        { name: 'MINimum', query: (ctx) => statInDisplay(ctx, (s) => s.min, 'abs') },
        { name: 'MAXimum', query: (ctx) => statInDisplay(ctx, (s) => s.max, 'abs') },
        { name: 'VARiance', query: (ctx) => statInDisplay(ctx, (s) => s.variance, 'square') },
        { name: 'SLOpe', query: (ctx) => statInDisplay(ctx, (s) => s.slope, 'delta') },
        { name: 'OFFSet', query: (ctx) => statInDisplay(ctx, (s) => s.offset, 'abs') },
        { name: 'VBIas', query: () => 'N/A' },
        {
          name: 'STATs',
          children: [
            { name: 'TIMe', query: (ctx) => formatFloat((ctl.cryostat.time - ch(ctx).stats.start) / 60, 3) },
            {
              name: 'RESet',
              set: (ctx) => {
                ch(ctx).stats.reset(ctl.cryostat.time);
                return true;
              },
            },
          ],
        },
        {
          name: 'ALARm',
          query: (ctx) => ctl.alarmCode(ch(ctx)),
          children: [
            { name: 'HIGHest', query: alarmLimit((c) => c.alarmHigh), set: setAlarmLimit((c, k) => (c.alarmHigh = k)) },
            { name: 'LOWEst', query: alarmLimit((c) => c.alarmLow), set: setAlarmLimit((c, k) => (c.alarmLow = k)) },
            {
              name: 'DEAdband',
              query: alarmLimit((c) => c.alarmDeadband, true),
              set: setAlarmLimit((c, k) => (c.alarmDeadband = Math.max(0, k)), true),
            },
            alarmFlag('alarmHighEnabled'),
            alarmFlag('alarmLowEnabled'),
            alarmFlag('alarmLatch'),
            alarmFlag('alarmAudio'),
            {
              name: 'CLEar',
              set: (ctx) => {
                const c = ch(ctx);
                c.alarm = undefined;
                ctl.evaluateAlarm(c);
                return true;
              },
            },
          ],
        },
      ],
    },
    {
      name: 'LOOP',
      selector: 'loop',
      children: [
        {
          name: 'SOURce',
          query: (ctx) => `CH${lp(ctx).source}`,
          set: (ctx) => {
            const m = /^(?:CH)?([A-D])$/i.exec(ctx.args.trim());
            const src = m ? (m[1]!.toUpperCase() as Channel) : undefined;
            if (!src || !ctl.channels.has(src)) return false;
            lp(ctx).source = src;
            restartLoop(lp(ctx));
            return true;
          },
        },
        {
          name: 'SETPt',
          query: (ctx) => ctl.formatSetpoint(lp(ctx).setpoint, ctl.sourceUnits(lp(ctx))),
          set: (ctx) => {
            const l = lp(ctx);
            const k = ctl.parseSetpointArg(ctx.args, ctl.sourceUnits(l));
            if (k === undefined || k < 0 || k > l.maxSetpoint) return false;
            l.setpoint = k;
            l.rampSetpoint = undefined;
            return true;
          },
        },
        {
          name: 'TYPe',
          query: (ctx) => formatPadded(lp(ctx).type, 5),
          set: (ctx) => {
            const t = ctx.args.trim().toUpperCase() as LoopType;
            if (!loopTypesFor(ctx.loop!).includes(t)) return false;
            if (lp(ctx).type !== t) restartLoop(lp(ctx));
            lp(ctx).type = t;
            return true;
          },
        },
        {
          name: 'RANGe',
          query: (ctx) => formatPadded(lp(ctx).range, 3),
          set: (ctx) => {
            const r = ctx.args.trim().toUpperCase();
            if (!(LOOP_RANGES[ctx.loop!] as readonly string[]).includes(r)) return false;
            lp(ctx).range = r;
            return true;
          },
        },
        { name: 'RATe', query: (ctx) => formatFloat(lp(ctx).rate), set: (ctx) => setNumber(ctx.args, 0, 100, (v) => (lp(ctx).rate = v)) },
        { name: 'RAMP', query: (ctx) => onOff(ctl.isRamping(lp(ctx))) },
        gain('PGAin', 'pgain'),
        gain('IGAin', 'igain'),
        gain('DGAin', 'dgain'),
        { name: 'PMAnual', query: (ctx) => formatFloat(lp(ctx).pman), set: (ctx) => setNumber(ctx.args, 0, 100, (v) => (lp(ctx).pman = v)) },
        { name: 'OUTPwr', query: (ctx) => formatFloat(lp(ctx).output) },
        {
          name: 'HTRRead',
          query: (ctx) => formatHeaterPercent(ctl.heaterEnabled(lp(ctx)) ? lp(ctx).output : 0),
        },
        {
          name: 'LOAD',
          query: (ctx) => (ctx.loop === 1 ? String(lp(ctx).load) : undefined),
          set: (ctx) => {
            const v = Number(ctx.args.trim());
            if (ctx.loop !== 1 || (v !== 25 && v !== 50)) return false;
            lp(ctx).load = v;
            return true;
          },
        },
        { name: 'MAXPwr', query: (ctx) => formatFloat(lp(ctx).maxPower), set: (ctx) => setNumber(ctx.args, 0, 100, (v) => (lp(ctx).maxPower = v)) },
        {
          name: 'MAXSet',
          query: (ctx) => ctl.formatSetpoint(lp(ctx).maxSetpoint, ctl.sourceUnits(lp(ctx))),
          set: (ctx) => {
            const k = ctl.parseSetpointArg(ctx.args, ctl.sourceUnits(lp(ctx)));
            if (k === undefined || k <= 0) return false;
            lp(ctx).maxSetpoint = k;
            return true;
          },
        },
        {
          name: 'VSENse',
          query: (ctx) => `${Math.sqrt(Math.max(0, ctl.powerOf(ctx.loop!)) * 50).toFixed(2)}V`,
        },
        {
          name: 'ISENse',
          query: (ctx) => `${Math.sqrt(Math.max(0, ctl.powerOf(ctx.loop!)) / 50).toFixed(3)}A`,
        },
        { name: 'LSENse', query: (ctx) => (ctl.powerOf(ctx.loop!) > 0 ? formatFloat(ctx.loop === 1 ? lp(ctx).load : 50, 2) : '-1.00') },
        { name: 'HTRHst', query: (ctx) => `${(25 + ctl.powerOf(ctx.loop!) * 0.3).toFixed(1)}C` },
        { name: 'ERRor', query: (ctx) => heaterStatusText(lp(ctx).heaterStatus) },
        { name: 'AUTotune', children: [{ name: 'STATus', query: () => 'IDLE' }] },
      ],
    },
  ];
}
