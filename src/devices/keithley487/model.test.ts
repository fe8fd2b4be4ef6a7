import { describe, expect, it } from 'vitest';
import { CURRENT_RANGES, parseErrorWord, parseReading, parseSourceValue, parseStatusWord } from './codec.js';
import { Keithley487Model } from './model.js';

function ask(model: Keithley487Model, message: string): string {
  model.receive(Buffer.from(message + '\n'));
  return model.talk()!.toString('latin1');
}

const reading = (m: Keithley487Model) => parseReading(ask(m, 'B0X'))!;

describe('keithley487 model', () => {
  it('executes nothing before X, then all of it', () => {
    const m = new Keithley487Model({ seed: 1 });
    m.receive(Buffer.from('V10,0,1\n'));
    expect(m.sourceVolts).toBe(0);
    // CCDLab's set_voltage sends V without X: it takes effect with the next X.
    m.receive(Buffer.from('O1X\n'));
    expect(parseSourceValue(ask(m, 'U8X'))).toBe(10);
    expect(parseStatusWord(ask(m, 'U0X'))?.operate).toBe(true);
  });

  it('answers a U command once, then readings again, with CR LF', () => {
    const m = new Keithley487Model({ seed: 1 });
    m.receive(Buffer.from('U2X\n'));
    expect(m.talk()!.toString()).toBe('487A05\r\n');
    expect(m.talk()!.toString()).toMatch(/^[NZO]DCA[+-]\d\.\d{4}E[+-]\d\d\r\n$/);
  });

  it('refuses a whole batch with an invalid command (IDDC) or option (IDDCO)', () => {
    const m = new Keithley487Model({ seed: 1 });
    m.receive(Buffer.from('O1 E3X\n'));
    expect(parseStatusWord(ask(m, 'U0X'))?.operate).toBe(false);
    expect(parseErrorWord(ask(m, 'U1X'))).toEqual(['IDDC']);
    expect(m.statusByte() & 0x20).toBe(0);
    m.receive(Buffer.from('V600,1,0X\n'));
    expect(m.statusByte() & 0x20).toBe(0x20);
    expect(parseErrorWord(ask(m, 'U1X'))).toEqual(['IDDCO']);
    expect(parseErrorWord(ask(m, 'U1X'))).toEqual([]);
    m.receive(Buffer.from('V60,0,0X\n'));
    expect(parseErrorWord(ask(m, 'U1X'))).toEqual(['IDDCO']);
    expect(parseSourceValue(ask(m, 'U8X'))).toBe(0);
  });

  it('reads the source current through the load, limited by the current limit', () => {
    const m = new Keithley487Model({ seed: 2, loadOhms: 1e9 });
    ask(m, 'V10,0,1O1R0X');
    const r = reading(m);
    expect(r.amps!).toBeCloseTo(1e-8, 10);
    expect(parseStatusWord(ask(m, 'U0X'))).toMatchObject({ autorange: true, rangeCode: 2, inLimit: false });
    m.loadOhms = 1e5;
    ask(m, 'V500,1,0X');
    expect(reading(m).amps!).toBeCloseTo(25e-6, 6);
    expect(parseStatusWord(ask(m, 'U0X'))?.inLimit).toBe(true);
    expect(m.statusByte() & 0x80).toBe(0x80);
  });

  it('reads overflow beyond a fixed range and noise that scales with the range', () => {
    const m = new Keithley487Model({ seed: 3, loadOhms: 1e9 });
    ask(m, 'V10,0,1O1R1X');
    expect(reading(m)).toMatchObject({ overflow: true, amps: null });
    expect(m.statusByte() & 0x01).toBe(1);
    ask(m, 'O0X');
    const spread = (range: number): number => {
      ask(m, `R${range}X`);
      const xs = Array.from({ length: 50 }, () => reading(m).amps!);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    };
    const low = spread(1);
    const high = spread(5);
    expect(low).toBeGreaterThan(0);
    expect(high / low).toBeGreaterThan(1000);
    expect(high).toBeLessThan(CURRENT_RANGES[4] * 1e-3);
  });

  it('reads about zero with zero check on, and the offset goes with zero correct', () => {
    const m = new Keithley487Model({ seed: 4, loadOhms: 1e9, noise: 0, offsetAmps: 5e-13 });
    ask(m, 'V10,0,1O1R0X');
    ask(m, 'C1X');
    const zc = reading(m);
    expect(zc.zeroCheck).toBe(true);
    expect(Math.abs(zc.amps!)).toBeLessThan(1e-12);
    ask(m, 'C2X');
    ask(m, 'C0X');
    expect(reading(m).amps!).toBe(1e-8);
    expect(parseStatusWord(ask(m, 'U0X'))?.zeroCorrected).toBe(true);
  });

  it('drops unexecuted input on device clear, and goes silent when off', () => {
    const m = new Keithley487Model({ seed: 5 });
    m.receive(Buffer.from('O1'));
    m.clear();
    m.receive(Buffer.from('X'));
    expect(parseStatusWord(ask(m, 'U0X'))?.operate).toBe(false);
    m.setSilent(true);
    m.receive(Buffer.from('U2X'));
    expect(m.talk()).toBeUndefined();
  });

  it('honours the terminator command', () => {
    const m = new Keithley487Model({ seed: 6 });
    m.receive(Buffer.from('Y3U2X'));
    expect(m.talk()!.toString()).toBe('487A05\n');
  });
});
