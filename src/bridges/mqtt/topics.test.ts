import { describe, expect, it } from 'vitest';
import { BoundedQueue } from './queue.js';
import { PayloadError, commandLine, parseCallPayload, parseCommandTopic, parseSetPayload, statePayload } from './topics.js';

describe('MQTT topics and payloads', () => {
  it('parses set and call topics under a prefix of several levels, and nothing else', () => {
    expect(parseCommandTopic('lab/r1', 'lab/r1/chiller/setpoint/set/alice')).toEqual({ kind: 'set', device: 'chiller', param: 'setpoint', user: 'alice' });
    expect(parseCommandTopic('lab/r1', 'lab/r1/chiller/call/start/alice')).toEqual({ kind: 'call', device: 'chiller', command: 'start', user: 'alice' });
    // A parameter named "call": set wins (no device command is called "set").
    expect(parseCommandTopic('lab', 'lab/d/call/set/u')).toEqual({ kind: 'set', device: 'd', param: 'call', user: 'u' });
    expect(parseCommandTopic('lab', 'lab/d/p/set/u/reply')).toBeUndefined();
    expect(parseCommandTopic('lab', 'lab/d/p')).toBeUndefined();
    expect(parseCommandTopic('lab', 'other/d/p/set/u')).toBeUndefined();
    expect(parseCommandTopic('lab', 'lab/d//set/u')).toBeUndefined();
  });

  it('reads set payloads as JSON scalars, {"value":…} or plain text, and refuses the rest', () => {
    expect(parseSetPayload(Buffer.from('21.5'))).toBe(21.5);
    expect(parseSetPayload(Buffer.from('{"value": true}'))).toBe(true);
    expect(parseSetPayload(Buffer.from('"auto"'))).toBe('auto');
    expect(parseSetPayload(Buffer.from(' warm '))).toBe('warm');
    expect(() => parseSetPayload(Buffer.from(''))).toThrow(PayloadError);
    expect(() => parseSetPayload(Buffer.from('[1,2]'))).toThrow(/array/);
    expect(() => parseSetPayload(Buffer.from('{"v": 1}'))).toThrow(/"value"/);
    expect(parseCallPayload(Buffer.from(''))).toEqual({});
    expect(parseCallPayload(Buffer.from('{"rate": 0.5, "mode": "fast mode"}'))).toEqual({ rate: 0.5, mode: 'fast mode' });
    expect(() => parseCallPayload(Buffer.from('1'))).toThrow(PayloadError);
  });

  it('builds one labwire line: values quoted, keys checked so a payload cannot add tokens', () => {
    expect(commandLine('set', { setpoint: 21.5 })).toBe('set setpoint=21.5');
    expect(commandLine('start', { mode: 'fast mode', on: true })).toBe('start mode="fast mode" on=1');
    expect(commandLine('set', { x: 'a\nb' })).toBe("set x=$'a\\nb'");
    expect(() => commandLine('start', { 'a b': 1 })).toThrow(PayloadError);
    expect(() => commandLine('start', { 'a=b': 1 })).toThrow(PayloadError);
  });

  it('state payloads carry value, unit and time; NaN is null', () => {
    expect(JSON.parse(statePayload(3, 'K', 5))).toEqual({ value: 3, unit: 'K', t: 5 });
    expect(JSON.parse(statePayload(Number.NaN, undefined, 5))).toEqual({ value: null, t: 5 });
  });
});

describe('the bounded queue', () => {
  const m = (topic: string, payload: string, retain = true) => ({ topic, payload, retain });

  it('keeps one waiting message per retained topic, with the newest payload', () => {
    const q = new BoundedQueue(10);
    for (let i = 0; i < 1000; i++) q.push(m(`t${i % 3}`, String(i)));
    expect(q.length).toBe(3);
    expect(q.superseded).toBe(997);
    expect(q.dropped).toBe(0);
    expect([q.shift(), q.shift(), q.shift()].map((x) => x!.payload)).toEqual(['999', '997', '998']);
    // Once sent, the next value of a topic queues anew.
    q.push(m('t0', 'again'));
    expect(q.length).toBe(1);
  });

  it('drops the oldest state beyond its limit, counts it, and keeps replies first', () => {
    const q = new BoundedQueue(5);
    for (let i = 0; i < 8; i++) q.push(m(`t${i}`, String(i)));
    q.push(m('r', 'reply', false), true);
    expect(q.length).toBe(5);
    expect(q.dropped).toBe(4);
    expect(q.shift()!.payload).toBe('reply');
    expect(q.shift()!.payload).toBe('4');
    // A dropped topic is not superseded later: its new value queues.
    q.push(m('t0', 'new'));
    expect(q.superseded).toBe(0);
  });
});
