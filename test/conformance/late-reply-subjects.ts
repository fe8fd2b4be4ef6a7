/**
 * How each family takes part in the delaying-proxy scenario (late-replies.ts): how its requests are
 * cut, which are answered, and which published values a reply carries, decoded with the family's
 * own codec the way its driver does. Shared by the conformance suite and the long runs.
 */
import { arbinFamily, channelValues } from '../../src/devices/arbin/device.js';
import { createArbinSimulator } from '../../src/devices/arbin/simulator.js';
import { CtiStreamDecoder, FEEDBACK, decodeChannelsInfoFeedback, decodeLoginFeedback, parseFrame } from '../../src/devices/arbin/codec.js';
import { cryoconFamily } from '../../src/devices/cryocon/device.js';
import { createCryoconSimulator } from '../../src/devices/cryocon/simulator.js';
import { isNack, parseHeaterPercent, parseNumber as cryoconNumber, parseOnOff, parseReading, splitOutsideQuotes, splitReply, toKelvin } from '../../src/devices/cryocon/codec.js';
import { julaboFamily } from '../../src/devices/julabo/device.js';
import { JulaboSimulator } from '../../src/devices/julabo/simulator.js';
import { expectsReply, parseDeviceError, parseMode, parseNumber as julaboNumber, parseStatus } from '../../src/devices/julabo/codec.js';
import { lineSplitter } from '../../src/links/splitters.js';
import type { WireValue } from '../../src/wire/types.js';
import type { LateReplySubject } from '../../src/testing/conformance/late-replies.js';

// ---------------------------------------------------------------- Julabo

/** A number, or null where the unit answered its own error (the daemon publishes nan then). */
function julaboReading(reply: string): number | null {
  return parseDeviceError(reply) ? null : (julaboNumber(reply) ?? null);
}

export function julaboLateReplies(seed: number): LateReplySubject {
  return {
    family: julaboFamily,
    // Running, with noise and a fast clock: every temperature reply differs from the one before.
    createSimulator: () => new JulaboSimulator({ byteTiming: false, noise: 0.05, timeScale: 60, setpoint: 20, running: true, seed }),
    requestSplitter: () => lineSplitter({ terminators: ['\r\n', '\r', '\n'], stripCR: false, skipEmpty: true }),
    answered: (request) => expectsReply(request.toString('latin1')),
    values: (request, reply): Record<string, WireValue> => {
      const text = reply.toString('latin1').trim();
      switch (request.toString('latin1').trim()) {
        case 'in_pv_00':
          return { temperature: julaboReading(text) };
        case 'in_sp_00':
          return { setpoint: julaboReading(text) };
        case 'in_mode_05':
          return { running: parseDeviceError(text) ? null : (parseMode(text) ?? null) };
        case 'status': {
          const s = parseStatus(text);
          return s ? { status_code: s.code, status_text: s.text } : {};
        }
        case 'version':
          return { version: text };
        default:
          return {};
      }
    },
    // Distinct setpoints, 0.05 °C apart, inside the FL1703's range.
    set: (i) => ({ param: 'setpoint', value: Math.round((5 + (i % 600) * 0.05) * 100) / 100 }),
    // The unit's 250 ms spacing scaled down with the timeout, so a thousand requests take seconds.
    exchange: { minGapMs: 5, gapAfterReplyMs: 1, timeoutMs: 60, initialBackoffMs: 20, maxBackoffMs: 100 },
    pollDivisor: 100,
  };
}

// ---------------------------------------------------------------- Cryo-con

interface Query {
  group: string;
  command: string;
}

/** The queries of one request line, each with its subsystem, as the controller reads them. */
export function cryoconQueries(line: string): Query[] {
  const out: Query[] = [];
  let group = '';
  for (const raw of splitOutsideQuotes(line.trim())) {
    let part = raw.trim();
    if (part.startsWith(':')) {
      part = part.slice(1);
      const colon = part.lastIndexOf(':');
      group = colon >= 0 ? part.slice(0, colon).toUpperCase() : '';
      part = colon >= 0 ? part.slice(colon + 1) : part;
    }
    if (part.includes('?')) out.push({ group, command: part.toUpperCase() });
  }
  return out;
}

export function cryoconLateReplies(seed: number): LateReplySubject {
  return {
    family: cryoconFamily,
    createSimulator: () => createCryoconSimulator({ noise: 0.01, timeScale: 100, byteTiming: false, seed, minGapMs: 2 }),
    requestSplitter: () => lineSplitter({ terminators: ['\n'], stripCR: true, skipEmpty: true }),
    answered: (request) => request.toString('latin1').includes('?'),
    values: (request, reply): Record<string, WireValue> => {
      const queries = cryoconQueries(request.toString('latin1'));
      const fields = splitReply(reply.toString('latin1'));
      // A refused set adds a NACK in front of the read-backs: the answers are the last fields.
      const answers = fields.slice(fields.length - queries.length);
      if (answers.length !== queries.length) return {};
      const field = (group: string, command: string): string | undefined => {
        const i = queries.findIndex((q) => q.group === group && q.command === command);
        const f = i >= 0 ? answers[i] : undefined;
        return f === undefined || isNack(f) ? undefined : f;
      };
      const out: Record<string, WireValue> = {};
      for (const [i, q] of queries.entries()) {
        const f = answers[i]!;
        if (isNack(f)) continue;
        const loop = /^LOOP ([1-4])$/.exec(q.group)?.[1];
        const input = /^INP ([A-D])$/.exec(q.group)?.[1];
        if (q.group === '' && q.command === 'CONT?') out.control = parseOnOff(f) ?? null;
        if (loop && ['PGA?', 'IGA?', 'DGA?'].includes(q.command)) out[`loop${loop}.${q.command[0]!.toLowerCase()}gain`] = cryoconNumber(f) ?? null;
        if (loop && q.command === 'OUTP?') out[`loop${loop}.output`] = cryoconNumber(f) ?? parseHeaterPercent(f) ?? null;
        if (input && q.command === 'TEMP?') {
          const units = field(q.group, 'UNIT?')?.trim().toUpperCase();
          if (units === undefined) continue;
          const reading = parseReading(f);
          out[`ch${input}.temperature`] =
            reading?.kind === 'value' && units !== 'S' ? (toKelvin(reading.value, units) ?? null) : null;
        }
      }
      return out;
    },
    // Distinct gains, 0.01 apart, inside the 0–1000 limit.
    set: (i) => ({ param: 'loop1.pgain', value: Math.round((10 + (i % 5000) * 0.01) * 100) / 100 }),
    exchange: { minGapMs: 5, timeoutMs: 60, initialBackoffMs: 20, maxBackoffMs: 100 },
    pollDivisor: 100,
  };
}

// ---------------------------------------------------------------- Arbin

export function arbinLateReplies(seed: number, secretsFile: string, credentials: { username: string; password: string }): LateReplySubject {
  return {
    family: arbinFamily,
    // Voltage noise, so consecutive channel readings differ.
    createSimulator: () => createArbinSimulator({ ...credentials, channels: 4, noise: 0.002, timeScale: 10, seed }),
    deviceOptions: { secretsFile, replyTimeoutMs: 100 },
    requestSplitter: () => {
      const decoder = new CtiStreamDecoder({ kind: 'request' });
      return { push: (chunk) => decoder.push(chunk).frames, reset: () => decoder.reset() };
    },
    answered: () => true,
    values: (_request, reply): Record<string, WireValue> => {
      let frame;
      try {
        frame = parseFrame(reply, 'feedback');
      } catch {
        return {};
      }
      if (frame.cmd >>> 0 === FEEDBACK.GET_CHANNELS_INFO >>> 0) {
        const records = decodeChannelsInfoFeedback(frame);
        return Object.assign({ channel_count: records.length }, ...records.map((r) => channelValues(r.channel, r))) as Record<string, WireValue>;
      }
      if (frame.cmd >>> 0 === FEEDBACK.LOGIN >>> 0) {
        const login = decodeLoginFeedback(frame);
        return { serial_number: login.serialNumber, channel_count: login.channelCount, allow_control: login.allowControl };
      }
      return {};
    },
    // The CTI feedback timeout's lower bound is 100 ms.
    exchange: { timeoutMs: 100, resyncQuietMs: 100, initialBackoffMs: 20, maxBackoffMs: 100 },
    pollDivisor: 100,
  };
}
