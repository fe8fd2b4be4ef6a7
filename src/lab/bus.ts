/**
 * The GPIB bench in a lab file: the simulated instruments behind a bus adapter simulator
 * (`instruments: { 14: keithley6485 }`) and instrument daemons linked `bus:<bus daemon>/<address>`,
 * which reach their instrument through that bus daemon — in-process, so they share its one adapter
 * connection (kits/gpib/local.ts).
 */
import type { BusInstrumentModel, SimulatorOptions } from '../daemon/api.js';
import { getFamily } from '../devices/index.js';
import { BUS_LINK, type DaemonConfig, type LabConfig } from '../config/lab.js';

type SimulatorConfig = LabConfig['simulators'][number];

/** The models behind an adapter simulator, each made by its family's bus-instrument factory. */
export async function busInstrumentModels(sim: SimulatorConfig, base: SimulatorOptions): Promise<Map<number, BusInstrumentModel> | undefined> {
  if (sim.instruments === undefined) return undefined;
  const models = new Map<number, BusInstrumentModel>();
  for (const [address, entry] of Object.entries(sim.instruments)) {
    const { type, options } = typeof entry === 'string' ? { type: entry, options: {} } : entry;
    const where = `simulators: "${sim.name}": instrument ${address}`;
    let family;
    try {
      family = getFamily(type);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
    if (!family.loadBusInstrument) throw new Error(`${where}: device type "${type}" has no simulated instrument for a bus adapter`);
    try {
      models.set(Number(address), (await family.loadBusInstrument())({ ...base, ...(base.seed !== undefined ? { seed: base.seed + Number(address) } : {}), ...options }));
    } catch (err) {
      throw new Error(`${where} (${type}): ${(err as Error).message}`, { cause: err });
    }
  }
  return models;
}

/** The bus daemon and address of a `bus:` link, or undefined for any other link. */
export function busLinkOf(link: string): { bus: string; address: number } | undefined {
  const m = BUS_LINK.exec(link);
  return m ? { bus: m[1]!, address: Number(m[2]) } : undefined;
}

/**
 * Start order: every daemon on its own link first (bus daemons among them), then those on a bus,
 * so a bus is served before anyone reaches through it. Otherwise the lab file's order.
 */
export function startOrder(daemons: readonly DaemonConfig[]): DaemonConfig[] {
  return [...daemons.filter((d) => !busLinkOf(d.link)), ...daemons.filter((d) => busLinkOf(d.link))];
}
