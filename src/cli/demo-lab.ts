/**
 * The lab `labwire demo` runs (demo.ts): a simulator and a daemon for every device family, the
 * GPIB bench, the monitor with an embedded SQLite archive in a local data folder, and the page.
 */
import path from 'node:path';
import type { DemoSetup, DeviceFamily } from '../daemon/api.js';
import { deviceFamilies } from '../devices/index.js';
import { labConfigSchema, resolvePaths, type LabConfig } from '../config/lab.js';

/** The bus daemon of the demo's GPIB bench (CCDLab's gpib.py multiplexor, on the adapter simulator). */
export const DEMO_BUS = { name: 'gpib', type: 'prologix', simulator: 'gpib-adapter' } as const;

/** The demo's GPIB bench, as in the CCDLab lab: address, type, and a daemon name that says what it is. */
export const DEMO_BENCH: ReadonlyArray<{ address: number; type: string; name: string }> = [
  { address: 14, type: 'keithley6485', name: 'picoammeter' },
  { address: 15, type: 'keithley487', name: 'source' },
  { address: 22, type: 'hp33120a', name: 'generator' },
];

/**
 * What a visitor of the demo may do without a token (decision 0033): everything a lab user does —
 * read, set, run commands and programmes, acknowledge alarms — but no admin requests (`exit`):
 * the demo is a lab to try, not a shell on its processes.
 */
export const DEMO_ANONYMOUS_ROLE = 'operator';

/** The largest time scale every simulator accepts (their options schemas cap it at 1e6 or more). */
export const SIMULATOR_MAX_TIME_SCALE = 1e6;

/**
 * A `--time-scale` too large for a simulator: some families run faster than the rest of the demo
 * (the Julabo bath 30×, so that its alarm trips in seconds), and their simulator's own time scale,
 * the product, must stay within SIMULATOR_MAX_TIME_SCALE.
 */
export class DemoTimeScaleError extends Error {
  readonly code = 'TimeScaleTooLarge';
  constructor(readonly timeScale: number, readonly max: number) {
    super(`--time-scale ${timeScale} is too large: at most ${Math.floor(max)} (the Julabo bath runs 30× faster than the rest of the demo, and a simulator's time scale is at most ${SIMULATOR_MAX_TIME_SCALE.toLocaleString('en')})`);
  }
}

/**
 * The built-in demo lab: every family that has a simulator, each on its own (the bus adapter
 * excepted), then the GPIB bench: the adapter simulator with its instruments, the bus daemon and
 * one daemon per instrument on `bus:` links. Daemons from basePort upwards.
 */
export function demoLabConfig(opts: { basePort: number; timeScale: number; data: string; web: number; monitor: number }): LabConfig {
  const family = (type: string): DeviceFamily => deviceFamilies[type]!;
  const families = Object.entries(deviceFamilies).filter(([type, f]) => f.loadSimulator && type !== DEMO_BUS.type);
  const data = path.resolve(opts.data);
  const demo = (type: string, name: string): ReturnType<DemoSetup> => family(type).demo?.({ dataDir: data, name }) ?? {};
  const extras = families.map(([type]) => demo(type, type));
  const benchExtras = DEMO_BENCH.map((b) => demo(b.type, b.name));
  const maxTimeScale = SIMULATOR_MAX_TIME_SCALE / Math.max(1, ...extras.map((e) => e.timeScaleFactor ?? 1));
  if (opts.timeScale > maxTimeScale) throw new DemoTimeScaleError(opts.timeScale, maxTimeScale);
  let port = opts.basePort;
  const listen = (): string => `127.0.0.1:${opts.basePort === 0 ? 0 : port++}`;
  const daemons = [
    ...families.map(([type, f], i) => ({
      name: type,
      type,
      link: `sim:${type}-sim`,
      listen: listen(),
      description: `simulated ${f.definition.title}`,
      options: extras[i]!.deviceOptions ?? {},
      plots: f.plots ?? [],
      anonymousRole: DEMO_ANONYMOUS_ROLE,
    })),
    {
      name: DEMO_BUS.name,
      type: DEMO_BUS.type,
      link: `sim:${DEMO_BUS.simulator}`,
      listen: listen(),
      description: `GPIB bus: ${family(DEMO_BUS.type).definition.title}, simulated, with ${DEMO_BENCH.map((b) => `${b.name} at ${b.address}`).join(', ')}`,
      plots: family(DEMO_BUS.type).plots ?? [],
      anonymousRole: DEMO_ANONYMOUS_ROLE,
    },
    ...DEMO_BENCH.map((b, i) => ({
      name: b.name,
      type: b.type,
      link: `bus:${DEMO_BUS.name}/${b.address}`,
      listen: listen(),
      description: `simulated ${family(b.type).definition.title} at GPIB address ${b.address}`,
      options: benchExtras[i]!.deviceOptions ?? {},
      plots: family(b.type).plots ?? [],
      anonymousRole: DEMO_ANONYMOUS_ROLE,
    })),
  ];
  const config = labConfigSchema.parse({
    name: 'labwire demo',
    data,
    simulators: [
      ...families.map(([type], i) => ({ name: `${type}-sim`, type, timeScale: opts.timeScale * (extras[i]!.timeScaleFactor ?? 1), options: extras[i]!.simulatorOptions ?? {} })),
      {
        name: DEMO_BUS.simulator,
        type: DEMO_BUS.type,
        timeScale: opts.timeScale,
        instruments: Object.fromEntries(DEMO_BENCH.map((b, i) => [String(b.address), { type: b.type, options: benchExtras[i]!.simulatorOptions ?? {} }])),
      },
    ],
    daemons,
    monitor: { listen: `127.0.0.1:${opts.monitor}`, web: `127.0.0.1:${opts.web}`, anonymousRole: DEMO_ANONYMOUS_ROLE },
    // Every daemon's link, and what each family offers: the alarms panel has something to show.
    alarms: [
      ...daemons.map((d) => ({ id: `${d.name}_link`, type: 'disconnected', client: d.name, delay: '10s', severity: 'warning', description: `the ${d.name} daemon is not reachable` })),
      ...[...extras, ...benchExtras].flatMap((e) => e.alarms ?? []),
    ],
  });
  return resolvePaths(config, process.cwd());
}
