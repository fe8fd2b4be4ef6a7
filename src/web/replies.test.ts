import { describe, expect, it } from 'vitest';
import { LabwireError } from '../wire/types.js';
import { classifyLine, parseDeviceReply } from './replies.js';
import { CHILLER_DESCRIBE } from './test-helpers/fake-monitor.js';

describe('classifyLine', () => {
  it('tells reads, writes and admin lines apart', () => {
    expect(classifyLine('get_status', CHILLER_DESCRIBE)).toBe('read');
    expect(classifyLine('get_status format=json', undefined)).toBe('read');
    expect(classifyLine('describe', undefined)).toBe('read');
    expect(classifyLine('set setpoint=20', CHILLER_DESCRIBE)).toBe('write');
    expect(classifyLine('start', CHILLER_DESCRIBE)).toBe('write');
    expect(classifyLine('frobnicate', CHILLER_DESCRIBE)).toBe('write');
    expect(classifyLine('exit', undefined)).toBe('admin');
    expect(classifyLine('"unbalanced', undefined)).toBe('write');
    const readOnlyCommand = { ...CHILLER_DESCRIBE, commands: { identify: { description: 'x', write: false, args: {} } } };
    expect(classifyLine('identify', readOnlyCommand)).toBe('read');
  });
});

describe('parseDeviceReply', () => {
  it('types results by describe', () => {
    const r = parseDeviceReply('ok set setpoint=20.5 running=1', CHILLER_DESCRIBE);
    expect(r).toEqual({ reply: 'ok set setpoint=20.5 running=1', kind: 'ok', command: 'set', args: [], results: { setpoint: 20.5, running: true } });
  });

  it('keeps unknown values as text and missing readings as null', () => {
    const r = parseDeviceReply('status temperature=nan state_text="REMOTE STOP" other=5', CHILLER_DESCRIBE);
    expect(r).toMatchObject({ kind: 'status', results: { temperature: null, state_text: 'REMOTE STOP', other: '5' } });
  });

  it('parses JSON bodies', () => {
    const r = parseDeviceReply('status_json {"name":"chiller","values":{"a":"x y"}}', undefined);
    expect(r).toMatchObject({ kind: 'status_json', json: { name: 'chiller', values: { a: 'x y' } } });
  });

  it('returns the error of an error reply', () => {
    const r = parseDeviceReply('error set code=RangeError message="setpoint 55 is above 40"', CHILLER_DESCRIBE);
    expect(r).toBeInstanceOf(LabwireError);
    expect(r).toMatchObject({ code: 'RangeError', message: 'setpoint 55 is above 40', command: 'set' });
  });
});
