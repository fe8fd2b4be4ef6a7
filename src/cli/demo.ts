/**
 * `labwire demo`: a simulated lab in one process — every device family's simulator with a daemon
 * in front of it, on loopback — so a newcomer sees labwire work before owning any hardware.
 */
import type { Command } from 'commander';
import { startDaemon, type Daemon } from '../daemon/daemon.js';
import type { Simulator } from '../daemon/api.js';
import { deviceFamilies } from '../devices/index.js';
import { createLogger } from '../util/logger.js';
import { VERSION } from '../version.js';
import { CliError } from './common.js';
import { onShutdown } from './daemon-cmds.js';

export interface DemoLab {
  daemons: Array<{ type: string; name: string; port: number; daemon: Daemon }>;
  close(): Promise<void>;
}

/** Starts one simulator + daemon per family; daemon ports count up from basePort (0: any free port). */
export async function startDemoLab(opts: { host: string; basePort: number; timeScale: number; logLevel: string }): Promise<DemoLab> {
  const logger = createLogger({ level: opts.logLevel });
  const sims: Simulator[] = [];
  const daemons: DemoLab['daemons'] = [];
  const close = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => d.daemon.close()));
    await Promise.all(sims.map((s) => s.close()));
  };
  try {
    let i = 0;
    for (const [type, family] of Object.entries(deviceFamilies)) {
      if (!family.createSimulator) continue;
      const sim = family.createSimulator({ timeScale: opts.timeScale });
      sims.push(sim);
      const simPort = await sim.listenTcp('127.0.0.1', 0);
      const port = opts.basePort === 0 ? 0 : opts.basePort + i++;
      const daemon = await startDaemon({
        definition: family.definition,
        link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
        name: type,
        host: opts.host,
        port,
        logger,
        version: VERSION,
      });
      daemons.push({ type, name: type, port: daemon.port, daemon });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { daemons, close };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a simulated lab: a simulator and a daemon for every device family, on this machine only')
    .option('--port <n>', 'first daemon port; the others count up', '7001')
    .option('--time-scale <factor>', 'speed up the simulated physics', '10')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .addHelpText('after', `
Then, in another terminal:
  labwire status 127.0.0.1:7001
  labwire send 127.0.0.1:7001 set setpoint=12.5
  labwire send 127.0.0.1:7001 start
  labwire wait 127.0.0.1:7001 'temperature<15' --stable 5s
  printf 'get_status\\n' | nc -N 127.0.0.1 7001`)
    .action(async (o: { port: string; timeScale: string; logLevel: string }) => {
      const basePort = Number(o.port);
      const timeScale = Number(o.timeScale);
      if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535) throw new CliError(`--port "${o.port}" is not a port number`);
      if (!(timeScale > 0)) throw new CliError(`--time-scale "${o.timeScale}" must be a positive number`);
      const lab = await startDemoLab({ host: '127.0.0.1', basePort, timeScale, logLevel: o.logLevel });
      const lines = lab.daemons.map((d) => `  ${d.name.padEnd(10)} 127.0.0.1:${d.port}   (simulated ${d.type}, physics ×${timeScale})`);
      process.stdout.write(`labwire demo is running. Daemons:\n${lines.join('\n')}\n\nTry: labwire status 127.0.0.1:${lab.daemons[0]?.port ?? basePort}\nStop with Ctrl-C.\n`);
      onShutdown(() => lab.close());
    });
}
