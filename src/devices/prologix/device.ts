/**
 * The `prologix` family: the bus daemon that owns a Prologix GPIB-ETHERNET adapter
 * (`labwire daemon prologix --link tcp://adapter:1234 --name gpib`). Instrument daemons reach
 * their instrument through it (`gpib://host:port/ADDR`, labwire `query`/`write`), and CCDLab's
 * instrument daemons through the multiplexor protocol on the same port (ccdlab.ts).
 */
import { z } from 'zod';
import { defineDevice, deviceFamily } from '../../daemon/api.js';
import type { WireValue } from '../../wire/types.js';
import { LabwireError } from '../../wire/types.js';
import { GpibBus, GPIB_BUS_DEFAULTS } from '../kits/gpib/bus.js';
import { MAX_READ_TMO_MS, command, splitTransaction } from '../kits/gpib/codec.js';
import { shareBus } from '../kits/gpib/local.js';
import { transactionSplitter } from '../kits/gpib/splitter.js';
import { ccdlabMultiplexor } from './ccdlab.js';
import './gpib-link.js';

export const prologixOptionsSchema = z.object({
  /** `++eos`: 0 CR LF, 1 CR, 2 LF (default), 3 nothing. */
  eos: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).default(GPIB_BUS_DEFAULTS.eos),
  /** The adapter's read timeout for askers that give none, ms (1–3000). */
  readTimeoutMs: z.number().int().min(1).max(MAX_READ_TMO_MS).default(GPIB_BUS_DEFAULTS.readTimeoutMs),
}).strict();

export type PrologixOptions = z.output<typeof prologixOptionsSchema>;

const ADDRESS = { type: 'int', min: 1, max: 30, description: 'GPIB primary address of the instrument (1–30)' } as const;
const DATA = { type: 'string', description: 'the message for the instrument, without terminator (bytes as latin1 text, or hex with hex=1); escaped by the bus' } as const;
const HEX = { type: 'bool', optional: true, description: 'data and reply are hexadecimal byte strings' } as const;

function dataBytes(data: WireValue | undefined, hex: WireValue | undefined): Buffer {
  const text = String(data ?? '');
  if (hex === true) {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new LabwireError('WrongType', 'with hex=1, data must be pairs of hexadecimal digits, e.g. 2a49444e3f', 'query');
    return Buffer.from(text, 'hex');
  }
  if ([...text].some((c) => c.charCodeAt(0) > 0xff)) throw new LabwireError('WrongType', 'data holds characters beyond one byte; send binary data with hex=1', 'query');
  return Buffer.from(text, 'latin1');
}

const WITHIN = {
  type: 'int',
  min: 1,
  max: 600_000,
  optional: true,
  description: 'drop the transaction, unsent, if the bus cannot start it within this long (the asker has given up by then)',
  unit: 'ms',
} as const;

function notAfter(withinMs: WireValue | undefined): { notAfter?: number } {
  return withinMs === undefined ? {} : { notAfter: performance.now() + Number(withinMs) };
}

export const prologixDevice = defineDevice<PrologixOptions, GpibBus>({
  type: 'prologix',
  title: 'Prologix GPIB-ETHERNET adapter: the GPIB bus daemon (also speaks CCDLab\'s gpib.py multiplexor protocol)',
  options: prologixOptionsSchema,
  exchange: {
    // Each transaction brings its own timeout (the adapter's read timeout plus a margin); this
    // one covers the resync probe and set-up.
    timeoutMs: 2000,
    // Out of step only when the adapter itself missed a deadline: its reads are long over then.
    resyncQuietMs: 500,
    resyncProbe: {
      request: command('ver'),
      isAnswer: (frame) => frame.length > 0 && splitTransaction(frame).reply.length === 0,
      timeoutMs: 2000,
    },
    initialBackoffMs: 500,
    maxBackoffMs: 10_000,
  },
  splitter: () => transactionSplitter(),
  params: {
    version: { type: 'string', description: 'the adapter\'s ++ver line' },
    current_addr: { type: 'int', description: 'GPIB address the adapter is set to (-1 before the first transaction), as CCDLab\'s gpib.py reports it' },
    transactions: { type: 'int', description: 'transactions made through the bus since the daemon started', key: true },
    timeouts: { type: 'int', description: 'queries whose instrument did not answer in time', key: true },
    reconnects: { type: 'int', description: 'times the adapter link was lost and regained (taken over by another client, dropped)' },
    addresses: { type: 'string', description: 'per address seen: address:present/absent:transactions:timeouts (details with bus_status)' },
  },
  commands: {
    query: {
      description: 'send a message to the instrument at addr and return its reply (++read eoi); a silent instrument answers code=Timeout',
      write: true,
      // Instrument daemons poll through it: counted in transactions and bus_status, not audited.
      traffic: true,
      args: {
        addr: ADDRESS,
        data: DATA,
        timeout_ms: { type: 'int', min: 1, max: MAX_READ_TMO_MS, optional: true, description: 'how long the instrument may take to answer (the adapter\'s read timeout)', unit: 'ms' },
        hex: HEX,
        within_ms: WITHIN,
      },
      run: async (bus, args) => {
        const reply = await bus.query(Number(args.addr), dataBytes(args.data, args.hex), {
          ...(args.timeout_ms === undefined ? {} : { timeoutMs: Number(args.timeout_ms) }),
          ...notAfter(args.within_ms),
        });
        return { reply: args.hex === true ? reply.toString('hex') : reply.toString('latin1') };
      },
    },
    write: {
      description: 'send a message to the instrument at addr without reading a reply',
      write: true,
      traffic: true,
      args: { addr: ADDRESS, data: DATA, hex: HEX, within_ms: WITHIN },
      run: async (bus, args) => {
        await bus.write(Number(args.addr), dataBytes(args.data, args.hex), notAfter(args.within_ms));
      },
    },
    bus_status: {
      description: 'per address seen: present, transactions, timeouts, errors, last error',
      write: false,
      run: async (bus) => {
        const out: Record<string, WireValue> = { current_addr: bus.address };
        for (const [a, s] of [...bus.addressStats()].sort(([x], [y]) => x - y)) {
          out[`a${a}_present`] = s.present;
          out[`a${a}_transactions`] = s.transactions;
          out[`a${a}_timeouts`] = s.timeouts;
          out[`a${a}_errors`] = s.errors;
          out[`a${a}_last_error`] = s.lastError;
        }
        return out;
      },
    },
  },
  poll: [
    {
      // Counters only: no adapter traffic.
      name: 'bus',
      everyMs: 1000,
      read: async (bus) => {
        let transactions = 0;
        let timeouts = 0;
        const parts: string[] = [];
        for (const [a, s] of [...bus.addressStats()].sort(([x], [y]) => x - y)) {
          transactions += s.transactions;
          timeouts += s.timeouts;
          parts.push(`${a}:${s.present ? 'present' : 'absent'}:${s.transactions}:${s.timeouts}`);
        }
        return { current_addr: bus.address, transactions, timeouts, reconnects: Math.max(0, bus.connections - 1), addresses: parts.join(' ') };
      },
    },
    {
      // A keepalive that proves the adapter answers: a half-open link is found within a poll.
      name: 'adapter',
      everyMs: 5000,
      read: async (bus) => ({ version: await bus.ping() }),
    },
  ],
  createDriver: (exchange, options) => new GpibBus(exchange, { eos: options.eos, readTimeoutMs: options.readTimeoutMs }),
  identify: async (bus) => bus.init(),
  foreign: ccdlabMultiplexor,
  serving: (bus, endpoint) => shareBus(endpoint.host, endpoint.port, bus),
});

export const prologixFamily = deviceFamily(prologixDevice, {
  loadSimulator: async () => (await import('./simulator/simulator.js')).createPrologixSimulator,
  plots: [{ id: 'traffic', name: 'Bus transactions', values: ['time', 'transactions', 'timeouts'], ylabel: 'count' }],
});
