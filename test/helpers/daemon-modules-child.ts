/**
 * Child of daemon-no-simulators.test.ts: loads what `labwire daemon` loads (the CLI, the device
 * registry, the daemon), starts a daemon of every family against a link that refuses, stops them,
 * then marks the log and loads every family's simulator, so the test sees that the log would show
 * a simulator module had one been loaded.
 */
import fs from 'node:fs';
import { main } from '../../src/cli/main.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { deviceFamilies } from '../../src/devices/index.js';
import { parseLinkUrl } from '../../src/links/registry.js';
import { createLogger } from '../../src/util/logger.js';

const log = process.env.MODULE_LOG!;
void main;
const logger = createLogger({ level: 'silent' });
for (const [type, family] of Object.entries(deviceFamilies)) {
  const options = family.demo?.({ dataDir: process.env.DATA_DIR!, name: type }).deviceOptions ?? {};
  const daemon = await startDaemon({
    definition: family.definition,
    options,
    link: parseLinkUrl('tcp://127.0.0.1:1', family.definition.serialDefaults),
    name: type,
    host: '127.0.0.1',
    port: 0,
    logger,
    version: 'test',
  });
  await daemon.close();
}
fs.appendFileSync(log, 'MARK simulators from here on\n');
for (const family of Object.values(deviceFamilies)) {
  await family.loadSimulator?.();
  await family.loadBusInstrument?.();
}
fs.appendFileSync(log, 'MARK done\n');
