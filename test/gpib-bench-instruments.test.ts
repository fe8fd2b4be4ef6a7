/**
 * The GPIB bench of the CCDLab lab: the three instrument models, found through the registry as
 * `labwire sim prologix --instrument …` finds them, behind one simulated adapter and the bus
 * daemon; a CCDLab-style client on the bus daemon's port addresses each by its GPIB address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusInstrumentModel } from '../src/daemon/api.js';
import { getFamily } from '../src/devices/index.js';
import { startGpibBench, type GpibBench } from '../src/devices/prologix/test-helpers/bench.js';
import { eventually } from '../src/testing/eventually.js';
import { kv } from './helpers/julabo-lab.js';

const BENCH = [
  [14, 'keithley6485'],
  [15, 'keithley487'],
  [22, 'hp33120a'],
] as const;

let bench: GpibBench;

beforeAll(async () => {
  const models = new Map<number, BusInstrumentModel>();
  for (const [address, type] of BENCH) models.set(address, (await getFamily(type).loadBusInstrument!())({ seed: address }));
  bench = await startGpibBench({ addresses: [], models });
  const c = await bench.client();
  await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
});

afterAll(async () => {
  await bench?.close();
});

describe('the GPIB bench: Keithley 6485 at 14, Keithley 487 at 15, HP 33120A at 22', () => {
  it('set_addr 14 then ?$*IDN? answers the 6485 identity; each address answers its own instrument', async () => {
    const c = await bench.client();
    c.write('set_addr 14\n');
    expect(await c.request('?$*IDN?')).toMatch(/^KEITHLEY INSTRUMENTS INC\.,MODEL 6485,/);
    c.write('set_addr 15\n');
    expect(await c.request('?$U2X')).toBe('487A05');
    c.write('set_addr 22\n');
    expect(await c.request('?$*IDN?')).toBe('HEWLETT-PACKARD,33120A,0,7.0-5.0-1.0');
  });

  it("CCDLab's own command sequences reach the instruments and their effects are read back", async () => {
    const c = await bench.client();
    c.write('set_addr 15\nV10,0,1\nO1X\n');
    expect(await c.request('?$U8X')).toBe('VS=+1.0000E+01');
    c.write('set_addr 22\nAPPL:SQU 2000,1.5,0.25\n');
    expect(await c.request('?$:APPL?')).toBe('"SQU +2.0000000000000E+03,+1.5000000000000E+00,+2.5000000000000E-01"');
    c.write('set_addr 14\n:SYSR:ZCOR ON\n');
    expect(await c.request('?$:SYST:ERR?')).toBe('-113,"Undefined header"');
  });
});
