/**
 * MQTT bridge benchmark (part of `npm run bench`; prints, asserts nothing): D devices × P
 * parameters changing at R Hz fed to the bridge as the monitor's `update` events, published
 * retained at QoS 1 into a private Mosquitto (127.0.0.1, free port, password + ACL), with a
 * `mosquitto_sub` in its own process counting what subscribers really receive. Reports the offered
 * rate, the publishes the broker acknowledged per second, the received rate, and the bridge's
 * queue once a second: "keeps up" means the queue stays flat and nothing is dropped.
 * Environment: BENCH_MQTT_DEVICES (200), BENCH_MQTT_PARAMS (20), BENCH_MQTT_HZ (5), BENCH_MQTT_SECONDS (20), BENCH_MQTT_INFLIGHT (1000, the bridge's default).
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { startMqttBridge, type BridgeMonitor } from '../src/bridges/mqtt/index.js';
import { labwireAcl, mosquittoAvailable, startPrivateMosquitto } from '../src/bridges/mqtt/test-helpers/mosquitto.js';
import type { PeerState } from '../src/monitor/types.js';
import { silentLogger } from '../src/util/logger.js';

const DEVICES = Number(process.env.BENCH_MQTT_DEVICES ?? 200);
const PARAMS = Number(process.env.BENCH_MQTT_PARAMS ?? 20);
const HZ = Number(process.env.BENCH_MQTT_HZ ?? 5);
const SECONDS = Number(process.env.BENCH_MQTT_SECONDS ?? 20);
const INFLIGHT = Number(process.env.BENCH_MQTT_INFLIGHT ?? 1000);

class SyntheticMonitor extends EventEmitter implements BridgeMonitor {
  readonly name = 'bench';
  readonly states: PeerState[] = [];
  constructor() {
    super();
    for (let d = 0; d < DEVICES; d++) {
      const params: Record<string, { type: 'float'; unit: string; readonly: boolean; description: string }> = {};
      for (let p = 0; p < PARAMS; p++) params[`p${p}`] = { type: 'float', unit: 'K', readonly: true, description: '' };
      this.states.push({
        name: `dev${d}`,
        protocol: 'labwire',
        host: '127.0.0.1',
        port: 1,
        connected: true,
        since: Date.now(),
        describe: { name: `dev${d}`, type: 'bench', title: 'bench', protocol: 'labwire/1', version: '0', readOnly: true, params, commands: {} },
        values: {},
        ts: {},
      });
    }
  }
  peers(): PeerState[] {
    return this.states;
  }
  peer(name: string): PeerState | undefined {
    return this.states[Number(name.slice(3))];
  }
  send(): Promise<string> {
    return Promise.reject(new Error('benchmark: no commands'));
  }
  /** One tick: every parameter of every device changes. */
  tick(k: number): number {
    const t = Date.now();
    for (const s of this.states) {
      const values: Record<string, number> = {};
      for (let p = 0; p < PARAMS; p++) values[`p${p}`] = 300 + ((k + p) % 100) / 100;
      Object.assign(s.values, values);
      this.emit('update', { client: s.name, t, values });
    }
    return this.states.length * PARAMS;
  }
}

async function main(): Promise<void> {
  if (!mosquittoAvailable()) {
    process.stdout.write('\nmqtt benchmark skipped: mosquitto is not installed (apt-get install mosquitto)\n');
    return;
  }
  const users = { bridge: 'bench-bridge-pw', reader: 'bench-reader-pw' };
  const broker = await startPrivateMosquitto({ users, acl: labwireAcl('labwire', 'bridge') });
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'reader', '-P', users.reader, '-t', 'labwire/+/+', '-q', '0', '-V', 'mqttv5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let received = 0;
  sub.stdout.on('data', (d: Buffer) => {
    for (const b of d) if (b === 10) received++;
  });
  const monitor = new SyntheticMonitor();
  const bridge = startMqttBridge({ monitor, url: broker.url, username: 'bridge', password: users.bridge, users: {}, inflight: INFLIGHT, logger: silentLogger() });
  for (let i = 0; i < 200 && !bridge.stats().connected; i++) await new Promise((r) => setTimeout(r, 50));
  // Warm-up (not measured): the first ticks compile mqtt.js's and the bridge's hot paths.
  let warm = 0;
  const warmer = setInterval(() => monitor.tick(warm++), 1000 / HZ);
  await new Promise((r) => setTimeout(r, 3000));
  clearInterval(warmer);
  for (let i = 0; i < 200 && (bridge.stats().queued > 0 || bridge.stats().inflight > 0); i++) await new Promise((r) => setTimeout(r, 50));
  const offeredRate = DEVICES * PARAMS * HZ;
  process.stdout.write(`\nmqtt benchmark — ${DEVICES} devices × ${PARAMS} parameters at ${HZ} Hz = ${offeredRate} messages/s offered, retained QoS 1, ${SECONDS} s, private mosquitto on ${broker.url}\n`);
  process.stdout.write('  second  offered/s  acked/s  received/s  queued  inflight  dropped  superseded\n');
  const start = bridge.stats();
  const receivedAtStart = received;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let offered = 0;
  let k = warm;
  const ticker = setInterval(() => (offered += monitor.tick(k++)), 1000 / HZ);
  let last = { acked: start.published, received, offered: 0, t: t0 };
  const queues: number[] = [];
  for (let s = 1; s <= SECONDS; s++) {
    await new Promise((r) => setTimeout(r, t0 + s * 1000 - Date.now()));
    const st = bridge.stats();
    const now = Date.now();
    const dt = (now - last.t) / 1000;
    queues.push(st.queued);
    process.stdout.write(
      `  ${String(s).padStart(6)}  ${String(Math.round((offered - last.offered) / dt)).padStart(9)}  ${String(Math.round((st.published - last.acked) / dt)).padStart(7)}  ${String(Math.round((received - last.received) / dt)).padStart(10)}  ${String(st.queued).padStart(6)}  ${String(st.inflight).padStart(8)}  ${String(st.dropped).padStart(7)}  ${String(st.superseded).padStart(10)}\n`,
    );
    last = { acked: st.published, received, offered, t: now };
  }
  clearInterval(ticker);
  const elapsed = (Date.now() - t0) / 1000;
  const end = bridge.stats();
  const cpu = process.cpuUsage(cpu0);
  // Drain: what was still queued or in flight when the feed stopped.
  const drainStart = Date.now();
  for (let i = 0; i < 600 && (bridge.stats().queued > 0 || bridge.stats().inflight > 0); i++) await new Promise((r) => setTimeout(r, 50));
  const drainMs = Date.now() - drainStart;
  const half = queues.slice(Math.floor(queues.length / 2));
  const firstHalf = queues.slice(0, Math.floor(queues.length / 2));
  const mean = (a: number[]): number => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
  process.stdout.write(
    [
      `  offered ${Math.round(offered / elapsed)} msg/s, acknowledged by the broker ${Math.round((end.published - start.published) / elapsed)} msg/s, received by a subscriber ${Math.round((received - receivedAtStart) / elapsed)} msg/s`,
      `  queue: max ${Math.max(...queues)}, mean ${Math.round(mean(firstHalf))} in the first half and ${Math.round(mean(half))} in the second (limit 10000); dropped ${end.dropped - start.dropped}; superseded in the queue by a newer value of the same topic ${end.superseded - start.superseded} (${(((end.superseded - start.superseded) / Math.max(1, offered)) * 100).toFixed(1)}% of offered); drained ${drainMs} ms after the feed stopped`,
      `  bridge process CPU ${(((cpu.user + cpu.system) / 1e6 / elapsed) * 100).toFixed(0)}% of one core (feed included); machine load ${(await import('node:os')).loadavg()[0]!.toFixed(1)} on ${(await import('node:os')).cpus().length} cores`,
      `  verdict: ${end.dropped === start.dropped && mean(half) <= mean(firstHalf) * 1.5 + 100 ? 'queue flat, nothing dropped' : 'queue grows or drops'}; ${end.superseded === start.superseded ? 'every value published' : 'the broker got fewer messages than offered (intermediate values of a topic merged)'}`,
      '',
    ].join('\n'),
  );
  await bridge.close();
  sub.kill('SIGTERM');
  await broker.destroy();
}

await main();
