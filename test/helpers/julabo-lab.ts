/**
 * A simulated Julabo with a daemon in front of it, in-process, on loopback ports chosen by the OS.
 */
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { startDaemonOnPort } from '../../src/testing/restart-daemon.js';
import { JulaboSimulator, type JulaboSimulatorOptions } from '../../src/devices/julabo/simulator.js';
import { julaboFamily } from '../../src/devices/julabo/device.js';
import { silentLogger } from '../../src/util/logger.js';
import { RawClient } from '../../src/testing/raw-client.js';

export interface JulaboLab {
  sim: JulaboSimulator;
  simPort: number;
  /** The daemon now running (replaced by startAgain). */
  daemon: Daemon;
  port: number;
  client(): Promise<RawClient>;
  /** After `daemon.close()`: a new daemon on the same port, as a restarted process. */
  startAgain(): Promise<Daemon>;
  close(): Promise<void>;
}

export async function startJulaboLab(
  simOptions: JulaboSimulatorOptions = {},
  daemonOptions: Partial<DaemonOptions> = {},
): Promise<JulaboLab> {
  const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1, seed: 7, ...simOptions });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const options: DaemonOptions = {
    definition: julaboFamily.definition,
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'chiller',
    port: 0,
    logger: silentLogger(),
    version: 'test',
    ...daemonOptions,
  };
  const daemon = await startDaemon(options);
  const clients: RawClient[] = [];
  const lab: JulaboLab = {
    sim,
    simPort,
    daemon,
    port: daemon.port,
    async client() {
      const c = await RawClient.connect(lab.port);
      clients.push(c);
      return c;
    },
    async startAgain() {
      lab.daemon = await startDaemonOnPort(options, lab.port);
      return lab.daemon;
    },
    async close() {
      for (const c of clients) c.close();
      await lab.daemon.close();
      await sim.close();
    },
  };
  return lab;
}

// Most test files import these two from here; their home is src/testing (labwire/testing).
export { eventually } from '../../src/testing/eventually.js';
export { kv } from '../../src/testing/status-lines.js';
