/**
 * Child process of the acknowledge-after-commit crash test: a simulated Julabo, its daemon, the
 * monitor with its labwire port, a SQLite archive and the web server, in one process that the
 * test kills with SIGKILL. Prints `ready <monitor port> <web port>` once everything is up.
 * Usage: crash-lab.ts <db file>
 */
import { openSqliteArchive } from '../../src/archive/sqlite.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { julaboFamily } from '../../src/devices/julabo/device.js';
import { JulaboSimulator } from '../../src/devices/julabo/simulator.js';
import { silentLogger } from '../../src/util/logger.js';
import { startWeb } from '../../src/web/server.js';
import { startMonitor } from '../../src/monitor/monitor.js';

const [file] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: crash-lab.ts <db file>');
const logger = silentLogger();
const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1, seed: 7 });
const simPort = await sim.listenTcp('127.0.0.1', 0);
const daemon = await startDaemon({ definition: julaboFamily.definition, link: { kind: 'tcp', host: '127.0.0.1', port: simPort }, name: 'chiller', port: 0, logger, version: 'test' });
// The default batching (250 ms): what the monitor acknowledges must not depend on it.
const archive = await openSqliteArchive(file);
const monitor = await startMonitor({ name: 'monitor', peers: [{ name: 'chiller', host: '127.0.0.1', port: daemon.port }], archive, listen: { host: '127.0.0.1', port: 0 }, logger });
const web = await startWeb({ monitor, port: 0, logger, uiDir: '/nonexistent' });
const started = Date.now();
while (!monitor.peer('chiller')?.connected) {
  if (Date.now() - started > 30_000) throw new Error('the chiller did not connect within 30 s');
  await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write(`ready ${monitor.port} ${web.port}\n`);
