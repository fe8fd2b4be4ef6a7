/**
 * Outbound alarm notifications (issue 6 item 3): a generic webhook (one JSON POST per transition)
 * and the Prometheus Alertmanager v2 API (`POST <url>/api/v2/alerts`). Each hook has its own
 * bounded queue and one delivery at a time, with a timeout per attempt and capped exponential
 * back-off between attempts. Nothing here is awaited by the alarm engine: a hook that hangs or
 * fails delays only its own queue, and every failure is logged.
 */
import type { LogLevel } from '../archive/types.js';
import type { AlarmSeverity, AlarmTransition } from './alarms.js';

export interface AlarmHookConfig {
  type: 'webhook' | 'alertmanager';
  /** webhook: the URL POSTed to; alertmanager: its base URL (`/api/v2/alerts` is appended). */
  url: string;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Only transitions of alarms of this severity or higher (default info: all). */
  minSeverity?: AlarmSeverity;
  /** Per attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Attempts after the first (default 5). */
  retries?: number;
  /** First back-off (default 1000 ms), doubled after each failure up to maxBackoffMs (default 60000 ms). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /**
   * alertmanager: firing alerts are sent again this often (default 60000 ms), since Alertmanager
   * resolves an alert it has not heard of for its resolve_timeout; 0 disables.
   */
  resendMs?: number;
  /** Notifications waiting at most, besides the one being delivered (default 100); the oldest is dropped, and logged, when full. */
  queueSize?: number;
}

/** Transitions that go to hooks; pending and its cancellation stay inside the monitor. */
export const HOOKED: ReadonlySet<string> = new Set(['raised', 'acknowledged', 'cleared']);
const RANK: Record<AlarmSeverity, number> = { info: 0, warning: 1, critical: 2 };

export type HookLog = (level: LogLevel, text: string) => void;

/** The request body a hook sends for one transition. */
export function hookBody(cfg: AlarmHookConfig, monitor: string, tr: AlarmTransition): unknown {
  if (cfg.type === 'webhook') return { monitor, alarm: tr.id, transition: { from: tr.from, to: tr.to, t: tr.t, at: new Date(tr.t).toISOString(), message: tr.message, who: tr.who ?? null }, state: tr.state };
  const s = tr.state;
  const alert: Record<string, unknown> = {
    labels: { alertname: tr.id, severity: tr.severity, client: s.clients.join(','), monitor },
    annotations: {
      summary: s.description,
      description: tr.message,
      ...(s.acknowledgedBy ? { acknowledged_by: s.acknowledgedBy, acknowledged_at: new Date(s.acknowledgedAt ?? tr.t).toISOString() } : {}),
    },
    startsAt: new Date(s.raisedAt ?? tr.t).toISOString(),
  };
  if (tr.to === 'cleared') alert.endsAt = new Date(tr.t).toISOString();
  return [alert];
}

function target(cfg: AlarmHookConfig): string {
  return cfg.type === 'alertmanager' ? `${cfg.url.replace(/\/+$/, '')}/api/v2/alerts` : cfg.url;
}

export interface HookStats {
  delivered: number;
  failed: number;
  dropped: number;
  queued: number;
}

/** One hook: its queue and its delivery loop. */
export class AlarmHook {
  readonly url: string;
  private readonly queue: Array<{ body: unknown; what: string }> = [];
  private running = false;
  private closed = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  readonly stats: HookStats = { delivered: 0, failed: 0, dropped: 0, queued: 0 };
  private idle: Promise<void> = Promise.resolve();
  /** alertmanager: the last transition of every firing alert, re-sent every resendMs. */
  private readonly firing = new Map<string, AlarmTransition>();
  private resendTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cfg: AlarmHookConfig,
    private readonly monitor: string,
    private readonly log: HookLog,
  ) {
    this.url = target(cfg);
    const resend = cfg.resendMs ?? 60_000;
    if (cfg.type === 'alertmanager' && resend > 0) {
      this.resendTimer = setInterval(() => {
        for (const tr of this.firing.values()) this.enqueue(tr, true);
      }, resend);
      this.resendTimer.unref();
    }
  }

  /** Queues a transition (if this hook wants it); returns at once. */
  notify(tr: AlarmTransition): void {
    if (this.closed || !HOOKED.has(tr.to)) return;
    if (RANK[tr.severity] < RANK[this.cfg.minSeverity ?? 'info']) return;
    if (tr.to === 'cleared') this.firing.delete(tr.id);
    else this.firing.set(tr.id, tr);
    this.enqueue(tr, false);
  }

  private enqueue(tr: AlarmTransition, repeat: boolean): void {
    if (this.closed) return;
    const what = `${tr.id} ${tr.to}${repeat ? ' (repeat)' : ''}`;
    // A repeat waiting already is enough.
    if (repeat && this.queue.some((q) => q.what === what)) return;
    if (this.queue.length >= (this.cfg.queueSize ?? 100)) {
      const old = this.queue.shift()!;
      this.stats.dropped++;
      this.log('warning', `alarm hook ${this.cfg.type} ${this.url}: queue full, dropped ${old.what}`);
    }
    this.queue.push({ body: hookBody(this.cfg, this.monitor, tr), what });
    this.stats.queued = this.queue.length;
    if (!this.running) {
      this.running = true;
      this.idle = this.drain().finally(() => {
        this.running = false;
      });
    }
  }

  /** Resolves when the queue is empty (or the hook is closed). */
  drained(): Promise<void> {
    return this.idle;
  }

  /** Stops: the attempt in flight is aborted, the queue dropped. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.resendTimer);
    this.firing.clear();
    this.abort.abort();
    this.wake?.();
    this.stats.dropped += this.queue.length;
    this.queue.length = 0;
    await this.idle.catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (!this.closed && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.stats.queued = this.queue.length;
      await this.deliver(item);
    }
  }

  private async deliver(item: { body: unknown; what: string }): Promise<void> {
    const retries = this.cfg.retries ?? 5;
    let backoff = this.cfg.backoffMs ?? 1000;
    const cap = this.cfg.maxBackoffMs ?? 60_000;
    for (let attempt = 0; attempt <= retries && !this.closed; attempt++) {
      const problem = await this.attempt(item.body);
      if (problem === undefined) {
        this.stats.delivered++;
        if (attempt > 0) this.log('info', `alarm hook ${this.cfg.type} ${this.url}: delivered ${item.what} after ${attempt + 1} attempts`);
        return;
      }
      if (this.closed) return;
      const last = attempt === retries;
      this.log('warning', `alarm hook ${this.cfg.type} ${this.url}: ${item.what} attempt ${attempt + 1} failed: ${problem}${last ? '; giving up' : `; retrying in ${backoff} ms`}`);
      if (last) break;
      await this.sleep(backoff);
      backoff = Math.min(cap, backoff * 2);
    }
    if (!this.closed) this.stats.failed++;
  }

  /** One POST; undefined on a 2xx answer, else why not. */
  private async attempt(body: unknown): Promise<string | undefined> {
    const timeoutMs = this.cfg.timeoutMs ?? 5000;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.cfg.headers },
        body: JSON.stringify(body),
        signal,
      });
      // Read (and bound) the answer so the connection is released.
      const text = (await res.text()).slice(0, 200);
      return res.ok ? undefined : `HTTP ${res.status}${text ? `: ${text.replace(/\s+/g, ' ')}` : ''}`;
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || (e.name === 'AbortError' && !this.abort.signal.aborted)) return `no answer within ${timeoutMs} ms`;
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      return cause ? `${e.message}: ${cause}` : e.message;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
