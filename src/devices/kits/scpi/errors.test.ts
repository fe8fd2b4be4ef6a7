import { describe, expect, it } from 'vitest';
import { ErrorQueue, SCPI, ScpiError, esrBitFor, parseErrorReply } from './errors.js';

describe('SCPI errors', () => {
  it('formats the standard texts, Keithley and HP style', () => {
    expect(new ScpiError(SCPI.undefinedHeader).format()).toBe('-113,"Undefined header"');
    expect(new ScpiError(0).format(true)).toBe('+0,"No error"');
    expect(new ScpiError(-222, 'Data out of range; "x"').format()).toBe('-222,"Data out of range; ""x"""');
  });

  it('queues first in, first out, and marks an overflow in the last place', () => {
    const q = new ErrorQueue(3);
    expect(q.nextFormatted()).toBe('0,"No error"');
    for (const c of [-113, -222, -224, -102]) q.push(new ScpiError(c));
    expect(q.count).toBe(3);
    expect([q.next().code, q.next().code, q.next().code, q.next().code]).toEqual([-113, -222, -350, 0]);
  });

  it('parses error replies and maps classes to event bits', () => {
    expect(parseErrorReply('-113,"Undefined header"')).toEqual(new ScpiError(-113, 'Undefined header'));
    expect(parseErrorReply('+0,"No error"')?.code).toBe(0);
    expect(parseErrorReply('1.0E-9')).toBeUndefined();
    expect([esrBitFor(-113), esrBitFor(-222), esrBitFor(-350), esrBitFor(-410), esrBitFor(0)]).toEqual([5, 4, 3, 2, undefined]);
  });
});
