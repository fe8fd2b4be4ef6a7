import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { WireValue } from '../wire/types.js';
import { checkDeclarations, defineDevice, isWritable, type DeviceDefinition, type HandlerContext, type ParamDecl } from './api.js';
import { handlerContext } from '../testing/handler-context.js';
import { numbered, paramsFor, vector } from './declare.js';
import { resolveDevice } from './resolved-device.js';
import { describeDevice } from './describe.js';

interface FakeDriver {
  written: Array<[string, WireValue]>;
}
const p = paramsFor<FakeDriver>();
const ctx: HandlerContext = handlerContext();

describe('parameter builders', () => {
  it('a parameter is writable exactly when it has a write handler', () => {
    const ro = p.float('a reading', { unit: 'K', deadband: 0.01 });
    const rw = p.float('a setpoint', { unit: 'K', min: 0, max: 300, write: async (d, v) => void d.written.push(['sp', v]) });
    expect(isWritable(ro)).toBe(false);
    expect(ro).toEqual({ type: 'float', description: 'a reading', unit: 'K', deadband: 0.01 });
    expect(isWritable(rw)).toBe(true);
    expect(rw).toMatchObject({ type: 'float', unit: 'K', min: 0, max: 300, readonly: false });
  });

  it('hands the handler the value typed as declared, enum members as declared', async () => {
    const d: FakeDriver = { written: [] };
    const mode = p.choice(['OFF', 'PID', 'MAN'] as const, 'control mode', { write: async (drv, m) => void drv.written.push(['mode', m]) });
    expect(mode.values).toEqual(['OFF', 'PID', 'MAN']);
    await mode.write(d, 'pid', ctx);
    await p.bool('on', { write: async (drv, on) => void drv.written.push(['on', on]) }).write(d, true, ctx);
    await p.int('count', { write: async (drv, n) => void drv.written.push(['n', n]) }).write(d, 3, ctx);
    await p.text('name', { write: async (drv, s) => void drv.written.push(['name', s]) }).write(d, 'x', ctx);
    expect(d.written).toEqual([['mode', 'PID'], ['on', true], ['n', 3], ['name', 'x']]);
  });

  it('refuses a value of the wrong type before the family handler runs', async () => {
    const d: FakeDriver = { written: [] };
    const record = async (drv: FakeDriver, v: WireValue): Promise<void> => void drv.written.push(['x', v]);
    await expect(p.float('f', { write: record }).write(d, 'cold', ctx)).rejects.toMatchObject({ code: 'WrongType', message: 'must be a float, not cold' });
    await expect(p.int('i', { write: record }).write(d, 1.5, ctx)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(p.bool('b', { write: record }).write(d, 1, ctx)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(p.choice(['A', 'B'], 'c', { write: record }).write(d, 'C', ctx)).rejects.toMatchObject({ message: 'must be one of A, B, not C' });
    expect(d.written).toEqual([]);
  });
});

describe('vector()', () => {
  it('merges one block per member in member order', () => {
    const params = vector(['A', 'B'], (ch) => ({ [`ch${ch}.temperature`]: p.float(`input ${ch}`), [`ch${ch}.units`]: p.text(`units ${ch}`) }));
    expect(Object.keys(params)).toEqual(['chA.temperature', 'chA.units', 'chB.temperature', 'chB.units']);
    expect(Object.keys(vector(numbered(3), (n) => ({ [`loop${n}`]: n })))).toEqual(['loop1', 'loop2', 'loop3']);
  });

  it('refuses a block that forgot to put the member in a name', () => {
    expect(() => vector(['A', 'B'], () => ({ temperature: p.float('t') }))).toThrow(/"temperature" is declared by more than one member \(at B\)/);
  });
});

describe('declarations that contradict themselves are rejected at definition time', () => {
  const base = (params: Record<string, ParamDecl<FakeDriver>>): DeviceDefinition<Record<string, never>, FakeDriver> => ({
    type: 'fake',
    title: 'a fake device',
    options: z.object({}).strict(),
    exchange: {},
    splitter: () => ({ push: () => [], reset: () => {} }),
    params,
    commands: {},
    poll: [],
    createDriver: () => ({ written: [] }),
  });

  it('the types refuse both contradictions', () => {
    // @ts-expect-error writable without a write handler
    const a: ParamDecl = { type: 'float', description: 'x', readonly: false };
    // @ts-expect-error read-only with a write handler
    const b: ParamDecl = { type: 'float', description: 'x', readonly: true, write: async () => undefined };
    expect([a, b].map((d) => isWritable(d))).toEqual([false, true]);
  });

  it('writable without a write handler, or read-only with one', () => {
    // The types refuse these; declarations built at run time get the same answer from defineDevice.
    const noHandler = { type: 'float', description: 'setpoint', readonly: false } as unknown as ParamDecl<FakeDriver>;
    expect(() => defineDevice(base({ setpoint: noHandler }))).toThrow(/fake parameter "setpoint" is declared writable \(readonly: false\) but has no write handler/);
    const both = { type: 'float', description: 'x', readonly: true, write: async () => undefined } as unknown as ParamDecl<FakeDriver>;
    expect(() => defineDevice(base({ x: both }))).toThrow(/declared readonly but has a write handler/);
    expect(() => checkDeclarations('fake', { state: p.text('mine') })).toThrow(/the daemon adds hw_connected, state, state_text itself/);
    expect(() => checkDeclarations('fake', { sp: p.float('sp', { target: { of: 'temp', tolerance: 1, settleMs: 0 }, write: async () => undefined }) })).toThrow(/follows "temp", which is not declared/);
  });

  it('declarations computed from options are checked when resolved', () => {
    const def = { ...base({}), params: () => ({ sp: { type: 'float', description: 'sp', readonly: false } as unknown as ParamDecl<FakeDriver> }) };
    expect(() => defineDevice(def)).not.toThrow();
    expect(() => resolveDevice(def)).toThrow(/no write handler/);
  });

  it('a refusal of a builder handler names the parameter once resolved', async () => {
    const device = resolveDevice(base({ mode: p.choice(['A', 'B'], 'mode', { write: async () => undefined }) }));
    await expect(device.params.mode!.write!({ written: [] }, 'C', ctx)).rejects.toMatchObject({ code: 'WrongType', message: 'mode must be one of A, B, not C' });
  });

  it('a declared display group goes into describe; without one describe carries none', () => {
    const device = resolveDevice(base({ heater_power: p.float('heater', { unit: 'W', group: 'loop1' }), 'chA.temperature': p.float('t', { unit: 'K' }) }));
    const doc = describeDevice(device, { name: 'x', version: 'test', readOnly: false });
    expect(doc.params.heater_power).toMatchObject({ group: 'loop1', unit: 'W' });
    expect(doc.params['chA.temperature']).not.toHaveProperty('group');
  });
});
