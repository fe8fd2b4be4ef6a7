/**
 * A bounded number of concurrent runs with a bounded queue behind them; beyond the queue a run is
 * refused at once with IsBusy (a daemon's binary commands, a monitor's file transfers per daemon).
 */
import { LabwireError } from '../wire/types.js';

export class Slots {
  private running = 0;
  private waiting: Array<{ go: () => void; stop: (err: Error) => void }> = [];

  /** `what` names the runs in the refusal: `2 image requests are running and 16 waiting`. */
  constructor(private readonly size: number, private readonly queue: number, private readonly what: string) {}

  async run<T>(command: string, fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) {
      if (this.waiting.length >= this.queue) {
        throw new LabwireError('IsBusy', `${this.size} ${this.what} are running and ${this.queue} waiting; try again shortly`, command);
      }
      await new Promise<void>((go, stop) => this.waiting.push({ go, stop }));
    } else {
      this.running++;
    }
    try {
      return await fn();
    } finally {
      // A waiter takes the slot over; otherwise it is freed.
      const next = this.waiting.shift();
      if (next) next.go();
      else this.running--;
    }
  }

  /** Fails every run still waiting (shutdown); runs under way finish on their own. */
  rejectWaiting(err: Error): void {
    for (const w of this.waiting.splice(0)) w.stop(err);
  }
}
