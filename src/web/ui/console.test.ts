import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../archive/types.js';
import { filterMessages, replyText } from './console.js';

describe('command line replies', () => {
  it('indents a describe body and any reply whose body is JSON; leaves other replies as sent', () => {
    expect(replyText({ reply: 'describe {"a":1}', kind: 'describe', json: { a: 1 } })).toBe('describe\n{\n  "a": 1\n}');
    expect(replyText({ reply: 'images [1,2]', kind: 'images' })).toBe('images\n[\n  1,\n  2\n]');
    expect(replyText({ reply: 'ok set setpoint=21', kind: 'ok' })).toBe('ok set setpoint=21');
    expect(replyText({ reply: 'note {not json', kind: 'note' })).toBe('note {not json');
  });
});

describe('message log filter', () => {
  const m = (source: string, level: LogEntry['level'], message: string): LogEntry => ({ t: 0, source, level, message });
  const all = { error: true, warning: true, success: true, info: true, debug: true };
  const log = [m('cryo', 'warning', 'sensor chB open'), m('chiller', 'info', 'bath refilled'), m('chiller', 'error', 'pump stalled')];
  it('by source, by level and by words found in source or message', () => {
    expect(filterMessages(log, { search: '', source: 'chiller', levels: all })).toHaveLength(2);
    expect(filterMessages(log, { search: '', source: '', levels: { ...all, error: false } })).toHaveLength(2);
    expect(filterMessages(log, { search: 'CRYO open', source: '', levels: all }).map((x) => x.message)).toEqual(['sensor chB open']);
    expect(filterMessages(log, { search: 'stalled', source: 'cryo', levels: all })).toEqual([]);
  });
});
