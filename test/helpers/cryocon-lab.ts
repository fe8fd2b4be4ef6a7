/**
 * A simulated Cryo-con with a daemon named `cryo` in front of it, in-process, on loopback ports
 * chosen by the OS; fast enough (timeScale, settle) that a setpoint settles within a test.
 */
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { CryoconSimulator } from '../../src/devices/cryocon/simulator.js';
import { cryoconFamily } from '../../src/devices/cryocon/device.js';
import { silentLogger } from '../../src/util/logger.js';

export interface CryoconLab {
  sim: CryoconSimulator;
  daemon: Daemon;
  /** Closes the daemon, then the simulator. */
  close(): Promise<void>;
}

export async function startCryoconLab(daemonOptions: Partial<DaemonOptions> = {}): Promise<CryoconLab> {
  const sim = new CryoconSimulator({ noise: 0, timeScale: 2000 });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  try {
    const daemon = await startDaemon({
      definition: cryoconFamily.definition,
      options: { settleSeconds: 1 },
      link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
      name: 'cryo',
      port: 0,
      logger: silentLogger(),
      version: 'test',
      ...daemonOptions,
    });
    return {
      sim,
      daemon,
      async close() {
        await daemon.close();
        await sim.close();
      },
    };
  } catch (err) {
    await sim.close();
    throw err;
  }
}
