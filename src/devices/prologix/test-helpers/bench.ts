/**
 * A GPIB bench for tests: the Prologix simulator with small test-only instruments behind it and
 * the prologix bus daemon in front, in-process on loopback ports chosen by the OS.
 */
import type { BusInstrumentModel } from '../../../daemon/api.js';
import { startDaemon, type Daemon, type DaemonOptions } from '../../../daemon/daemon.js';
import { silentLogger, type Logger } from '../../../util/logger.js';
import { RawClient } from '../../../testing/raw-client.js';
import { prologixFamily } from '../device.js';
import { PrologixSimulator } from '../simulator/simulator.js';

/**
 * An instrument that answers `*IDN?` with its name, `ECHO? <text>` with the text, `MULTI?` with a
 * reply holding CR and LF, and stays silent for any other query; everything it receives is kept.
 */
export class TestInstrument implements BusInstrumentModel {
  readonly received: Buffer[] = [];
  private pending: Buffer | undefined;
  constructor(readonly name: string) {}

  receive(data: Buffer): void {
    this.received.push(data);
    const text = data.toString('latin1').replace(/\r?\n$/, '');
    let out: string | undefined;
    if (text === '*IDN?') out = `TEST INSTRUMENTS,${this.name},0,1.0`;
    else if (text.startsWith('ECHO? ')) out = text.slice(6);
    else if (text === 'MULTI?') out = 'LINE1\rLINE2\nLINE3';
    // A new message discards an unread reply, as a real instrument does.
    this.pending = out === undefined ? undefined : Buffer.from(`${out}\n`, 'latin1');
  }

  talk(): Buffer | undefined {
    const out = this.pending;
    this.pending = undefined;
    return out;
  }

  clear(): void {
    this.pending = undefined;
  }

  statusByte(): number {
    return this.pending ? 0x10 : 0;
  }

  /** What it received, as text lines without the end-of-string. */
  texts(): string[] {
    return this.received.map((b) => b.toString('latin1').replace(/\r?\n$/, ''));
  }
}

export interface GpibBench {
  sim: PrologixSimulator;
  simPort: number;
  daemon: Daemon;
  port: number;
  instruments: Map<number, TestInstrument>;
  client(): Promise<RawClient>;
  close(): Promise<void>;
}

export async function startGpibBench(opts: { addresses?: number[]; logger?: Logger; readTimeoutMs?: number; latencyMs?: number; models?: Map<number, BusInstrumentModel>; daemon?: Partial<DaemonOptions> } = {}): Promise<GpibBench> {
  const instruments = new Map<number, TestInstrument>();
  for (const a of opts.addresses ?? [14, 15, 22]) instruments.set(a, new TestInstrument(`MODEL${a}`));
  const models = new Map<number, BusInstrumentModel>([...instruments, ...(opts.models ?? [])]);
  const sim = new PrologixSimulator({ instruments: models, latencyMs: opts.latencyMs ?? 0 });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const daemon = await startDaemon({
    definition: prologixFamily.definition,
    options: { readTimeoutMs: opts.readTimeoutMs ?? 300 },
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'gpib',
    port: 0,
    logger: opts.logger ?? silentLogger(),
    version: 'test',
    ...opts.daemon,
  });
  // Ready means the bus has set the adapter up.
  const deadline = Date.now() + 15_000;
  while (!daemon.runner.hwConnected) {
    if (Date.now() > deadline) throw new Error('the bus daemon did not connect to the simulated adapter within 15 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  const clients: RawClient[] = [];
  return {
    sim,
    simPort,
    daemon,
    port: daemon.port,
    instruments,
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
