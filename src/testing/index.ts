/**
 * labwire/testing: what a device family's tests need, in one entry point (decision 0018). It
 * imports vitest, so production code never imports it; `labwire daemon` does not load it.
 *
 *   import { deviceConformance, eventually, RawClient } from 'labwire/testing';
 */
export { deviceConformance, type ConformanceSubject } from './conformance/suite.js';
export { runLateReplyScenario, delaysAround, type LateReplySubject, type ScenarioOptions, type ScenarioReport } from './conformance/late-replies.js';
export { LateReplyProxy, type DelaySpec, type LateReplyProxyOptions, type ProxyChunk } from './conformance/late-reply-proxy.js';
export { GpibInstrumentBench, BUS_PAIRS_REPLIES } from './conformance/gpib-bench.js';
export { eventually, sleep } from './eventually.js';
export { freePort } from './free-port.js';
export { fakeClock } from './fake-clock.js';
export { MemoryLink, FakeTcpDevice, FakePtyDevice, fakeTimerExchanges, nextEvent, waitFor, type DeviceHandler, type DeviceIo } from './fake-devices.js';
export { RawClient } from './raw-client.js';
export { kv } from './status-lines.js';
export { tcpStreamClient, serialStreamClient, type StreamClient, type StreamClientOptions, type SerialStreamClientOptions } from './stream-client.js';
export { simExchange, nextEvent as nextExchangeEvent, type Transport } from './sim-exchange.js';
export { modelExchange, declarations, definitionHarness, type ModelExchange } from './bus-model-exchange.js';
export { recordingLogger, type LogRecord, type RecordingLogger } from './log-sink.js';
export { testPki, type TestPki } from './tls.js';
export { FakeDaemon, type FakeDaemonOptions } from './fake-daemon.js';
export { startDaemonOnPort } from './restart-daemon.js';
export { handlerContext, type RecordingContext } from './handler-context.js';
