/** The bridge's options from the lab file's `mqtt:` section (src/config/mqtt.ts). */
import fs from 'node:fs';
import type { MqttConfig } from '../../config/mqtt.js';
import { expandEnv } from '../../config/lab.js';
import type { Logger } from '../../util/logger.js';
import { readMqttPassword, startMqttBridge, type BridgeMonitor, type MqttBridge } from './bridge.js';

export function startMqttBridgeFromConfig(config: MqttConfig, monitor: BridgeMonitor, logger: Logger): MqttBridge {
  const password = readMqttPassword(config.passwordFile, expandEnv(config.password, 'mqtt.password'));
  const discovery = config.discovery === false ? false : config.discovery === true ? { prefix: 'homeassistant' } : { prefix: config.discovery.prefix, ...(config.discovery.user !== undefined ? { user: config.discovery.user } : {}) };
  return startMqttBridge({
    monitor,
    url: config.url,
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(config.ca !== undefined ? { ca: fs.readFileSync(config.ca) } : {}),
    ...(config.clientId !== undefined ? { clientId: config.clientId } : {}),
    prefix: config.prefix,
    protocolVersion: config.protocolVersion,
    users: config.users,
    queue: config.queue,
    inflight: config.inflight,
    discovery,
    logger,
  });
}
