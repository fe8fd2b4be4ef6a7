/**
 * What the conformance suite serves for an instrument behind a GPIB bus: the simulated Prologix
 * adapter with the family's model at one address and the prologix bus daemon in front of it. The
 * suite's daemon then reaches the instrument with `gpib://127.0.0.1:<bus port>/<address>`, the
 * path a lab uses; a dropped link is the instrument switched off (the bus stays up).
 */
import type { BusInstrumentModel, Simulator } from '../../daemon/api.js';
import { startDaemon, type Daemon } from '../../daemon/daemon.js';
import { prologixFamily } from '../../devices/prologix/device.js';
import { PrologixSimulator } from '../../devices/prologix/simulator/simulator.js';
import { silentLogger } from '../../util/logger.js';

export class GpibInstrumentBench<M extends BusInstrumentModel> implements Simulator {
  private adapter: PrologixSimulator | undefined;
  private bus: Daemon | undefined;

  constructor(readonly model: M, readonly address: number) {}

  /** Starts adapter and bus daemon; resolves with the bus daemon's port once it has the adapter. */
  async listenTcp(host: string): Promise<number> {
    this.adapter = new PrologixSimulator({ instruments: new Map([[this.address, this.model]]), latencyMs: 0 });
    const adapterPort = await this.adapter.listenTcp(host, 0);
    this.bus = await startDaemon({
      definition: prologixFamily.definition,
      options: {},
      link: { kind: 'tcp', host, port: adapterPort },
      name: 'gpib',
      port: 0,
      logger: silentLogger(),
      version: 'conformance',
    });
    const deadline = Date.now() + 15_000;
    while (!this.bus.runner.hwConnected) {
      if (Date.now() > deadline) throw new Error('the bus daemon did not connect to the simulated adapter within 15 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.bus.port;
  }

  listenPty(): Promise<string> {
    return Promise.reject(new Error('a GPIB instrument is reached through its bus, not a pseudo-terminal'));
  }

  /** The instrument off: nothing it receives is answered, reads stay silent. */
  setOff(on: boolean): void {
    this.adapter!.setInstrumentFault(this.address, 'off', on);
  }


  async close(): Promise<void> {
    await this.bus?.close();
    await this.adapter?.close();
  }
}

export const BUS_PAIRS_REPLIES =
  'the family sits behind the GPIB bus daemon, which pairs every reply with its own transaction (proved by src/devices/prologix interleave and e2e tests)';
