/**
 * A simulated Julabo with a daemon in front of it, in-process, on loopback ports chosen by the OS.
 */
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { JulaboSimulator, type JulaboSimulatorOptions } from '../../src/devices/julabo/simulator.js';
import { julaboFamily } from '../../src/devices/julabo/device.js';
import { silentLogger } from '../../src/util/logger.js';
import { RawClient } from './raw-client.js';

export interface JulaboLab {
  sim: JulaboSimulator;
  simPort: number;
  daemon: Daemon;
  port: number;
  client(): Promise<RawClient>;
  close(): Promise<void>;
}

export async function startJulaboLab(
  simOptions: JulaboSimulatorOptions = {},
  daemonOptions: Partial<DaemonOptions> = {},
): Promise<JulaboLab> {
  const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1, seed: 7, ...simOptions });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const daemon = await startDaemon({
    definition: julaboFamily.definition,
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'chiller',
    port: 0,
    logger: silentLogger(),
    version: 'test',
    ...daemonOptions,
  });
  const clients: RawClient[] = [];
  return {
    sim,
    simPort,
    daemon,
    port: daemon.port,
    async client() {
      const c = await RawClient.connect(daemon.port);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await daemon.close();
      await sim.close();
    },
  };
}

/** Polls until `check` passes or the time is up; the last failure is rethrown. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

/** `status k=v ...` or `ok set k=v` → record (values unquoted by a simple rule good enough for tests). */
export function kv(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1).replace(/\\(.)/g, '$1') : m[2]!;
  }
  return out;
}
