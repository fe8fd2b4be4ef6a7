import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LabwireError } from '../../wire/types.js';
import {
  checkReply,
  checkRequestLine,
  commands,
  deviceError,
  encodeRequest,
  expectsReply,
  formatSetpoint,
  formatStatus,
  isVersionText,
  looksLikeJulaboVersion,
  parseDeviceError,
  parseMode,
  parseNumber,
  parseStatus,
  STATUS_CODES,
  stateForStatus,
  statusCodeInfo,
  validators,
} from './codec.js';

describe('request encoding', () => {
  it('builds every documented command', () => {
    expect(commands.version()).toBe('version');
    expect(commands.status()).toBe('status');
    expect(commands.temperature()).toBe('in_pv_00');
    expect(commands.setpoint()).toBe('in_sp_00');
    expect(commands.mode()).toBe('in_mode_05');
    expect(commands.setSetpoint(15.5)).toBe('out_sp_00 15.5');
    expect(commands.setMode(true)).toBe('out_mode_05 1');
    expect(commands.setMode(false)).toBe('out_mode_05 0');
  });

  it('terminates with CR by default and CR LF on request', () => {
    expect(encodeRequest('in_pv_00')).toEqual(Buffer.from('in_pv_00\r'));
    expect(encodeRequest('in_pv_00', { crlf: true })).toEqual(Buffer.from('in_pv_00\r\n'));
    expect(encodeRequest('  status  ')).toEqual(Buffer.from('status\r'));
  });

  it('refuses lines that would split or lose bits on the wire', () => {
    expect(() => encodeRequest('in_pv_00\rout_mode_05 1')).toThrow(LabwireError);
    expect(() => encodeRequest('')).toThrow(/empty/);
    expect(() => checkRequestLine('temp °C')).toThrow(/printable ASCII/);
  });

  it.each([
    ['version', true],
    ['status', true],
    ['in_pv_00', true],
    ['in_sp_00', true],
    ['in_mode_05', true],
    ['out_sp_00 20', false],
    ['OUT_MODE_05 1', false],
    [' out_mode_05 0', false],
    ['foo', true],
  ])('%s expects a reply: %s', (line, expected) => {
    expect(expectsReply(line)).toBe(expected);
  });
});

describe('setpoint formatting', () => {
  it.each([
    [15.5, '15.5'],
    [15, '15.0'],
    [20.25, '20.25'],
    [-10.5, '-10.5'],
    [-0.001, '0.0'],
    [0, '0.0'],
    [12.345, '12.35'],
    [39.999, '40.0'],
    [-20, '-20.0'],
  ])('%s → %s', (value, text) => {
    expect(formatSetpoint(value)).toBe(text);
  });

  it('rejects non-finite values', () => {
    expect(() => formatSetpoint(NaN)).toThrow(/finite/);
    expect(() => formatSetpoint(Infinity)).toThrow(LabwireError);
    expect(() => formatSetpoint(1e22)).toThrow(LabwireError);
  });

  it('round-trips through parseNumber within 0.005 with at most 2 decimals', () => {
    fc.assert(
      fc.property(fc.double({ min: -1000, max: 1000, noNaN: true }), (v) => {
        const text = formatSetpoint(v);
        expect(text).toMatch(/^-?\d+\.\d{1,2}$/);
        expect(Math.abs(parseNumber(text)! - v)).toBeLessThanOrEqual(0.005 + 1e-9);
      }),
    );
  });
});

describe('reply parsing', () => {
  it.each([
    ['15.5', 15.5],
    ['  21.78 ', 21.78],
    ['+20.00', 20],
    ['-5.25', -5.25],
    ['- 5.25', -5.25],
    ['020.0', 20],
    ['.5', 0.5],
    ['7', 7],
    ['25.', 25],
  ])('number %j → %s', (reply, value) => {
    expect(parseNumber(reply)).toBe(value);
  });

  it.each(['', 'abc', '-08 INVALID COMMAND', '1e3', '12,5', '--5', 'NaN', '03 REMOTE START'])('number %j → undefined', (reply) => {
    expect(parseNumber(reply)).toBeUndefined();
  });

  it.each([
    ['0', false],
    ['1', true],
    [' 1 ', true],
    ['01', true],
    ['00', false],
  ])('mode %j → %s', (reply, value) => {
    expect(parseMode(reply)).toBe(value);
  });

  it.each(['2', '', 'on', '-1', '1.0'])('mode %j → undefined', (reply) => {
    expect(parseMode(reply)).toBeUndefined();
  });

  it.each([
    ['03 REMOTE START', { code: 3, text: 'REMOTE START', error: false }],
    ['02 REMOTE STOP', { code: 2, text: 'REMOTE STOP', error: false }],
    ['00 MANUAL STOP', { code: 0, text: 'MANUAL STOP', error: false }],
    ['01 MANUAL START', { code: 1, text: 'MANUAL START', error: false }],
    ['-08 INVALID COMMAND', { code: -8, text: 'INVALID COMMAND', error: true }],
    ['-01 LOW LEVEL ALARM', { code: -1, text: 'LOW LEVEL ALARM', error: true }],
    ['  -11   VALUE TOO LARGE  ', { code: -11, text: 'VALUE TOO LARGE', error: true }],
    ['3 REMOTE START', { code: 3, text: 'REMOTE START', error: false }],
    ['-99 SOMETHING NEW', { code: -99, text: 'SOMETHING NEW', error: true }],
  ])('status %j', (reply, status) => {
    expect(parseStatus(reply)).toEqual(status);
  });

  it.each(['', '03', '1', '-5', '21.5', 'REMOTE START', 'JULABO FL1703 V 1.02'])('status %j → undefined', (reply) => {
    expect(parseStatus(reply)).toBeUndefined();
  });

  it('formats status lines as the unit does', () => {
    expect(formatStatus(3, 'REMOTE START')).toBe('03 REMOTE START');
    expect(formatStatus(-8, 'INVALID COMMAND')).toBe('-08 INVALID COMMAND');
    expect(formatStatus(-20, 'X')).toBe('-20 X');
  });
});

describe('status code table (manual §11.4–§11.5)', () => {
  const table: [number, string, string][] = [
    [0, 'MANUAL STOP', 'state'],
    [1, 'MANUAL START', 'state'],
    [2, 'REMOTE STOP', 'state'],
    [3, 'REMOTE START', 'state'],
    [-1, 'LOW LEVEL ALARM', 'alarm'],
    [-3, 'EXCESS TEMPERATURE WARNING', 'warning'],
    [-5, 'WORKING SENSOR ALARM', 'alarm'],
    [-7, 'I2C-BUS ERROR', 'alarm'],
    [-8, 'INVALID COMMAND', 'commandError'],
    [-9, 'COMMAND NOT ALLOWED IN CURRENT OPERATING MODE', 'commandError'],
    [-10, 'VALUE TOO SMALL', 'commandError'],
    [-11, 'VALUE TOO LARGE', 'commandError'],
    [-12, 'TEMPERATURE MEASUREMENT ALARM', 'alarm'],
    [-14, 'EXCESS TEMPERATURE PROTECTOR ALARM', 'alarm'],
    [-20, 'WARNING: CLEAN CONDENSOR OR CHECK COOLING WATER CIRCUIT OF REFRIGERATOR', 'warning'],
  ];

  it('holds exactly the documented codes', () => {
    expect([...STATUS_CODES.keys()].sort((a, b) => a - b)).toEqual(table.map(([c]) => c).sort((a, b) => a - b));
  });

  it.each(table)('code %i is %s (%s)', (code, text, kind) => {
    expect(statusCodeInfo(code)).toMatchObject({ code, text, kind });
    const line = formatStatus(code, text);
    expect(parseStatus(line)).toEqual({ code, text, error: code < 0 });
    const state = stateForStatus({ code, text });
    if (kind === 'alarm') expect(state).toMatchObject({ state: 'error' });
    if (kind === 'warning' || kind === 'commandError') expect(state).toMatchObject({ state: 'warn' });
    if (code === 2 || code === 3) expect(state).toBeUndefined();
    if (code === 0 || code === 1) expect(state?.text).toMatch(/keypad control.*enable remote control/);
    if (code < 0) {
      expect(state?.text).toContain(line);
      const err = parseDeviceError(line);
      expect(err).toMatchObject({ code, text });
    } else {
      expect(parseDeviceError(line)).toBeUndefined();
    }
  });

  it('maps unknown codes to an error rather than dropping them', () => {
    expect(statusCodeInfo(-42).kind).toBe('unknown');
    expect(stateForStatus({ code: -42, text: 'NEW ALARM' })).toEqual({ state: 'error', text: expect.stringContaining('-42 NEW ALARM') });
    expect(stateForStatus({ code: 7, text: 'NEW STATE' })).toBeUndefined();
  });
});

describe('device errors', () => {
  it.each([
    ['-08 INVALID COMMAND', -8],
    ['-11 VALUE TOO LARGE', -11],
    ['-1 LOW LEVEL ALARM', -1],
    [' -05 WORKING SENSOR ALARM\r', -5],
  ])('%j is a device error %i', (reply, code) => {
    expect(parseDeviceError(reply)?.code).toBe(code);
  });

  it.each(['-5.25', '-08', '03 REMOTE START', 'ERROR: unknown', '-'])('%j is not a device error', (reply) => {
    expect(parseDeviceError(reply)).toBeUndefined();
  });

  it('turns a device error into a HardwareError with the device text', () => {
    const err = deviceError(parseDeviceError('-11 VALUE TOO LARGE')!, 'chiller refused setpoint 55');
    expect(err).toBeInstanceOf(LabwireError);
    expect(err.code).toBe('HardwareError');
    expect(err.message).toBe('chiller refused setpoint 55: -11 VALUE TOO LARGE');
    const keypad = deviceError(parseDeviceError('-09 COMMAND NOT ALLOWED IN CURRENT OPERATING MODE')!, 'chiller refused to start');
    expect(keypad.message).toMatch(/enable remote control/);
    const alarm = deviceError(parseDeviceError('-01 LOW LEVEL ALARM')!, 'reading');
    expect(alarm.message).toMatch(/top up the bath/);
  });

  it('checkReply passes values and throws device errors', () => {
    expect(checkReply(' 21.5 ', 'x')).toBe('21.5');
    expect(() => checkReply('-05 WORKING SENSOR ALARM', 'reading the temperature')).toThrow(/reading the temperature: -05 WORKING SENSOR ALARM/);
  });
});

describe('version and validators', () => {
  it.each([
    ['JULABO FL1703 V 1.02', true],
    ['V 1.02', true],
    ['v1.02', true],
    ['JULABO HIGHTECH FL HL/SL VERSION 4.0', true],
    ['FL1703 VERSION 1.02', true],
    ['21.50', false],
    ['-08 INVALID COMMAND', false],
    ['', false],
    ['OK', false],
  ])('%j looks like a Julabo version: %s', (reply, ok) => {
    expect(looksLikeJulaboVersion(reply)).toBe(ok);
  });

  it('accepts the right reply shapes and rejects stray ones', () => {
    const b = (s: string) => Buffer.from(s);
    expect(validators.number(b('21.50'))).toBe(true);
    expect(validators.number(b('-08 INVALID COMMAND'))).toBe(true);
    expect(validators.number(b('03 REMOTE START'))).toBe(false);
    expect(validators.number(b('JULABO FL1703 V 1.02'))).toBe(false);
    expect(validators.mode(b('1'))).toBe(true);
    expect(validators.mode(b('-05 WORKING SENSOR ALARM'))).toBe(true);
    expect(validators.mode(b('21.50'))).toBe(false);
    expect(validators.status(b('02 REMOTE STOP'))).toBe(true);
    expect(validators.status(b('-09 COMMAND NOT ALLOWED IN CURRENT OPERATING MODE'))).toBe(true);
    expect(validators.status(b('1'))).toBe(false);
    expect(validators.status(b('21.50'))).toBe(false);
    expect(validators.version(b('JULABO FL1703 V 1.02'))).toBe(true);
    expect(validators.version(b('21.50'))).toBe(false);
    expect(validators.version(b('03 REMOTE START'))).toBe(false);
    expect(validators.version(b('-08 INVALID COMMAND'))).toBe(true);
    expect(validators.version(b(''))).toBe(false);
  });

  it('takes only a version text as the answer to the resync probe: never another query\'s reply, never an error', () => {
    for (const other of ['21.50', ' 037.77', '-5.25', '0', '1', '03 REMOTE START', '-03 EXCESS TEMPERATURE WARNING', '-08 INVALID COMMAND', '', '#20.1 V\x7f']) {
      expect(isVersionText(other), JSON.stringify(other)).toBe(false);
    }
    expect(isVersionText('JULABO FL1703 V 1.02')).toBe(true);
    expect(isVersionText('V 1.02')).toBe(true);
  });
});
