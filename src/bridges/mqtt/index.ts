export { MqttBridge, startMqttBridge, readMqttPassword, type BridgeMonitor, type MqttBridgeOptions, type MqttBridgeStats } from './bridge.js';
export { discoveryMessages, type DiscoveryOptions } from './discovery.js';
export * from './topics.js';
export { startMqttBridgeFromConfig } from './from-config.js';
