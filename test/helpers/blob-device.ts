/**
 * A test device family for the binary block and the lab state: a fake instrument on TCP that
 * answers `READ` with a number, and a definition whose commands answer with bytes (`blob`), with
 * what `ctx.labState()` returned (`lab`), or with a line (`echo`). Started as a real daemon.
 */
import { z } from 'zod';
import { BinaryResult, defineDevice, type AnyDeviceDefinition, type LabState } from '../../src/daemon/api.js';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { lineSplitter } from '../../src/links/splitters.js';
import type { ExchangeLike } from '../../src/links/types.js';
import { FakeTcpDevice } from '../../src/testing/fake-devices.js';
import { silentLogger } from '../../src/util/logger.js';

/** The bytes `blob size=n seed=s` answers: deterministic, every value of a byte, LF and NUL included. */
export function blobBytes(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 7 + (i >> 11)) & 0xff;
  return b;
}

/** How many `blob` commands ran (this process): a stalled reader must stop them. */
export const blobStats = { served: 0, running: 0, peak: 0 };

export const blobDefinition = defineDevice({
  type: 'blob',
  title: 'Test device answering with bytes',
  options: z.object({}).strict(),
  exchange: { timeoutMs: 2000 },
  splitter: () => lineSplitter(),
  params: {
    level: { type: 'float', unit: 'mbar', readonly: true, description: 'a reading' },
  },
  commands: {
    blob: {
      description: 'answers with size bytes',
      write: false,
      binary: true,
      args: {
        size: { type: 'int', description: 'bytes' },
        seed: { type: 'int', description: 'pattern' },
        hold: { type: 'int', description: 'ms to take, as reading a large file does', optional: true },
      },
      run: async (_d, args) => {
        blobStats.served++;
        blobStats.running++;
        blobStats.peak = Math.max(blobStats.peak, blobStats.running);
        try {
          if (typeof args.hold === 'number') await new Promise((r) => setTimeout(r, args.hold as number));
        } finally {
          blobStats.running--;
        }
        return new BinaryResult('raw', blobBytes(Number(args.size), Number(args.seed)), { seed: Number(args.seed), note: 'a b' });
      },
    },
    badkind: {
      description: 'answers with bytes of an unusable kind',
      write: false,
      run: async () => new BinaryResult('two words', Buffer.from('x')),
    },
    echo: {
      description: 'answers with a line',
      write: false,
      args: { text: { type: 'string', description: 'anything' } },
      run: async (_d, args) => ({ text: args.text! }),
    },
    lab: {
      description: 'the lab state the handler sees, as JSON',
      write: false,
      run: async (_d, _args, ctx) => {
        const state: LabState = await ctx.labState();
        return { json: JSON.stringify(state) };
      },
    },
  },
  poll: [{ name: 'level', everyMs: 200, read: async (d: ExchangeLike) => ({ level: Number(String(await d.request('READ\n'))) }) }],
  createDriver: (exchange) => exchange,
}) as unknown as AnyDeviceDefinition;

export interface BlobDaemon {
  daemon: Daemon;
  instrument: FakeTcpDevice;
  close(): Promise<void>;
}

/** A fake instrument and a daemon of the blob family in front of it, on 127.0.0.1 port 0. */
export async function startBlobDaemon(opts: Partial<DaemonOptions> = {}): Promise<BlobDaemon> {
  const instrument = new FakeTcpDevice((line) => (line === 'READ' ? '12.5\n' : undefined));
  await instrument.start();
  const daemon = await startDaemon({
    definition: blobDefinition,
    link: instrument.spec,
    name: 'blob',
    port: 0,
    logger: silentLogger(),
    version: 'test',
    ...opts,
  });
  return {
    daemon,
    instrument,
    async close() {
      await daemon.close();
      await instrument.stop();
    },
  };
}
