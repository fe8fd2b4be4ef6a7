/**
 * The bridge's outgoing messages while the broker is away or slow to acknowledge: a FIFO with a
 * fixed bound, replies ahead of state. A retained state message whose topic already waits replaces
 * the waiting one's payload in place (counted as superseded): a retained topic means "the latest
 * value", so the queue holds at most one message per topic and never grows with the update rate.
 * When full all the same (more topics than the bound), the oldest message goes and is counted: the
 * newest values matter most, and the retained state is republished on reconnect anyway.
 */
export interface Outgoing {
  topic: string;
  payload: string | Buffer;
  retain: boolean;
  /** MQTT 5 properties (a reply's correlation data). */
  properties?: { correlationData?: Buffer };
}

class Fifo {
  onShift: ((m: Outgoing) => void) | undefined;
  private items: Array<Outgoing | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(m: Outgoing): void {
    this.items.push(m);
  }

  shift(): Outgoing | undefined {
    if (this.head >= this.items.length) return undefined;
    const m = this.items[this.head];
    if (m) this.onShift?.(m);
    this.items[this.head++] = undefined;
    // Compact now and then: shifting an array of 10,000 one by one is quadratic.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class BoundedQueue {
  private readonly replies = new Fifo();
  private readonly state = new Fifo();
  /** The waiting retained message of each topic, to supersede. */
  private readonly waiting = new Map<string, Outgoing>();
  /** Messages dropped because the queue was full, since the bridge started. */
  dropped = 0;
  /** Retained messages replaced by a newer one of the same topic before they were sent. */
  superseded = 0;
  /** The most messages ever waiting at once. */
  highWater = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`the MQTT queue limit must be a positive integer, got ${String(limit)}`);
    this.state.onShift = (m) => {
      if (this.waiting.get(m.topic) === m) this.waiting.delete(m.topic);
    };
  }

  get length(): number {
    return this.replies.length + this.state.length;
  }

  /** Adds a message; returns false when an older one had to be dropped for it. */
  push(m: Outgoing, reply = false): boolean {
    if (!reply && m.retain) {
      const w = this.waiting.get(m.topic);
      if (w) {
        w.payload = m.payload;
        this.superseded++;
        return true;
      }
      this.waiting.set(m.topic, m);
    }
    (reply ? this.replies : this.state).push(m);
    let kept = true;
    while (this.length > this.limit) {
      // State goes first: a command's answer is what a person waits for.
      if (this.state.length > 0) this.state.shift();
      else this.replies.shift();
      this.dropped++;
      kept = false;
    }
    if (this.length > this.highWater) this.highWater = this.length;
    return kept;
  }

  shift(): Outgoing | undefined {
    return this.replies.shift() ?? this.state.shift();
  }

  /**
   * Forgets every waiting state message (replies stay), counted as superseded: at a reconnect the
   * bridge republishes the current state, which is at least as new as anything that waited.
   */
  clearState(): void {
    this.superseded += this.state.length;
    this.state.clear();
    this.waiting.clear();
  }
}
