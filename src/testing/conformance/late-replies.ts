/**
 * The delaying-proxy scenario (issue 10 §1): the real daemon against the real simulator over TCP,
 * with a proxy between them that holds back a share of the replies by about the reply timeout.
 * Every value the daemon publishes must be the simulator's latest reply to a query of that
 * parameter at the time the daemon published it; every reply the driver was given must be the
 * simulator's answer to that very request; every `ok set` must be confirmed by a read-back made
 * after that set's write.
 *
 * The truth comes from the wire, not from the daemon: the proxy records the bytes the daemon sent
 * and the bytes the simulator sent, each with its arrival time, and the simulator answers in order,
 * so request n of a connection is answered by reply n (requests that get no answer skipped).
 */
import type { AnyDeviceDefinition, DeviceFamily, PollGroup, Simulator } from '../../daemon/api.js';
import { startDaemon, type Daemon } from '../../daemon/daemon.js';
import type { UpdateEvent } from '../../daemon/runner.js';
import { describeBytes } from '../../links/exchange.js';
import type { ExchangeLike, ExchangeOptions, ReplySplitter, RequestOptions } from '../../links/types.js';
import { formatValue } from '../../wire/format.js';
import type { WireValue } from '../../wire/types.js';
import { silentLogger } from '../../util/logger.js';
import { LateReplyProxy, type DelaySpec, type ProxyChunk } from './late-reply-proxy.js';
import { RawClient } from '../raw-client.js';
import { kv } from '../status-lines.js';

export interface LateReplySubject {
  family: DeviceFamily;
  /** A simulator with noise (so consecutive readings differ) and no byte timing. */
  createSimulator(): Simulator;
  deviceOptions?: Record<string, unknown>;
  /** Cuts what the daemon sent into requests, as the simulator reads them. */
  requestSplitter(): ReplySplitter;
  /** Whether the simulator answers this request at all (Julabo `out_…` it does not). */
  answered(request: Buffer): boolean;
  /** The parameter values a reply to this request carries, exactly as the daemon publishes them. */
  values(request: Buffer, reply: Buffer): Record<string, WireValue>;
  /** The i-th set of the run, with a value no earlier set used; omit for families without one. */
  set?(i: number): { param: string; value: number };
  /** Faster pacing and a short reply timeout, so a thousand requests take seconds, not minutes. */
  exchange: ExchangeOptions;
  /** Poll periods are divided by this. */
  pollDivisor: number;
}

/**
 * Delays around a reply timeout T: a share of the replies held back by 0.5 T to 3 T, so some come
 * in just before the timeout, most after it, and some after the silence that follows it (the
 * issue measured 30 % of the replies held back by 1 to 2 timeouts).
 */
export function delaysAround(timeoutMs: number, fraction = 0.12): DelaySpec {
  return { fraction, minMs: timeoutMs / 2, maxMs: timeoutMs * 3 };
}

export interface ScenarioOptions {
  seed: number;
  /** Stop once the driver has made this many requests. */
  requests: number;
  /** Which replies the proxy holds back, and by how much. */
  delay: DelaySpec;
  /** Pause between two sets (one at a time). */
  setEveryMs?: number;
  /** Give up after this long, whatever the count. */
  deadlineMs: number;
  /** The daemon's half-open detection; long, so delays alone do not take the link down. */
  silentLinkMs?: number;
}

export interface ScenarioReport {
  /** Requests the simulator received (the driver's and the Exchange's own resync probes). */
  requests: number;
  replies: number;
  /** Replies the proxy held back longer than the reply timeout. */
  lateReplies: number;
  /** Parameter values the daemon published (and clients received) that the check could compare. */
  published: number;
  sets: { ok: number; failed: number; errors: Record<string, number> };
  wrongValues: string[];
  wrongPairs: string[];
  wrongSets: string[];
  elapsedMs: number;
}

interface Timed {
  at: number;
  wall: number;
  data: Buffer;
}

interface SetRecord {
  param: string;
  value: number;
  /** performance.now() when the client sent the set and when its reply arrived. */
  sentAt: number;
  reply: string;
  replyAt: number;
}

interface Published {
  /** performance.now() when the daemon emitted the update. */
  at: number;
  /** The update's own timestamp (Date.now() in the daemon). */
  t: number;
  changes: Record<string, WireValue>;
}

interface Truth {
  /** When the reply left the simulator (arrived at the proxy), performance.now(). */
  at: number;
  /** When the request it answers reached the simulator. */
  requestAt: number;
  value: WireValue;
}

interface SimPair {
  request: Timed;
  reply: Timed;
}

/** Splits one direction of one connection into messages, each with the time its last byte arrived. */
function cut(chunks: ProxyChunk[], splitter: ReplySplitter): Timed[] {
  const out: Timed[] = [];
  for (const c of chunks) {
    for (const data of splitter.push(c.data)) out.push({ at: c.at, wall: c.wall, data });
  }
  return out;
}

/** What the simulator answered to what, per connection, in order. */
function simulatorPairs(proxy: LateReplyProxy, subject: LateReplySubject): SimPair[] {
  const pairs: SimPair[] = [];
  for (let c = 1; c <= proxy.connections; c++) {
    const requests = cut(proxy.upstream.filter((x) => x.connection === c), subject.requestSplitter()).filter((r) => subject.answered(r.data));
    const replies = cut(proxy.downstream.filter((x) => x.connection === c), subject.family.definition.splitter());
    const n = Math.min(requests.length, replies.length);
    for (let i = 0; i < n; i++) pairs.push({ request: requests[i]!, reply: replies[i]! });
  }
  return pairs;
}

const show = (b: Buffer): string => `"${describeBytes(b, 60)}"`;
/** A request as the simulator reads it: without its terminator. */
const bare = (b: Buffer): string => b.toString('latin1').replace(/[\r\n]+$/, '');

/** A copy of the definition with fast pacing and polls, whose driver reports every reply it is given. */
function instrumented(
  subject: LateReplySubject,
  given: { request: Buffer; reply: Buffer; at: number }[],
): AnyDeviceDefinition {
  const def = subject.family.definition;
  const fast = (groups: PollGroup[]): PollGroup[] => groups.map((g) => ({ ...g, everyMs: Math.max(1, Math.round(g.everyMs / subject.pollDivisor)) }));
  const poll = def.poll;
  return {
    ...def,
    exchange: { ...def.exchange, ...subject.exchange },
    poll: typeof poll === 'function' ? (options: unknown) => fast(poll(options)) : fast(poll),
    createDriver: (exchange: ExchangeLike, options: unknown) => {
      const recording: ExchangeLike = {
        get isUp() {
          return exchange.isUp;
        },
        async request(data: Buffer | string, opts?: RequestOptions) {
          const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
          const reply = await exchange.request(bytes, opts);
          if (reply !== undefined) given.push({ request: bytes, reply, at: performance.now() });
          return reply;
        },
      };
      return def.createDriver(recording, options as never);
    },
  } as AnyDeviceDefinition;
}

export async function runLateReplyScenario(subject: LateReplySubject, options: ScenarioOptions): Promise<ScenarioReport> {
  const started = performance.now();
  const sim = subject.createSimulator();
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const proxy = await LateReplyProxy.start({ target: { host: '127.0.0.1', port: simPort }, seed: options.seed, downstream: options.delay });
  const given: { request: Buffer; reply: Buffer; at: number }[] = [];
  let daemon: Daemon | undefined;
  const clients: RawClient[] = [];
  const sets: SetRecord[] = [];
  const published: Published[] = [];
  try {
    daemon = await startDaemon({
      definition: instrumented(subject, given),
      options: subject.deviceOptions,
      link: { kind: 'tcp', host: '127.0.0.1', port: proxy.port },
      name: `late-${subject.family.definition.type}`,
      port: 0,
      logger: silentLogger(),
      version: 'late-replies',
      silentLinkMs: options.silentLinkMs ?? 60_000,
    });
    // The daemon's own record of what it publishes, with a clock finer than the update's `t`
    // (a reply the simulator sends in the same millisecond must not count as already known).
    daemon.runner.on('update', (e: UpdateEvent) => published.push({ at: performance.now(), t: e.t, changes: e.changes }));
    const watcher = await RawClient.connect(daemon.port);
    clients.push(watcher);
    if ((await watcher.request('subscribe')) !== 'ok subscribe') throw new Error('subscribe failed');
    const setter = await RawClient.connect(daemon.port);
    clients.push(setter);

    const deadline = performance.now() + options.deadlineMs;
    let i = 0;
    while (given.length < options.requests && performance.now() < deadline) {
      if (subject.set) {
        const { param, value } = subject.set(i++);
        const sentAt = performance.now();
        const reply = await setter.request(`set ${param}=${value}`, 30_000);
        sets.push({ param, value, sentAt, reply, replyAt: performance.now() });
      }
      await new Promise((r) => setTimeout(r, options.setEveryMs ?? 200));
    }
    // Stop the daemon first: nothing it publishes afterwards goes unchecked.
    await daemon.close();
    daemon = undefined;
    await new Promise((r) => setTimeout(r, 50));
    return analyse(subject, proxy, given, published, watcher.lines, sets, started);
  } finally {
    for (const c of clients) c.close();
    await daemon?.close();
    await proxy.close();
    await sim.close();
  }
}

/** How often each text occurs, for the report. */
function tally(texts: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of texts) out[t] = (out[t] ?? 0) + 1;
  return out;
}

function analyse(
  subject: LateReplySubject,
  proxy: LateReplyProxy,
  given: { request: Buffer; reply: Buffer; at: number }[],
  published: Published[],
  lines: string[],
  sets: SetRecord[],
  started: number,
): ScenarioReport {
  const pairs = simulatorPairs(proxy, subject);
  const timeoutMs = subject.exchange.timeoutMs ?? subject.family.definition.exchange.timeoutMs ?? 2000;

  // 1. Every reply the driver was given is the simulator's answer to the request it was given for:
  //    the latest write of that request before the driver got its reply.
  const wrongPairs: string[] = [];
  for (const g of given) {
    let latest: SimPair | undefined;
    const wanted = bare(g.request);
    for (const p of pairs) if (p.request.at <= g.at && bare(p.request.data) === wanted) latest = p;
    if (!latest) wrongPairs.push(`${show(g.request)} got ${show(g.reply)}, but the simulator never answered such a request`);
    else if (!latest.reply.data.equals(g.reply)) {
      wrongPairs.push(`${show(g.request)} got ${show(g.reply)}; the simulator answered it with ${show(latest.reply.data)}`);
    }
  }

  // 2. The truth of each parameter over time: the value of the simulator's latest reply carrying it.
  const truth = new Map<string, Truth[]>();
  for (const p of pairs) {
    for (const [param, value] of Object.entries(subject.values(p.request.data, p.reply.data))) {
      let list = truth.get(param);
      if (!list) truth.set(param, (list = []));
      list.push({ at: p.reply.at, requestAt: p.request.at, value });
    }
  }
  const truthAt = (param: string, at: number): Truth | undefined => {
    let found: Truth | undefined;
    for (const e of truth.get(param) ?? []) if (e.at <= at) found = e;
    return found;
  };

  const wrongValues: string[] = [];
  let compared = 0;
  for (const u of published) {
    for (const [param, value] of Object.entries(u.changes)) {
      if (!truth.has(param)) continue;
      compared++;
      const text = formatValue(value);
      const expected = truthAt(param, u.at);
      if (!expected) wrongValues.push(`${param}=${text} published at ${u.t} before the simulator ever sent a ${param}`);
      else if (formatValue(expected.value) !== text) {
        const recent = (truth.get(param) ?? []).filter((e) => e.at >= u.at - 1000 && e.at <= u.at + 50).map((e) => `${formatValue(e.value)}@${Math.round(e.at - u.at)}ms`);
        wrongValues.push(`${param}=${text} published at ${u.t}; the simulator's latest ${param} then was ${formatValue(expected.value)} (recent: ${recent.join(' ')})`);
      }
    }
  }
  // What clients saw is what was checked: from the subscription on, the update lines are the
  // daemon's updates, in order.
  const seen = lines.filter((l) => l.startsWith('update ')).map((l) => JSON.stringify(kv(l)));
  const asLine = (u: Published): string =>
    JSON.stringify({ t: String(u.t), ...Object.fromEntries(Object.entries(u.changes).map(([k, v]) => [k, formatValue(v)])) });
  const first = published.findIndex((u) => asLine(u) === seen[0]);
  seen.forEach((line, i) => {
    const u = first < 0 ? undefined : published[first + i];
    if (!u || asLine(u) !== line) wrongValues.push(`a client got update ${line}; the daemon published ${u ? asLine(u) : 'nothing more'}`);
  });

  // 3. Every `ok set` is confirmed by a read-back the simulator answered after the set was sent.
  const wrongSets: string[] = [];
  let ok = 0;
  for (const s of sets) {
    if (!s.reply.startsWith('ok set ')) continue;
    ok++;
    const confirmed = Number(kv(s.reply)[s.param]);
    const read = truthAt(s.param, s.replyAt);
    if (!read || read.requestAt < s.sentAt) wrongSets.push(`${s.reply}: no read-back of ${s.param} after the set was sent`);
    else if (confirmed !== s.value || formatValue(read.value) !== formatValue(confirmed)) {
      wrongSets.push(`${s.reply} for set ${s.param}=${s.value}; the read-back said ${formatValue(read.value)}`);
    }
  }

  const upstreamRequests = (() => {
    let n = 0;
    for (let c = 1; c <= proxy.connections; c++) n += cut(proxy.upstream.filter((x) => x.connection === c), subject.requestSplitter()).length;
    return n;
  })();
  return {
    requests: upstreamRequests,
    replies: pairs.length,
    lateReplies: proxy.downstream.filter((c) => c.heldMs > timeoutMs).length,
    published: compared,
    sets: { ok, failed: sets.length - ok, errors: tally(sets.filter((x) => !x.reply.startsWith('ok ')).map((x) => x.reply.replace(/^error set code=(\w+) message="?(.{0,40}).*$/, '$1: $2').replace(/\d+(\.\d+)?/g, '#'))) },
    wrongValues,
    wrongPairs,
    wrongSets,
    elapsedMs: Math.round(performance.now() - started),
  };
}
