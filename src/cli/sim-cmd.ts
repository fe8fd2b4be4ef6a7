/**
 * `labwire sim`: simulators that speak a device's own wire protocol on TCP or a pseudo-terminal —
 * one from the command line, or several from a YAML file.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { Simulator, SimulatorOptions } from '../daemon/api.js';
import { getFamily } from '../devices/index.js';
import { loadYamlConfig } from '../config/yaml.js';
import { CliError, collect, onShutdown, parseEndpoint, parseOptionPairs } from './common.js';
import { linkPtyPathName } from './pty-link.js';

const endpoint = z.string().regex(/^(\[[^\]]+\]|[^:\s]*):\d+$/, 'expected host:port, e.g. 127.0.0.1:5000');

/** `labwire sim <type> --config sims.yaml`: the simulators one process serves (exported for the docs' example test). */
export const simFleetSchema = z
  .object({
    simulators: z
      .array(
        z
          .object({
            name: z.string().min(1),
            type: z.string().min(1).optional(),
            listen: endpoint.optional(),
            pty: z.boolean().optional(),
            ptyLink: z.string().min(1).optional(),
            timeScale: z.number().positive().optional(),
            seed: z.number().int().optional(),
            options: z.record(z.string(), z.unknown()).default({}),
          })
          .strict()
          .refine((e) => e.listen !== undefined || e.pty === true, 'say where to serve it: listen: host:port and/or pty: true'),
      )
      .min(1, 'list at least one simulator'),
  })
  .strict();

interface Serve {
  name?: string;
  type: string;
  options: SimulatorOptions;
  listen?: string;
  pty?: boolean;
  ptyLink?: string;
}

/**
 * `--instrument 14=keithley6485` (or `instruments: { 14: keithley6485 }` in a YAML entry): the
 * models behind a bus adapter simulator, made by each family's bus-instrument factory, so the
 * adapter's family never imports the instrument families.
 */
async function busInstruments(given: unknown, options: SimulatorOptions): Promise<Record<string, unknown> | undefined> {
  if (given === undefined) return undefined;
  const pairs: Array<[string, string]> = Array.isArray(given)
    ? given.map((g) => {
      const m = /^(\d{1,2})=([\w-]+)$/.exec(String(g));
      if (!m) throw new CliError(`--instrument "${String(g)}" must be ADDRESS=TYPE, e.g. 14=keithley6485`);
      return [m[1]!, m[2]!];
    })
    : Object.entries(given as Record<string, unknown>).map(([a, t]) => [a, String(t)]);
  const out: Record<string, unknown> = {};
  for (const [address, type] of pairs) {
    const family = getFamily(type);
    if (!family.loadBusInstrument) throw new CliError(`device type "${type}" has no simulated instrument for a bus adapter`);
    out[address] = (await family.loadBusInstrument())({ timeScale: options.timeScale, seed: options.seed });
  }
  return out;
}

async function serve(spec: Serve, sims: Simulator[]): Promise<void> {
  const family = getFamily(spec.type);
  const instruments = await busInstruments(spec.options.instruments, spec.options);
  if (instruments) spec = { ...spec, options: { ...spec.options, instruments } };
  if (!family.loadSimulator) throw new CliError(`device type "${spec.type}" has no simulator`);
  const label = spec.name ? ` ${spec.name}` : '';
  const createSimulator = await family.loadSimulator();
  let sim: Simulator;
  try {
    sim = createSimulator(spec.options);
  } catch (err) {
    throw new CliError(`simulator${label} (${spec.type}): ${(err as Error).message}`, { cause: err });
  }
  sims.push(sim);
  if (spec.listen) {
    const ep = parseEndpoint(spec.listen, 'listen address');
    const port = await sim.listenTcp(ep.host, ep.port);
    process.stdout.write(`listening ${ep.host}:${port}${label}\n`);
  }
  if (spec.pty) {
    const path = await sim.listenPty();
    if (spec.ptyLink) linkPtyPathName(path, spec.ptyLink);
    process.stdout.write(`pty ${path}${spec.ptyLink ? ` (link ${spec.ptyLink})` : ''}${label}\n`);
  }
}

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run a simulator that speaks the device\'s own wire protocol, on TCP or on a pseudo-terminal')
    .argument('<type>', 'device type, e.g. julabo (the default type of --config entries)')
    .option('--listen <host:port>', 'serve on TCP')
    .option('--pty', 'serve on a new pseudo-terminal and print its path')
    .option('--pty-link <path>', 'with --pty: also create this symlink to the terminal (e.g. /tmp/ttyJULABO)')
    .option('--time-scale <factor>', 'run the physics this many times faster than real time', '1')
    .option('--seed <n>', 'seed for reproducible noise')
    .option('--option <key=value>', 'simulator option, repeatable (see the device docs: faults, initial values)', collect, [])
    .option('--instrument <addr=type>', 'bus adapters (prologix): an instrument at a GPIB address, repeatable, e.g. 14=keithley6485', collect, [])
    .option('--config <file>', 'start several simulators described in a YAML file (see below)')
    .addHelpText('after', `
Examples:
  labwire sim julabo --listen 127.0.0.1:5050 --time-scale 60
  labwire sim julabo --pty --pty-link /tmp/ttyJULABO
  labwire sim julabo --listen 127.0.0.1:5050 --option lowLevel=true
  labwire sim julabo --config sims.yaml
  labwire sim prologix --listen 127.0.0.1:1234 --instrument 14=keithley6485 --instrument 22=hp33120a

sims.yaml:
  simulators:
    - name: chiller1
      listen: 127.0.0.1:5050
      options: { setpoint: 15, running: true }
    - name: chiller2
      type: julabo          # default: the <type> argument
      pty: true
      ptyLink: /tmp/ttyJULABO2
      timeScale: 60         # default: --time-scale`)
    .action(async (type: string, o: Record<string, string | string[] | boolean | undefined>) => {
      const timeScale = Number(o.timeScale);
      if (!(timeScale > 0)) throw new CliError(`--time-scale "${String(o.timeScale)}" must be a positive number`);
      const seed = o.seed !== undefined ? { seed: Number(o.seed) } : {};
      const specs: Serve[] = [];
      if (o.config) {
        if (o.listen || o.pty) throw new CliError('give either --config or --listen/--pty, not both');
        for (const e of loadYamlConfig(String(o.config), simFleetSchema).simulators) {
          specs.push({
            name: e.name,
            type: e.type ?? type,
            options: { timeScale, ...seed, ...e.options, ...(e.timeScale ? { timeScale: e.timeScale } : {}), ...(e.seed !== undefined ? { seed: e.seed } : {}) },
            listen: e.listen,
            pty: e.pty,
            ptyLink: e.ptyLink,
          });
        }
      } else {
        if (!o.listen && !o.pty) throw new CliError('say where to serve: --listen host:port and/or --pty (or --config file.yaml)');
        specs.push({
          type,
          options: { ...parseOptionPairs(o.option as string[]), timeScale, ...seed, ...((o.instrument as string[]).length > 0 ? { instruments: o.instrument } : {}) },
          listen: o.listen ? String(o.listen) : undefined,
          pty: Boolean(o.pty),
          ptyLink: o.ptyLink ? String(o.ptyLink) : undefined,
        });
      }
      const sims: Simulator[] = [];
      const closeAll = async (): Promise<void> => {
        await Promise.all(sims.map((s) => s.close()));
      };
      try {
        for (const spec of specs) await serve(spec, sims);
      } catch (err) {
        await closeAll();
        throw err;
      }
      onShutdown(closeAll);
    });
}
