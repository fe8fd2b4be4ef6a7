import { describe, expect, it } from 'vitest';
import { parseLine } from '../wire/tokenize.js';
import type { DescribeDoc } from '../wire/types.js';
import {
  ccdlabValue,
  clientNameProblem,
  formatStatusLine,
  labwireValue,
  lineKind,
  NOT_FORWARDED,
  parseCcdlabStatus,
  statusDocument,
  type ClientStatus,
} from './values.js';

const status = (line: string): ReturnType<typeof parseCcdlabStatus> => parseCcdlabStatus(parseLine(line), line);

describe('CCDLab values', () => {
  it.each([
    ['3.42041', 3.42041],
    ['-100', -100],
    ['1e-7', 1e-7],
    ['0', 0],
    ['0.5', 0.5],
    ['nan', null],
    ['NaN', null],
    ['inf', Infinity],
    ['--Htr-OK--', '--Htr-OK--'],
    ['HI', 'HI'],
    ['0110', '0110'],
    ['007', '007'],
    ['', ''],
  ])('%j reads as %j', (raw, expected) => {
    expect(ccdlabValue(raw)).toEqual(expected);
  });

  it('reads a cryo-con status line with its runs of spaces', () => {
    const r = status('status hw_connected=1 status=0110 temperatureA=nan                            temperatureB=20.8 htr_status1=--Htr-OK--');
    expect(r).toEqual({ ok: true, values: { hw_connected: 1, status: '0110', temperatureA: null, temperatureB: 20.8, htr_status1: '--Htr-OK--' } });
  });

  it.each([
    ['id name=x type=', /expected "status k=v/],
    ['status hw_connected=1 broken', /without "=".*"broken"/],
    ['status', /without any key=value/],
    ['garbage', /expected "status/],
  ])('calls %j malformed', (line, reason) => {
    const r = status(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('keeps a key called __proto__ as data', () => {
    const r = status('status __proto__=1 a=2');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(Object.keys(r.values)).toEqual(['__proto__', 'a']);
      expect(r.values.a).toBe(2);
    }
  });
});

describe('labwire update values', () => {
  const doc = {
    params: { code: { type: 'string' }, running: { type: 'bool' }, t: { type: 'float' }, mode: { type: 'enum' } },
  } as unknown as DescribeDoc;
  it('types values by describe, and by their look without one', () => {
    expect(labwireValue('0110', doc, 'code')).toBe('0110');
    expect(labwireValue('1', doc, 'running')).toBe(true);
    expect(labwireValue('12.5', doc, 't')).toBe(12.5);
    expect(labwireValue('nan', doc, 't')).toBeNull();
    expect(labwireValue('12', doc, 'mode')).toBe('12');
    expect(labwireValue('12', undefined, 'x')).toBe(12);
    expect(labwireValue('12', doc, 'toString')).toBe(12);
  });
});

describe('client names', () => {
  it.each([['chiller'], ['cryo-con'], ['arduino_A'], ['HP33120A']])('accepts %s', (name) => {
    expect(clientNameProblem(name)).toBeUndefined();
  });
  it.each([
    ['', /empty/],
    ['a b', /whitespace/],
    ['a=b', /whitespace/],
    ['cryo.con', /dot/],
    ['nconnected', /reserved/],
    ['connected', /reserved/],
  ])('refuses %j', (name, problem) => {
    expect(clientNameProblem(name)).toMatch(problem);
  });
});

describe('aggregated status', () => {
  const clients: ClientStatus[] = [
    { name: 'pfeiffer', connected: true, values: { hw_connected: 1, pressure: 3.42041, note: 'a b', missing: null } },
    { name: 'absent', connected: false, values: { stale: 1 } },
    { name: 'odd', connected: true, values: { 'bad key': 1, ok: true } },
  ];

  it('writes CCDLab naming with a dot, quoting what needs it, and only <client>=0 for one that is down', () => {
    expect(formatStatusLine(4, clients)).toBe(
      'status nconnected=4 clients_connected=4 devices_connected=2 pfeiffer=1 pfeiffer.hw_connected=1 pfeiffer.pressure=3.42041 pfeiffer.note="a b" pfeiffer.missing=nan absent=0 odd=1 odd.ok=1',
    );
    expect(parseLine(formatStatusLine(4, clients)).kwargs['pfeiffer.note']).toBe('a b');
  });

  it('nests the JSON as CCDLab did, with a connected map', () => {
    const doc = statusDocument(2, clients, 1000);
    expect(doc).toEqual({
      nconnected: 2,
      clients_connected: 2,
      devices_connected: 2,
      t: 1000,
      connected: { pfeiffer: true, absent: false, odd: true },
      pfeiffer: { hw_connected: 1, pressure: 3.42041, note: 'a b', missing: null },
      absent: {},
      odd: { 'bad key': 1, ok: true },
    });
    expect(JSON.parse(JSON.stringify(statusDocument(0, [{ name: 'x', connected: true, values: { v: Infinity } }])))).toMatchObject({ x: { v: null } });
  });
});

describe('line kinds', () => {
  it.each([
    ['get_status', 'read'],
    ['get_id', 'read'],
    ['describe', 'read'],
    ['ping', 'read'],
    ['help', 'read'],
    ['set', 'write'],
    ['start', 'write'],
    ['LOOP', 'write'],
    ['exit', 'admin'],
    ['programme_status', 'read'],
    ['programme_profile', 'read'],
    ['programme_start', 'write'],
  ])('%s is a %s', (cmd, kind) => {
    expect(lineKind(cmd)).toBe(kind);
  });

  it('a device command its describe declares as not writing is a read; a written or unknown one a write', () => {
    const describe = { commands: { identify: { description: 'id', write: false, args: {} }, start: { description: 'go', write: true, args: {} } } } as unknown as DescribeDoc;
    expect(lineKind('identify', 'labwire', describe)).toBe('read');
    expect(lineKind('start', 'labwire', describe)).toBe('write');
    expect(lineKind('frobnicate', 'labwire', describe)).toBe('write');
    expect(lineKind('identify', 'labwire')).toBe('write');
  });

  it('programme reads are a labwire daemon’s own: to a CCDLab peer they are raw commands like any other', () => {
    expect(lineKind('programme_status', 'ccdlab')).toBe('write');
    expect(lineKind('programme_profile', 'ccdlab')).toBe('write');
    expect(lineKind('get_status', 'ccdlab')).toBe('read');
    // CCDLab has no describe: the line goes to the device handler, often raw to the instrument.
    expect(lineKind('describe', 'ccdlab')).toBe('write');
  });

  it('does not forward lines that would change the monitor’s own connection or get no reply', () => {
    for (const c of ['auth', 'subscribe', 'unsubscribe', 'id', 'info', 'status']) expect(NOT_FORWARDED.has(c)).toBe(true);
    for (const c of ['set', 'get_status', 'exit']) expect(NOT_FORWARDED.has(c)).toBe(false);
  });
});
