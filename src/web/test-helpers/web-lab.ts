/**
 * The real chain for the web's integration and browser tests: a simulated Julabo (and, on request,
 * a Cryo-con), their daemons, the monitor, an archive and the web server, all in-process on
 * loopback ports chosen by the OS. A daemon can be restarted on its port, keeping its state
 * directory, as a crashed and restarted daemon process would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon, type DaemonOptions } from '../../daemon/daemon.js';
import { startDaemonOnPort } from '../../testing/restart-daemon.js';
import { JulaboSimulator, type JulaboSimulatorOptions } from '../../devices/julabo/simulator.js';
import { julaboFamily } from '../../devices/julabo/device.js';
import { CryoconSimulator, type CryoconSimulatorOptions } from '../../devices/cryocon/simulator.js';
import { cryoconFamily } from '../../devices/cryocon/device.js';
import { startMonitor, type Monitor, type PeerConfig } from '../../monitor/monitor.js';
import type { AlarmConfig } from '../../monitor/alarms.js';
import type { Archive } from '../../archive/types.js';
import { openArchive } from '../../archive/index.js';
import { silentLogger } from '../../util/logger.js';
import { startWeb, type WebOptions, type WebServer } from '../server.js';
import { ImageDaemon } from '../../monitor/test-helpers/image-daemon.js';

export interface WebLab {
  sim: JulaboSimulator;
  /** The chiller's daemon (replaced by restartDaemon('chiller')). */
  daemon: Daemon;
  /** With `cryo`: the Cryo-con simulator and its daemon `cryo`. */
  cryoSim?: CryoconSimulator;
  cryoDaemon?: Daemon;
  /** With `images`: a fake image source `ccd` (publish(path, fitsBytes, info) announces a new image). */
  imageDaemon?: ImageDaemon;
  monitor: Monitor;
  archive: Archive;
  web: WebServer;
  dir: string;
  /** Closes a daemon and starts it again on the same port with the same state directory. */
  restartDaemon(name: 'chiller' | 'cryo'): Promise<Daemon>;
  close(): Promise<void>;
}

export interface WebLabOptions {
  sim?: JulaboSimulatorOptions;
  /** Adds a Cryo-con simulator and its daemon `cryo`. */
  cryo?: CryoconSimulatorOptions;
  /** Device options of the daemons. */
  chillerOptions?: unknown;
  cryoOptions?: unknown;
  /** Programme options of the daemons (state persists in the lab's directory). */
  programme?: DaemonOptions['programme'];
  alarms?: AlarmConfig[];
  web?: Partial<WebOptions>;
  readOnly?: boolean;
  /** Adds a fake image daemon as peer `ccd` (src/monitor/test-helpers/image-daemon.ts). */
  images?: boolean;
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
    const stateDir = path.join(dir, 'state');
    const daemonOptions: Record<'chiller' | 'cryo', DaemonOptions> = {
      chiller: {
        definition: julaboFamily.definition,
        options: options.chillerOptions,
        link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
        name: 'chiller',
        port: 0,
        logger,
        version: 'test',
        stateDir,
        programme: options.programme,
      },
      cryo: {
        definition: cryoconFamily.definition,
        options: options.cryoOptions,
        link: { kind: 'tcp', host: '127.0.0.1', port: 0 },
        name: 'cryo',
        port: 0,
        logger,
        version: 'test',
        stateDir,
        programme: options.programme,
      },
    };
    const running: Partial<Record<'chiller' | 'cryo', Daemon>> = {};
    stops.push(async () => {
      for (const d of Object.values(running)) await d.close();
    });
    running.chiller = await startDaemon(daemonOptions.chiller);
    let cryoSim: CryoconSimulator | undefined;
    if (options.cryo) {
      cryoSim = new CryoconSimulator({ noise: 0, ...options.cryo });
      const port = await cryoSim.listenTcp('127.0.0.1', 0);
      const s = cryoSim;
      stops.push(async () => s.close());
      daemonOptions.cryo.link = { kind: 'tcp', host: '127.0.0.1', port };
      running.cryo = await startDaemon(daemonOptions.cryo);
    }
    let imageDaemon: ImageDaemon | undefined;
    if (options.images) {
      const d = new ImageDaemon();
      await d.start();
      stops.push(() => d.stop());
      imageDaemon = d;
    }
    const archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
    stops.push(() => archive.close());
    const peers: PeerConfig[] = [
      {
        name: 'chiller',
        host: '127.0.0.1',
        port: running.chiller.port,
        description: 'bath chiller',
        plots: [{ id: 'temperature', name: 'Bath temperature', values: ['time', 'temperature', 'setpoint'], ylabel: '°C' }],
      },
    ];
    if (running.cryo) {
      peers.push({
        name: 'cryo',
        host: '127.0.0.1',
        port: running.cryo.port,
        description: 'cryostat',
        plots: [{ id: 'loop1', name: 'Loop 1', values: ['time', 'loop1.temperature', 'loop1.setpoint'], ylabel: 'K' }],
      });
    }
    if (imageDaemon) peers.push({ name: 'ccd', host: '127.0.0.1', port: imageDaemon.port, description: 'CCD camera (fake image daemon)' });
    const monitor = await startMonitor({
      peers,
      archive,
      listen: false,
      readOnly: options.readOnly,
      logger,
      alarms: options.alarms,
    });
    stops.push(() => monitor.close());
    const web = await startWeb({ monitor, port: 0, logger, ...options.web });
    stops.push(() => web.close());
    const lab: WebLab = {
      sim,
      daemon: running.chiller,
      monitor,
      archive,
      web,
      dir,
      close,
      async restartDaemon(name) {
        const old = running[name];
        if (!old) throw new Error(`this lab has no daemon ${name}`);
        await old.close();
        const d = await startDaemonOnPort(daemonOptions[name], old.port);
        running[name] = d;
        if (name === 'chiller') lab.daemon = d;
        else lab.cryoDaemon = d;
        return d;
      },
    };
    if (imageDaemon) lab.imageDaemon = imageDaemon;
    if (cryoSim) {
      lab.cryoSim = cryoSim;
      lab.cryoDaemon = running.cryo;
    }
    return lab;
  } catch (err) {
    await close();
    throw err;
  }
}
