/**
 * Refusals counted instead of written one by one. Per client address and reason, the first
 * refusal of an interval is written in full (so one mistaken request by a person stays visible as
 * it was), the others are only counted and reported as one summary when the interval ends. A
 * stranger who floods refused requests thus costs a few lines of audit and log per interval,
 * however fast it sends.
 */
import { formatDuration } from '../util/duration.js';

export interface RefusalTally<R extends string = string> {
  address: string;
  /** The error code (or another short reason) the requests were refused with. */
  reason: R;
  /** What else the caller keys on (the monitor: the client a send was for); '' if nothing. */
  scope: string;
  /** Refusals after the first, which were not written. */
  count: number;
  /** The names they came under (a few; a flood may change its name every line). */
  who: string[];
  /** `1,234 more refused requests from 127.0.0.1 (RateLimited) in the last 10 s` */
  text: string;
}

export interface RefusalSummaryOptions<R extends string = string> {
  /** Length of an interval; 0: every refusal is written in full. */
  intervalMs: number;
  onSummary: (tally: RefusalTally<R>) => void;
  /** What is counted, singular and plural, for the text (default refused request(s)). */
  noun?: readonly [string, string];
}

/** Distinct keys per interval; beyond this, refusals from further addresses are counted together as address `*`. */
const MAX_KEYS = 200;
/** Names remembered per key. */
const MAX_NAMES = 5;

interface Entry<R extends string> {
  address: string;
  reason: R;
  scope: string;
  count: number;
  who: Set<string>;
}

export class RefusalSummary<R extends string = string> {
  private entries = new Map<string, Entry<R>>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RefusalSummaryOptions<R>) {
    if (opts.intervalMs > 0) {
      this.timer = setInterval(() => this.flush(), opts.intervalMs);
      this.timer.unref();
    }
  }

  /** True: write this refusal in full. False: it has been counted for the summary. */
  admit(address: string, reason: R, who: string, scope = ''): boolean {
    if (this.opts.intervalMs <= 0) return true;
    let key = `${address}\n${reason}\n${scope}`;
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size < MAX_KEYS) {
        this.entries.set(key, { address, reason, scope, count: 0, who: new Set() });
        return true;
      }
      key = `*\n${reason}\n${scope}`;
      e = this.entries.get(key);
      if (!e) {
        e = { address: '*', reason, scope, count: 0, who: new Set() };
        this.entries.set(key, e);
      }
    }
    e.count++;
    if (e.who.size < MAX_NAMES) e.who.add(who);
    return false;
  }

  /** Reports what was counted and starts a new interval. */
  flush(): void {
    const entries = this.entries;
    this.entries = new Map();
    for (const e of entries.values()) {
      if (e.count === 0) continue;
      const from = e.address === '*' ? 'further addresses' : e.address;
      const [one, many] = this.opts.noun ?? ['refused request', 'refused requests'];
      const text = `${e.count.toLocaleString('en')} more ${e.count === 1 ? one : many} from ${from} (${e.reason}) in the last ${formatDuration(this.opts.intervalMs)}`;
      this.opts.onSummary({ address: e.address, reason: e.reason, scope: e.scope, count: e.count, who: [...e.who], text });
    }
  }

  /** Stops the interval and reports what is left. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.flush();
  }
}

/** The address part of `address:port` (IPv6 addresses keep their colons). */
export function addressOf(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i <= 0 ? peer : peer.slice(0, i);
}
