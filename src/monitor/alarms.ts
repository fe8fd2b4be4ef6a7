/**
 * The alarm engine (issue 6 item 2): pure evaluation, no I/O and no timers of its own. The monitor
 * feeds it value updates and link changes with their times, asks it when its next deadline is (a
 * delay before raising or clearing) and calls `tick` then; every call returns the transitions it
 * caused, which the monitor turns into notifications. Tests drive it with a fake clock.
 *
 * States of one alarm: ok → pending (fault seen, waiting for `delayMs`) → raised → acknowledged
 * (who, when) → cleared (the fault has gone past the hysteresis band for `clearDelayMs`). A fault
 * that goes away while pending returns to ok without raising. `cleared` behaves as ok for the
 * next occurrence. The Julabo predecessor had none of this (reference/julabo.md §10): it raised
 * and cleared at the same threshold, at once, whether the chiller ran or not.
 */
import { isMissing, parseCondition, type Condition } from '../client/condition.js';
import { numberOf } from '../wire/format.js';
import type { PeerValue } from './types.js';

export type AlarmSeverity = 'info' | 'warning' | 'critical';
export type AlarmType = 'threshold' | 'deviation' | 'rate' | 'disconnected' | 'state_error';
export type AlarmStatus = 'ok' | 'pending' | 'raised' | 'acknowledged' | 'cleared';

/** One alarm definition (the lab config's `alarms:` entries map onto these). */
export interface AlarmConfig {
  /** Unique id: letters, digits, `_`, `-`, `.`; used by `ack <id>` and as Alertmanager's alertname. */
  id: string;
  type: AlarmType;
  /** threshold, deviation, rate: the watched value, `<client>.<param>`. */
  param?: string;
  /** threshold: raise when the value is above this. */
  above?: number;
  /** threshold: raise when the value is below this. */
  below?: number;
  /** deviation: the value `param` is compared with, `<client>.<param>` (e.g. `chiller.setpoint`). */
  reference?: string;
  /** deviation: raise when |param − reference| is more than this. */
  maxDeviation?: number;
  /** rate: raise when |d param / dt| is more than this many units per minute. */
  maxRatePerMinute?: number;
  /** rate: the window the rate is measured over (default 60000 ms). */
  rateWindowMs?: number;
  /** disconnected, state_error: the client (daemon or peer name). */
  client?: string;
  /** How long the fault must last before the alarm is raised (default 0; `disconnected` 5000). */
  delayMs?: number;
  /** How far back past the limit the value must come before the alarm clears (default 0). */
  hysteresis?: number;
  /** How long the value must stay clear before the alarm clears (default 0). */
  clearDelayMs?: number;
  severity?: AlarmSeverity;
  /** A condition (client/condition.ts syntax) that must hold for the alarm to be evaluated, e.g. `chiller.running=1`. */
  activeWhen?: string;
  /** Text for people; a default is made from the definition. */
  description?: string;
}

/** What an alarm is now (MonitorView.alarms(), the `alarms` command, the web). */
export interface AlarmState {
  id: string;
  type: AlarmType;
  severity: AlarmSeverity;
  description: string;
  state: AlarmStatus;
  /** Unix ms of the last state change (or of the engine's start). */
  since: number;
  /** The clients this alarm reads. */
  clients: string[];
  /**
   * threshold, deviation, rate: the value it watches, as client and parameter (the page colours
   * that value while the alarm is raised; read these fields, never split `param`).
   */
  watches?: { client: string; param: string };
  /** The value the alarm judged last (the deviation for `deviation`, the rate for `rate`); null when unknown. */
  value: number | null;
  raisedAt?: number;
  acknowledgedBy?: string;
  acknowledgedAt?: number;
  clearedAt?: number;
}

/**
 * An alarm's state from before a monitor restart (the archive's alarm history), handed to
 * `AlarmEngine.restore`. Only raised and acknowledged survive: pending carries a timer that did
 * not, and ok/cleared is where every alarm starts anyway.
 */
export interface RestoredAlarm {
  state: 'raised' | 'acknowledged';
  /** Unix ms the alarm was raised. */
  raisedAt: number;
  /** acknowledged: who, and when (both required then). */
  acknowledgedBy?: string;
  acknowledgedAt?: number;
}

/** One state change, as it goes to the log, the archive, the event and the hooks. */
export interface AlarmTransition {
  id: string;
  t: number;
  from: AlarmStatus;
  to: AlarmStatus;
  severity: AlarmSeverity;
  /** A sentence for people: what happened and why. */
  message: string;
  value: number | null;
  /** Acknowledgements: who. */
  who?: string;
  /** The alarm's state after the change. */
  state: AlarmState;
}

export const ALARM_ID = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const PARAM = /^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_.-]*$/;
const DEFAULT_DISCONNECTED_DELAY_MS = 5000;
const DEFAULT_RATE_WINDOW_MS = 60_000;
/** Samples kept per rate alarm, whatever the update rate. */
const RATE_SAMPLES = 512;

/** Judgement of one evaluation: in fault, clear (past the hysteresis band), or in between/unknown. */
type Verdict = 'fault' | 'clear' | 'hold' | 'unknown';

function clientOf(name: string): string {
  return name.slice(0, name.indexOf('.'));
}

/** `<client>.<param>` as its parts: client names have no dot (lab.ts), parameter names may (`chA.temperature`). */
function watched(ref: string): { client: string; param: string } {
  const client = clientOf(ref);
  return { client, param: ref.slice(client.length + 1) };
}


const fmt = (v: number): string => String(Math.round(v * 1000) / 1000);

/**
 * Problems with alarm definitions, one sentence each (empty when fine). `clients`, when given,
 * are the configured client names every `<client>.<param>` must refer to.
 */
export function alarmConfigProblems(defs: readonly AlarmConfig[], clients?: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  defs.forEach((d, i) => {
    const where = `alarm ${i + 1}${typeof d.id === 'string' ? ` "${d.id}"` : ''}`;
    const bad = (text: string): void => void out.push(`${where}: ${text}`);
    if (typeof d.id !== 'string' || !ALARM_ID.test(d.id)) bad('id must be letters, digits, _, - and . (starting with a letter or _)');
    else if (seen.has(d.id)) bad('the id is used twice');
    else seen.add(d.id);
    const param = (key: 'param' | 'reference'): void => {
      const p = d[key];
      if (typeof p !== 'string' || !PARAM.test(p)) return bad(`${key} must be <client>.<param>, e.g. chiller.temperature`);
      if (clients && !clients.has(clientOf(p))) bad(`${key} ${p} names the client "${clientOf(p)}", which is not configured; clients: ${[...clients].join(', ') || 'none'}`);
    };
    const finite = (key: keyof AlarmConfig, min: number, required: boolean): void => {
      const v = d[key];
      if (v === undefined) {
        if (required) bad(`${key} is required for a ${d.type} alarm`);
        return;
      }
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) bad(`${key} must be a number >= ${min}, got ${String(v)}`);
    };
    switch (d.type) {
      case 'threshold':
        param('param');
        if (d.above === undefined && d.below === undefined) bad('a threshold alarm needs above, below or both');
        if (d.above !== undefined && !Number.isFinite(d.above)) bad('above must be a number');
        if (d.below !== undefined && !Number.isFinite(d.below)) bad('below must be a number');
        break;
      case 'deviation':
        param('param');
        param('reference');
        finite('maxDeviation', 0, true);
        break;
      case 'rate':
        param('param');
        finite('maxRatePerMinute', 0, true);
        finite('rateWindowMs', 1, false);
        break;
      case 'disconnected':
      case 'state_error':
        if (typeof d.client !== 'string' || d.client === '') bad(`a ${d.type} alarm needs client`);
        else if (clients && !clients.has(d.client)) bad(`client "${d.client}" is not configured; clients: ${[...clients].join(', ') || 'none'}`);
        break;
      default:
        bad(`unknown type "${String(d.type as unknown)}"; expected threshold, deviation, rate, disconnected or state_error`);
    }
    finite('delayMs', 0, false);
    finite('hysteresis', 0, false);
    finite('clearDelayMs', 0, false);
    if (d.severity !== undefined && !['info', 'warning', 'critical'].includes(d.severity)) bad('severity must be info, warning or critical');
    if (d.activeWhen !== undefined) {
      try {
        const c = parseCondition(d.activeWhen);
        for (const n of c.names) {
          if (!PARAM.test(n)) bad(`activeWhen names "${n}"; write <client>.<param>`);
          else if (clients && !clients.has(clientOf(n))) bad(`activeWhen names the client "${clientOf(n)}", which is not configured`);
        }
      } catch (err) {
        bad(`activeWhen: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });
  return out;
}

function describe(d: AlarmConfig): string {
  if (d.description) return d.description;
  switch (d.type) {
    case 'threshold': {
      const parts = [d.above !== undefined ? `above ${d.above}` : '', d.below !== undefined ? `below ${d.below}` : ''].filter(Boolean);
      return `${d.param} ${parts.join(' or ')}`;
    }
    case 'deviation':
      return `${d.param} deviates from ${d.reference} by more than ${d.maxDeviation}`;
    case 'rate':
      return `${d.param} changes faster than ${d.maxRatePerMinute}/min`;
    case 'disconnected':
      return `${d.client} disconnected`;
    case 'state_error':
      return `${d.client} reports state=error`;
  }
}

interface Runtime {
  def: AlarmConfig;
  severity: AlarmSeverity;
  delayMs: number;
  clearDelayMs: number;
  hysteresis: number;
  condition: Condition | undefined;
  clients: string[];
  state: AlarmState;
  verdict: Verdict;
  pendingSince: number | undefined;
  clearingSince: number | undefined;
  /** rate: recent (t, value) samples of `param`. */
  samples: Array<[number, number]>;
  /**
   * Restored after a restart and not yet judged with every `activeWhen` value known: until then a
   * condition that fails may only be waiting for its values, so it must not clear the alarm.
   */
  restored: boolean;
}

export class AlarmEngine {
  private readonly alarms: Runtime[] = [];
  private readonly byId = new Map<string, Runtime>();
  private readonly values = new Map<string, PeerValue>();
  private readonly connected = new Set<string>();
  /** Set by the first update, link, tick or acknowledgement: restoring after that would rewrite history the monitor has already reported. */
  private running = false;

  /** `start` is the time the engine starts: every client counts as disconnected since then. */
  constructor(defs: readonly AlarmConfig[], start: number) {
    const problems = alarmConfigProblems(defs);
    if (problems.length > 0) throw new Error(`alarm config: ${problems.join('; ')}`);
    for (const def of defs) {
      const names = [def.param, def.reference, ...(def.activeWhen ? parseCondition(def.activeWhen).names : [])].filter((n): n is string => n !== undefined);
      const clients = [...new Set([...(def.client ? [def.client] : []), ...names.map(clientOf)])];
      const rt: Runtime = {
        def,
        severity: def.severity ?? 'warning',
        delayMs: def.delayMs ?? (def.type === 'disconnected' ? DEFAULT_DISCONNECTED_DELAY_MS : 0),
        clearDelayMs: def.clearDelayMs ?? 0,
        hysteresis: def.hysteresis ?? 0,
        condition: def.activeWhen ? parseCondition(def.activeWhen) : undefined,
        clients,
        state: { id: def.id, type: def.type, severity: def.severity ?? 'warning', description: describe(def), state: 'ok', since: start, clients, ...(def.param ? { watches: watched(def.param) } : {}), value: null },
        verdict: 'unknown',
        pendingSince: undefined,
        clearingSince: undefined,
        samples: [],
        restored: false,
      };
      this.alarms.push(rt);
      this.byId.set(def.id, rt);
    }
    // Disconnected alarms start counting at once: a client that never connects raises after the delay.
    for (const rt of this.alarms) if (rt.def.type === 'disconnected') this.evaluate(rt, start, []);
  }

  get size(): number {
    return this.alarms.length;
  }

  /** Every client any alarm reads. */
  clients(): Set<string> {
    return new Set(this.alarms.flatMap((a) => a.clients));
  }

  states(): AlarmState[] {
    return this.alarms.map((a) => ({ ...a.state, clients: [...a.clients] }));
  }

  state(id: string): AlarmState | undefined {
    const rt = this.byId.get(id);
    return rt ? { ...rt.state, clients: [...rt.clients] } : undefined;
  }

  /** Raised or acknowledged alarms. */
  active(): AlarmState[] {
    return this.states().filter((s) => s.state === 'raised' || s.state === 'acknowledged');
  }

  /**
   * Seeds the state an alarm had before the monitor restarted, so a fault that outlived the
   * restart is not raised (and notified) again and its acknowledgement is kept. Returns the new
   * state, or undefined for an id that is not configured (any more). No transition is returned:
   * nothing changed for the people told about it. From here on the alarm behaves as if the
   * monitor had never stopped: it stays raised/acknowledged while the fault holds or its inputs
   * are unknown, and clears through hysteresis and clear delay. Only before the first
   * update/link/tick/acknowledge; throws an Error after that, or for a malformed state.
   */
  restore(id: string, saved: RestoredAlarm, now: number): AlarmState | undefined {
    if (this.running) throw new Error(`alarm "${id}": restore is only possible before the engine evaluates anything`);
    const rt = this.byId.get(id);
    if (!rt) return undefined;
    if (saved.state !== 'raised' && saved.state !== 'acknowledged') throw new Error(`alarm "${id}": cannot restore the state "${String(saved.state)}"; only raised or acknowledged`);
    if (!Number.isFinite(saved.raisedAt)) throw new Error(`alarm "${id}": restore needs raisedAt as unix ms, got ${String(saved.raisedAt)}`);
    const s = rt.state;
    delete s.clearedAt;
    delete s.acknowledgedBy;
    delete s.acknowledgedAt;
    s.raisedAt = saved.raisedAt;
    s.since = saved.raisedAt;
    if (saved.state === 'acknowledged') {
      if (typeof saved.acknowledgedBy !== 'string' || saved.acknowledgedBy === '' || !Number.isFinite(saved.acknowledgedAt)) {
        throw new Error(`alarm "${id}": restoring an acknowledgement needs acknowledgedBy and acknowledgedAt`);
      }
      s.acknowledgedBy = saved.acknowledgedBy;
      s.acknowledgedAt = saved.acknowledgedAt!;
      s.since = saved.acknowledgedAt!;
    }
    s.state = saved.state;
    s.value = null;
    // A disconnected alarm went pending in the constructor; that occurrence is this restored one.
    rt.pendingSince = undefined;
    rt.clearingSince = undefined;
    rt.samples = [];
    rt.restored = rt.condition !== undefined;
    const out: AlarmTransition[] = [];
    this.evaluate(rt, now, out);
    // Nothing is known yet but links (all down): a restored alarm cannot move here.
    if (out.length > 0) throw new Error(`alarm "${id}": restore caused ${out.map((tr) => tr.to).join(', ')}; this is a bug`);
    return this.state(id);
  }

  /** New values of one client (changes only, or a full snapshot). */
  update(client: string, changes: Readonly<Record<string, PeerValue>>, t: number): AlarmTransition[] {
    this.running = true;
    for (const [k, v] of Object.entries(changes)) this.values.set(`${client}.${k}`, v);
    const out: AlarmTransition[] = [];
    for (const rt of this.alarms) {
      if (!rt.clients.includes(client)) continue;
      if (rt.def.type === 'rate' && rt.def.param !== undefined && clientOf(rt.def.param) === client) {
        const key = rt.def.param.slice(client.length + 1);
        if (Object.hasOwn(changes, key)) this.addSample(rt, t, numberOf(changes[key]));
      }
      this.evaluate(rt, t, out);
    }
    return out;
  }

  /** A client connected or disconnected; its values are forgotten when it goes down. */
  link(client: string, up: boolean, t: number): AlarmTransition[] {
    this.running = true;
    if (up) this.connected.add(client);
    else {
      this.connected.delete(client);
      for (const k of [...this.values.keys()]) if (k.startsWith(`${client}.`)) this.values.delete(k);
    }
    const out: AlarmTransition[] = [];
    for (const rt of this.alarms) {
      if (!rt.clients.includes(client)) continue;
      if (!up) rt.samples = [];
      this.evaluate(rt, t, out);
    }
    return out;
  }

  /** The earliest time a delay ends (call `tick` then), or undefined. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const rt of this.alarms) {
      let at: number | undefined;
      if (rt.state.state === 'pending' && rt.pendingSince !== undefined) at = rt.pendingSince + rt.delayMs;
      else if (rt.clearingSince !== undefined) at = rt.clearingSince + rt.clearDelayMs;
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** Time passes: delays that ended take effect. */
  tick(t: number): AlarmTransition[] {
    this.running = true;
    const out: AlarmTransition[] = [];
    for (const rt of this.alarms) this.advance(rt, t, out);
    return out;
  }

  /**
   * Acknowledges a raised alarm. Throws an Error with a sentence for people when the id is unknown
   * or the alarm is not raised.
   */
  acknowledge(id: string, who: string, t: number): AlarmTransition {
    this.running = true;
    const rt = this.byId.get(id);
    if (!rt) throw new Error(`no alarm "${id}"; alarms: ${[...this.byId.keys()].join(', ') || 'none'}`);
    const s = rt.state;
    if (s.state === 'acknowledged') throw new Error(`alarm "${id}" was already acknowledged by ${s.acknowledgedBy ?? '?'} at ${new Date(s.acknowledgedAt ?? 0).toISOString()}`);
    if (s.state !== 'raised') throw new Error(`alarm "${id}" is ${s.state}, not raised: nothing to acknowledge`);
    s.acknowledgedBy = who;
    s.acknowledgedAt = t;
    return this.move(rt, 'acknowledged', t, `${s.description}: acknowledged by ${who}`, who);
  }

  // ---- internals ------------------------------------------------------------------------------

  private addSample(rt: Runtime, t: number, v: number | undefined): void {
    if (v === undefined) {
      rt.samples = [];
      return;
    }
    const window = rt.def.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS;
    rt.samples.push([t, v]);
    while (rt.samples.length > RATE_SAMPLES || (rt.samples.length > 2 && t - rt.samples[1]![0] >= window)) rt.samples.shift();
  }

  /** The current values of the names a condition reads. */
  private pick(names: readonly string[]): Record<string, PeerValue | undefined> {
    const out: Record<string, PeerValue | undefined> = {};
    for (const n of names) Object.defineProperty(out, n, { value: this.values.get(n), enumerable: true });
    return out;
  }

  /** The value judged and the verdict for it. */
  private judge(rt: Runtime): { verdict: Verdict; value: number | null } {
    const d = rt.def;
    const h = rt.hysteresis;
    const get = (name: string | undefined): number | undefined => (name === undefined ? undefined : numberOf(this.values.get(name)));
    switch (d.type) {
      case 'disconnected': {
        const up = this.connected.has(d.client!);
        return { verdict: up ? 'clear' : 'fault', value: up ? 1 : 0 };
      }
      case 'state_error': {
        const v = this.values.get(`${d.client}.state`);
        if (isMissing(v)) return { verdict: 'unknown', value: null };
        return { verdict: String(v).trim().toLowerCase() === 'error' ? 'fault' : 'clear', value: null };
      }
      case 'threshold': {
        const v = get(d.param);
        if (v === undefined) return { verdict: 'unknown', value: null };
        const fault = (d.above !== undefined && v > d.above) || (d.below !== undefined && v < d.below);
        const clear = (d.above === undefined || v <= d.above - h) && (d.below === undefined || v >= d.below + h);
        return { verdict: fault ? 'fault' : clear ? 'clear' : 'hold', value: v };
      }
      case 'deviation': {
        const a = get(d.param);
        const b = get(d.reference);
        if (a === undefined || b === undefined) return { verdict: 'unknown', value: null };
        const dev = Math.abs(a - b);
        const max = d.maxDeviation!;
        return { verdict: dev > max ? 'fault' : dev <= max - h ? 'clear' : 'hold', value: a - b };
      }
      case 'rate': {
        const first = rt.samples[0];
        const last = rt.samples.at(-1);
        if (!first || !last || last[0] <= first[0]) return { verdict: 'unknown', value: null };
        const rate = ((last[1] - first[1]) / (last[0] - first[0])) * 60_000;
        const max = d.maxRatePerMinute!;
        const r = Math.abs(rate);
        return { verdict: r > max ? 'fault' : r <= max - h ? 'clear' : 'hold', value: rate };
      }
    }
  }

  private evaluate(rt: Runtime, t: number, out: AlarmTransition[]): void {
    const s = rt.state;
    const live = s.state === 'raised' || s.state === 'acknowledged';
    if (rt.restored && rt.condition) {
      if (rt.condition.names.some((n) => isMissing(this.values.get(n)))) {
        // After a restart the condition's values arrive one client at a time: a failing test
        // may mean "not known yet" rather than "does not hold", so the restored state stands.
        rt.verdict = 'unknown';
        rt.clearingSince = undefined;
        const { value } = this.judge(rt);
        if (value !== null) s.value = value;
        return;
      }
      rt.restored = false;
    }
    if (rt.condition && !rt.condition.test(this.pick(rt.condition.names))) {
      // Not applicable now (e.g. the chiller stopped): nothing pends, a raised alarm clears.
      rt.verdict = 'unknown';
      rt.clearingSince = undefined;
      if (s.state === 'pending') out.push(this.move(rt, 'ok', t, `${s.description}: no longer pending (${rt.condition.source} does not hold)`));
      else if (live) out.push(this.clear(rt, t, `${s.description}: cleared (${rt.condition.source} no longer holds)`));
      return;
    }
    const { verdict, value } = this.judge(rt);
    rt.verdict = verdict;
    if (value !== null || verdict === 'unknown') s.value = value;
    if (s.state === 'ok' || s.state === 'cleared') {
      if (verdict === 'fault') {
        rt.pendingSince = t;
        out.push(this.move(rt, 'pending', t, `${s.description}: fault seen${value !== null ? ` (${fmt(value)})` : ''}, raising after ${rt.delayMs} ms`));
      }
    } else if (s.state === 'pending') {
      if (verdict !== 'fault') {
        rt.pendingSince = undefined;
        out.push(this.move(rt, 'ok', t, `${s.description}: fault gone before the delay ended`));
      }
    } else {
      if (verdict === 'clear') rt.clearingSince ??= t;
      else if (verdict !== 'unknown') rt.clearingSince = undefined;
    }
    this.advance(rt, t, out);
  }

  /** Delays that have ended. */
  private advance(rt: Runtime, t: number, out: AlarmTransition[]): void {
    const s = rt.state;
    if (s.state === 'pending' && rt.verdict === 'fault' && rt.pendingSince !== undefined && t - rt.pendingSince >= rt.delayMs) {
      rt.pendingSince = undefined;
      s.raisedAt = t;
      delete s.acknowledgedBy;
      delete s.acknowledgedAt;
      delete s.clearedAt;
      out.push(this.move(rt, 'raised', t, `${s.description}${s.value !== null ? ` (${fmt(s.value)})` : ''}`));
    } else if ((s.state === 'raised' || s.state === 'acknowledged') && rt.clearingSince !== undefined && t - rt.clearingSince >= rt.clearDelayMs) {
      out.push(this.clear(rt, t, `${s.description}: cleared${s.value !== null ? ` (${fmt(s.value)})` : ''}`));
    }
  }

  private clear(rt: Runtime, t: number, message: string): AlarmTransition {
    rt.clearingSince = undefined;
    rt.state.clearedAt = t;
    return this.move(rt, 'cleared', t, message);
  }

  private move(rt: Runtime, to: AlarmStatus, t: number, message: string, who?: string): AlarmTransition {
    const from = rt.state.state;
    rt.restored = false;
    rt.state.state = to;
    rt.state.since = t;
    const tr: AlarmTransition = { id: rt.def.id, t, from, to, severity: rt.severity, message, value: rt.state.value, state: { ...rt.state, clients: [...rt.clients] } };
    if (who !== undefined) tr.who = who;
    return tr;
  }
}
