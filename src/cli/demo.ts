/**
 * `labwire demo`: the whole simulated lab in one command — a simulator and a daemon for every
 * device family, the monitor with an embedded SQLite archive in a local data folder, and the web
 * page — so a newcomer sees labwire work before owning any hardware.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { deviceFamilies } from '../devices/index.js';
import { labConfigSchema, resolvePaths, type LabConfig } from '../config/lab.js';
import { CliError } from './common.js';
import { runLab } from './up.js';

/** The built-in demo lab: every family that has a simulator, daemons from basePort upwards. */
export function demoLabConfig(opts: { basePort: number; timeScale: number; data: string; web: number; monitor: number }): LabConfig {
  const families = Object.entries(deviceFamilies).filter(([, f]) => f.loadSimulator);
  const data = path.resolve(opts.data);
  const extras = families.map(([type, f]) => f.demo?.({ dataDir: data, name: type }) ?? {});
  const config = labConfigSchema.parse({
    name: 'labwire demo',
    data,
    simulators: families.map(([type], i) => ({ name: `${type}-sim`, type, timeScale: opts.timeScale, options: extras[i]!.simulatorOptions ?? {} })),
    daemons: families.map(([type, f], i) => ({
      name: type,
      type,
      link: `sim:${type}-sim`,
      listen: `127.0.0.1:${opts.basePort === 0 ? 0 : opts.basePort + i}`,
      description: `simulated ${f.definition.title}`,
      options: extras[i]!.deviceOptions ?? {},
      plots: f.plots ?? [],
    })),
    monitor: { listen: `127.0.0.1:${opts.monitor}`, web: `127.0.0.1:${opts.web}` },
    // Every daemon's link, and what each family offers: the alarms panel has something to show.
    alarms: [
      ...families.map(([type]) => ({ id: `${type}_link`, type: 'disconnected', client: type, delay: '10s', severity: 'warning', description: `the ${type} daemon is not reachable` })),
      ...extras.flatMap((e) => e.alarms ?? []),
    ],
  });
  return resolvePaths(config, process.cwd());
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a simulated lab on this machine: every device family simulated, daemons, the monitor, the archive and the web page')
    .option('--port <n>', 'first daemon port; the others count up', '7001')
    .option('--web <port>', 'port of the web page', '8888')
    .option('--monitor <port>', 'labwire port of the monitor', '7100')
    .option('--data <dir>', 'where the archive is kept', 'labwire-data')
    .option('--time-scale <factor>', 'speed up the simulated physics', '10')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: $LABWIRE_LOG_LEVEL or info)')
    .addHelpText('after', `
Examples (open the printed URL, or in another terminal):
  labwire demo --web 9000 --time-scale 60
  labwire status 127.0.0.1:7001
  labwire send 127.0.0.1:7001 set setpoint=12.5
  labwire send 127.0.0.1:7001 start
  labwire wait 127.0.0.1:7001 'temperature<15' --stable 5s
  labwire send 127.0.0.1:7100 get_status
  printf 'get_status\\n' | nc -N 127.0.0.1 7001`)
    .action(async (o: { port: string; web: string; monitor: string; data: string; timeScale: string; logLevel?: string }) => {
      const num = (v: string, what: string): number => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${what} "${v}" is not a port number`);
        return n;
      };
      const timeScale = Number(o.timeScale);
      if (!(timeScale > 0)) throw new CliError(`--time-scale "${o.timeScale}" must be a positive number`);
      const config = demoLabConfig({
        basePort: num(o.port, '--port'),
        web: num(o.web, '--web'),
        monitor: num(o.monitor, '--monitor'),
        timeScale,
        data: path.resolve(o.data),
      });
      await runLab(config, o.logLevel);
    });
}
