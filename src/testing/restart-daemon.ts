/**
 * Starting a daemon again on the port its predecessor had, as a restarted daemon process would
 * (its monitor points there). Another process may hold the freed port for a moment, so a few tries.
 */
import { startDaemon, type Daemon, type DaemonOptions } from '../daemon/daemon.js';

export async function startDaemonOnPort(options: DaemonOptions, port: number, tries = 20): Promise<Daemon> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDaemon({ ...options, port });
    } catch (err) {
      if (attempt >= tries || !/already in use|EADDRINUSE/.test(String((err as Error).message))) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
