/**
 * The client's subscribers and the one daemon subscription that serves them all: the daemon holds
 * at most one subscription per connection, so the client subscribes to the union of what its
 * subscribers want and filters each update for each of them.
 */
import { LabwireError, LineConnection, formatCommand, makeCommand, parseErrorReply } from '../wire/index.js';
import { toError } from './replies.js';
import type { Update } from './types.js';

export interface Subscriber {
  /** null: all parameters. */
  params: readonly string[] | null;
  deliver(update: Update): void;
  /** An error: the daemon refused the subscription. No error: the client closed. */
  end(error?: Error): void;
}

/** Updates kept for a subscriber that does not read; older ones are dropped. */
const MAX_QUEUED_UPDATES = 10_000;

export class Subscriptions {
  private readonly subscribers = new Set<Subscriber>();
  /** The subscription the daemon holds for this connection ('*' = all), null if none. */
  private subscribedAs: string | null = null;

  /** `current` gives the live connection (null while disconnected). */
  constructor(private readonly current: () => LineConnection | null) {}

  /** A new connection starts without a subscription at the daemon. */
  reset(): void {
    this.subscribedAs = null;
  }

  /** Ends every subscriber (with an error: the loops throw it) and forgets them. */
  endAll(error?: Error): void {
    for (const sub of [...this.subscribers]) sub.end(error);
    this.subscribers.clear();
  }

  /** Hands one update to every subscriber, each with only the parameters it asked for. */
  deliver(update: Update): void {
    for (const sub of [...this.subscribers]) {
      if (sub.params === null) {
        sub.deliver(update);
        continue;
      }
      const values: Record<string, string> = {};
      let any = false;
      // defineProperty: a parameter called `__proto__` must stay data here too.
      for (const p of sub.params) {
        if (Object.hasOwn(update.values, p)) {
          Object.defineProperty(values, p, { value: update.values[p], enumerable: true, writable: true, configurable: true });
          any = true;
        }
      }
      if (any) sub.deliver({ t: update.t, values });
    }
  }

  /** What the daemon must be subscribed to: '*' for all, else the sorted union; null for nothing. */
  private key(): string | null {
    if (this.subscribers.size === 0) return null;
    const names = new Set<string>();
    for (const sub of this.subscribers) {
      if (sub.params === null) return '*';
      for (const p of sub.params) names.add(p);
    }
    return [...names].sort().join('\u0000');
  }

  /**
   * Brings the daemon's subscription in line with the subscribers. An error reply ends `culprit`
   * (the subscriber just added), or every subscriber when restoring after a reconnect.
   * Communication failures are left to the reconnect, which restores the subscription.
   */
  async sync(conn: LineConnection, culprit: Subscriber | null): Promise<void> {
    const key = this.key();
    if (key === null || key === this.subscribedAs) return;
    const params = key === '*' ? [] : key.split('\u0000');
    // Counted as subscribed from the moment it is sent, so that a subscriber leaving before the
    // reply still sends `unsubscribe`.
    const previous = this.subscribedAs;
    this.subscribedAs = key;
    const reply = await conn.request(formatCommand(makeCommand('subscribe', params)));
    const err = parseErrorReply(reply.command);
    if (!err) return;
    const live = this.current();
    if (this.subscribedAs === key && (live === conn || live === null)) this.subscribedAs = previous;
    const victims = culprit ? [culprit] : [...this.subscribers];
    for (const sub of victims) {
      this.subscribers.delete(sub);
      sub.end(err);
    }
  }

  add(sub: Subscriber): void {
    this.subscribers.add(sub);
    const conn = this.current();
    if (!conn) return;
    this.sync(conn, sub).catch((err: unknown) => {
      // A lost connection is repaired by the reconnect, which subscribes again; anything else,
      // a timeout included, means this subscription is not in effect.
      if (!(err instanceof LabwireError && err.code === 'CommunicationFailed')) {
        this.subscribers.delete(sub);
        sub.end(toError(err));
      }
    });
  }

  async remove(sub: Subscriber): Promise<void> {
    if (!this.subscribers.delete(sub)) return;
    const conn = this.current();
    if (this.subscribers.size > 0 || !conn || this.subscribedAs === null) return;
    this.subscribedAs = null;
    try {
      await conn.request('unsubscribe');
    } catch {
      // The subscription has ended here either way; the daemon drops it with the connection.
    }
  }

  /** An async iterator over the updates of `params` (null: all), for `LabwireClient.subscribe`. */
  open(params: readonly string[] | null): AsyncIterableIterator<Update> {
    return new UpdateStream(this, params).iterator();
  }
}

/** One subscriber as a pull-based stream: updates queue until the loop asks for the next one. */
class UpdateStream implements Subscriber {
  private readonly queue: Update[] = [];
  private waiting: { resolve: (r: IteratorResult<Update>) => void; reject: (e: Error) => void } | null = null;
  private ended = false;
  private failure: Error | null = null;

  constructor(
    private readonly owner: Subscriptions,
    readonly params: readonly string[] | null,
  ) {}

  deliver(update: Update): void {
    if (this.ended) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve({ value: update, done: false });
      return;
    }
    this.queue.push(update);
    if (this.queue.length > MAX_QUEUED_UPDATES) this.queue.shift();
  }

  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiting;
    this.waiting = null;
    if (error && w) w.reject(error);
    else if (error) this.failure = error;
    else w?.resolve(done());
  }

  iterator(): AsyncIterableIterator<Update> {
    this.owner.add(this);
    const stream: AsyncIterableIterator<Update> = {
      next: () => this.next(),
      return: () => this.leave(),
      [Symbol.asyncIterator]: () => stream,
    };
    return stream;
  }

  private next(): Promise<IteratorResult<Update>> {
    const next = this.queue.shift();
    if (next) return Promise.resolve({ value: next, done: false });
    if (this.failure) {
      const err = this.failure;
      this.failure = null;
      return Promise.reject(err);
    }
    if (this.ended) return Promise.resolve(done());
    return new Promise<IteratorResult<Update>>((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  private async leave(): Promise<IteratorResult<Update>> {
    if (!this.ended) {
      this.ended = true;
      this.queue.length = 0;
      const w = this.waiting;
      this.waiting = null;
      w?.resolve(done());
      await this.owner.remove(this);
    }
    return done();
  }
}

function done(): IteratorResult<Update> {
  return { value: undefined, done: true };
}
