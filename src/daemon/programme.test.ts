import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LabwireError } from '../wire/types.js';
import { advance, checkLimits, elapsedAt, nextStep, parseProgramme, planProgramme, profileVertices, progressAt, targetAt, type Plan, type Position } from './programme.js';

const FL1703 = { min: { value: -20, source: 'FL1703' }, max: { value: 40, source: 'FL1703' } };

function err(fn: () => unknown): LabwireError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LabwireError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

/** Runs a plan to the end in steps of `dt` ms, every hold stable; returns the targets seen. */
function runAll(plan: Plan, dt: number): number[] {
  let pos: Position = { cycle: 0, phase: 0, phaseMs: 0 };
  const seen = [targetAt(plan, pos)];
  for (let i = 0; i < 100_000; i++) {
    const r = advance(plan, pos, dt, () => true);
    pos = r.pos;
    seen.push(targetAt(plan, pos));
    if (r.done) return seen;
  }
  throw new Error('did not finish');
}

describe('CSV programmes', () => {
  it.each([
    ['with a header', 'elapsed_minutes,value\n0,15\n5,35\n10,15\n'],
    ['without a header', '0,15\n5,35\n10,15'],
    ['with CR LF, blank lines and comments', '# cycle\r\n\r\nelapsed_minutes,temperature_c\r\n0,15\r\n5,35\r\n10,15\r\n'],
  ])('reads %s', (_, text) => {
    const p = parseProgramme('csv', text);
    expect(p.steps.map((s) => (s.kind === 'point' ? [s.minutes, s.value] : 'hold'))).toEqual([[0, 15], [5, 35], [10, 15]]);
    expect(p.loops).toBe(1);
  });

  it('keeps line numbers of the file', () => {
    const p = parseProgramme('csv', 'elapsed_minutes,value\n\n0,15\n5,35');
    expect(p.steps.map((s) => s.line)).toEqual([3, 4]);
  });

  it('equal times make a step (the predecessor refused them)', () => {
    const plan = planProgramme(parseProgramme('csv', '0,20\n10,20\n10,30\n20,30'));
    expect(targetAt(plan, { cycle: 0, phase: 1, phaseMs: 599_999 })).toBe(20);
    expect(plan.phases[2]).toMatchObject({ kind: 'ramp', from: 20, to: 30, ms: 0 });
    expect(plan.totalMs).toBe(20 * 60_000);
  });

  it.each([
    ['a non-numeric cell', '0,15\n5,abc\n', 'WrongType', 'line 2, column 2 (value): "abc" is not a number'],
    ['a non-numeric time', 'elapsed_minutes,value\n0,15\nfive,35\n', 'WrongType', 'line 3, column 1 (elapsed_minutes): "five" is not a number'],
    ['unsorted times', '0,15\n5,35\n3,20\n', 'ProtocolError', 'line 3: elapsed_minutes 3 comes after 5 on line 2; rows must be sorted by time'],
    ['an empty file', '', 'ProtocolError', 'empty programme'],
    ['only a header', 'elapsed_minutes,value\n', 'ProtocolError', 'empty programme'],
    ['three columns', '0,15,1\n', 'ProtocolError', 'line 1: expected 2 columns'],
    ['a negative time', '-1,15\n', 'RangeError', 'line 1: elapsed_minutes -1 is negative'],
    ['hex numbers', '0,0x10\n', 'WrongType', 'line 1, column 2'],
  ])('refuses %s', (_, text, code, message) => {
    const e = err(() => parseProgramme('csv', text));
    expect(e.code).toBe(code);
    expect(e.message).toContain(message);
    expect(e.command).toBe('programme_load');
  });

  it('refuses an unknown format and a bad loop count', () => {
    expect(err(() => parseProgramme('xlsx', '0,1')).message).toContain('unknown programme format "xlsx"');
    expect(err(() => parseProgramme('csv', '0,1', 0)).message).toContain('loop must be a whole number');
  });
});

describe('YAML programmes', () => {
  const yaml = ['loop: 2', 'points:', '  - {minutes: 0, value: 15}', '  - {minutes: 1, value: 35}', '  - hold: {until: stable}', '  - {minutes: 2, value: 15}', ''].join('\n');

  it('reads points, holds and loop with line numbers', () => {
    const p = parseProgramme('yaml', yaml);
    expect(p.loops).toBe(2);
    expect(p.steps).toEqual([
      { kind: 'point', minutes: 0, value: 15, line: 3 },
      { kind: 'point', minutes: 1, value: 35, line: 4 },
      { kind: 'hold', line: 5 },
      { kind: 'point', minutes: 2, value: 15, line: 6 },
    ]);
    const plan = planProgramme(p);
    expect(plan.phases.map((ph) => ph.kind)).toEqual(['ramp', 'ramp', 'hold', 'ramp']);
    expect(plan.phases[2]).toMatchObject({ kind: 'hold', value: 35 });
    expect(plan.totalMs).toBe(2 * 2 * 60_000);
  });

  it('the loop argument overrides the file', () => {
    expect(parseProgramme('yaml', yaml, 5).loops).toBe(5);
  });

  it.each([
    ['an empty document', '', 'empty programme'],
    ['no points', 'loop: 2\n', 'needs "points"'],
    ['a string value', 'points:\n  - {minutes: 0, value: 15}\n  - {minutes: 1, value: warm}\n', 'line 3, value: "warm" is not a number'],
    ['unsorted points', 'points:\n  - {minutes: 5, value: 15}\n  - {minutes: 1, value: 20}\n', 'line 3: minutes 1 comes after 5 on line 2'],
    ['a hold first', 'points:\n  - hold: {until: stable}\n  - {minutes: 0, value: 15}\n', 'line 2: a hold must follow a point'],
    ['a bad hold', 'points:\n  - {minutes: 0, value: 15}\n  - hold: {until: later}\n', 'line 3: a hold is written'],
    ['an unknown key', 'points: []\nrepeat: 3\n', 'line 2: unknown key "repeat"'],
    ['broken YAML', 'points: [\n', 'YAML error'],
    ['a bad loop', 'loop: 1.5\npoints:\n  - {minutes: 0, value: 1}\n', 'line 1: loop must be a whole number'],
  ])('refuses %s', (_, text, message) => {
    expect(err(() => parseProgramme('yaml', text)).message).toContain(message);
  });
});

describe('limits', () => {
  it('names the first point outside the limits by its line', () => {
    const p = parseProgramme('csv', 'elapsed_minutes,value\n0,20\n5,30\n10,55\n15,-30\n');
    const e = err(() => checkLimits(p, FL1703, '°C'));
    expect(e.code).toBe('RangeError');
    expect(e.message).toBe('line 4: 55 °C is above the FL1703 limit of 40 °C');
    const low = parseProgramme('csv', '0,-21');
    expect(err(() => checkLimits(low, FL1703, '°C')).message).toBe('line 1: -21 °C is below the FL1703 limit of -20 °C');
  });

  it('accepts points on the limits and refuses fractions for whole-number parameters', () => {
    expect(() => checkLimits(parseProgramme('csv', '0,-20\n1,40'), FL1703, '°C')).not.toThrow();
    expect(err(() => checkLimits(parseProgramme('csv', '0,1.5'), {}, undefined, true)).message).toBe('line 1: 1.5 is not a whole number');
  });
});

describe('planning and running', () => {
  const cycle = planProgramme(parseProgramme('csv', '0,15\n5,35\n10,15', 3));

  it('interpolates linearly within a ramp', () => {
    expect(targetAt(cycle, { cycle: 0, phase: 1, phaseMs: 150_000 })).toBe(25);
    expect(targetAt(cycle, { cycle: 1, phase: 2, phaseMs: 60_000 })).toBe(31);
  });

  it('a thermal cycle 15 ↔ 35 × 3 runs to 100 % through three peaks', () => {
    const seen = runAll(cycle, 30_000);
    expect(seen.filter((v) => v === 35)).toHaveLength(3);
    expect(seen.at(-1)).toBe(15);
    expect(Math.max(...seen)).toBe(35);
    expect(Math.min(...seen)).toBe(15);
    expect(cycle.totalMs).toBe(30 * 60_000);
  });

  it('reports progress, elapsed time and the next step', () => {
    const pos = { cycle: 1, phase: 1, phaseMs: 150_000 };
    expect(elapsedAt(cycle, pos)).toBe(12.5 * 60_000);
    expect(progressAt(cycle, pos, false)).toBeCloseTo(41.667, 2);
    expect(nextStep(cycle, pos)).toEqual({ value: 35, inMs: 150_000 });
    expect(progressAt(cycle, pos, true)).toBe(100);
  });

  it('a hold stops the clock until the target is stable', () => {
    const plan = planProgramme(parseProgramme('yaml', 'points:\n  - {minutes: 0, value: 10}\n  - hold: {until: stable}\n  - {minutes: 1, value: 20}\n'));
    let r = advance(plan, { cycle: 0, phase: 0, phaseMs: 0 }, 10_000, () => false);
    expect(r.pos.phase).toBe(1);
    r = advance(plan, r.pos, 10 * 60_000, () => false);
    expect(r).toEqual({ pos: { cycle: 0, phase: 1, phaseMs: 0 }, done: false });
    expect(targetAt(plan, r.pos)).toBe(10);
    r = advance(plan, r.pos, 30_000, () => true);
    expect(r.pos).toEqual({ cycle: 0, phase: 2, phaseMs: 30_000 });
    expect(targetAt(plan, r.pos)).toBe(15);
  });

  it('property: targets stay within the range of the points and the run ends at the last point', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.double({ min: -20, max: 40, noNaN: true })), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1000, max: 600_000 }),
        (raw, loops, dt) => {
          const rows = [...raw].sort((a, b) => a[0] - b[0]);
          const csv = rows.map(([t, v]) => `${t},${v}`).join('\n');
          const plan = planProgramme(parseProgramme('csv', csv, loops));
          const values = rows.map(([, v]) => v);
          const lo = Math.min(...values) - 1e-9;
          const hi = Math.max(...values) + 1e-9;
          const seen = runAll(plan, dt);
          expect(seen.every((v) => v >= lo && v <= hi)).toBe(true);
          // As the CSV carries it: -0 is written "0".
          expect(seen.at(-1)).toBe(Number(String(values.at(-1))));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('property: progress never decreases while running', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 4 }), (gaps, loops) => {
        let t = 0;
        const csv = ['0,0', ...gaps.map((g, i) => `${(t += g)},${i % 2 ? 0 : 10}`)].join('\n');
        const plan = planProgramme(parseProgramme('csv', csv, loops));
        let pos: Position = { cycle: 0, phase: 0, phaseMs: 0 };
        let last = -1;
        for (let i = 0; i < 10_000; i++) {
          const r = advance(plan, pos, 45_000, () => true);
          const p = progressAt(plan, r.pos, r.done);
          expect(p).toBeGreaterThanOrEqual(last);
          last = p;
          pos = r.pos;
          if (r.done) break;
        }
        expect(last).toBe(100);
      }),
    );
  });
});

describe('profile vertices', () => {
  it('gives the first point, the end of every ramp, both sides of a step and holds', () => {
    const csv = parseProgramme('csv', '0,20\n10,20\n10,30\n20,30\n');
    expect(profileVertices(planProgramme(csv))).toEqual([
      { ms: 0, value: 20, hold: false },
      { ms: 600_000, value: 20, hold: false },
      { ms: 600_000, value: 30, hold: false },
      { ms: 1_200_000, value: 30, hold: false },
    ]);
    const yaml = parseProgramme('yaml', 'points:\n  - {minutes: 0, value: 15}\n  - {minutes: 5, value: 35}\n  - hold: {until: stable}\n  - {minutes: 10, value: 15}\n');
    expect(profileVertices(planProgramme(yaml))).toEqual([
      { ms: 0, value: 15, hold: false },
      { ms: 300_000, value: 35, hold: false },
      { ms: 300_000, value: 35, hold: true },
      { ms: 600_000, value: 15, hold: false },
    ]);
  });

  it('property: the vertices reproduce targetAt at every vertex time outside steps', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: -50, max: 50 })), { minLength: 1, maxLength: 12 }), (rows) => {
        let t = 0;
        const lines = rows.map(([dt, v]) => `${(t += dt)},${v}`);
        const plan = planProgramme(parseProgramme('csv', lines.join('\n')));
        const v = profileVertices(plan);
        expect(v[0]!.ms).toBe(0);
        expect(v[v.length - 1]!.ms).toBe(plan.cycleMs);
        expect(v[v.length - 1]!.value).toBe(rows[rows.length - 1]![1]);
        for (let i = 1; i < v.length; i++) expect(v[i]!.ms).toBeGreaterThanOrEqual(v[i - 1]!.ms);
      }),
    );
  });
});

describe('the examples in docs/programmes.md and examples/programmes/', () => {
  const doc = fs.readFileSync(new URL('../../docs/programmes.md', import.meta.url), 'utf8');
  const dir = new URL('../../examples/programmes/', import.meta.url);
  const files = fs.readdirSync(dir).map((name) => ({ format: name.endsWith('.csv') ? 'csv' : 'yaml', text: fs.readFileSync(new URL(name, dir), 'utf8') }));
  const blocks = [...[...doc.matchAll(/```(csv|yaml)\n([\s\S]*?)```/g)].map((m) => ({ format: m[1]!, text: m[2]! })), ...files];

  it('examples/programmes holds files of both formats', () => {
    expect(files.filter((b) => b.format === 'csv').length).toBeGreaterThanOrEqual(3);
    expect(files.filter((b) => b.format === 'yaml').length).toBeGreaterThanOrEqual(1);
  });

  it('has examples of both formats', () => {
    expect(blocks.filter((b) => b.format === 'csv').length).toBeGreaterThanOrEqual(3);
    expect(blocks.filter((b) => b.format === 'yaml').length).toBeGreaterThanOrEqual(2);
  });

  it.each(blocks.map((b, i) => [i, b.format, b.text] as const))('example %i (%s) loads within the FL1703 limits', (_, format, text) => {
    const p = parseProgramme(format, text);
    checkLimits(p, FL1703, '°C');
    expect(planProgramme(p).phases.length).toBeGreaterThan(0);
  });
});
