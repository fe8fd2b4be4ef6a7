/**
 * The real chain for the web's integration and browser tests: a simulated Julabo, its daemon,
 * the monitor, an archive and the web server, all in-process on loopback ports chosen by the OS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from '../../daemon/daemon.js';
import { JulaboSimulator, type JulaboSimulatorOptions } from '../../devices/julabo/simulator.js';
import { julaboFamily } from '../../devices/julabo/device.js';
import { startMonitor, type Monitor } from '../../monitor/monitor.js';
import type { Archive } from '../../archive/types.js';
import { openArchive } from '../../archive/index.js';
import { silentLogger } from '../../util/logger.js';
import { startWeb, type WebOptions, type WebServer } from '../server.js';

export interface WebLab {
  sim: JulaboSimulator;
  daemon: Daemon;
  monitor: Monitor;
  archive: Archive;
  web: WebServer;
  dir: string;
  close(): Promise<void>;
}

export interface WebLabOptions {
  sim?: JulaboSimulatorOptions;
  web?: Partial<WebOptions>;
  readOnly?: boolean;
}

export async function startWebLab(options: WebLabOptions = {}): Promise<WebLab> {
  const logger = silentLogger();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-web-'));
  const stops: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s();
      } catch {
        // keep closing the rest
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1, seed: 7, ...options.sim });
    const simPort = await sim.listenTcp('127.0.0.1', 0);
    stops.push(async () => sim.close());
    const daemon = await startDaemon({
      definition: julaboFamily.definition,
      link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
      name: 'chiller',
      port: 0,
      logger,
      version: 'test',
    });
    stops.push(() => daemon.close());
    const archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
    stops.push(() => archive.close());
    const monitor = await startMonitor({
      peers: [
        {
          name: 'chiller',
          host: '127.0.0.1',
          port: daemon.port,
          description: 'bath chiller',
          plots: [{ id: 'temperature', name: 'Bath temperature', values: ['time', 'temperature', 'setpoint'], ylabel: '°C' }],
        },
      ],
      archive,
      listen: false,
      readOnly: options.readOnly,
      logger,
    });
    stops.push(() => monitor.close());
    const web = await startWeb({ monitor, port: 0, logger, ...options.web });
    stops.push(() => web.close());
    return { sim, daemon, monitor, archive, web, dir, close };
  } catch (err) {
    await close();
    throw err;
  }
}
