/**
 * What every simulated SCPI instrument behind a GPIB adapter does with its messages, whatever it
 * measures: one message is run through the instrument's command tree, its answer waits until the
 * controller addresses the instrument to talk, and the IEEE-488.2 message exchange rules apply —
 * a new message before the answer was read discards it (-410 Query INTERRUPTED), a read with
 * nothing to say stays silent (-420 Query UNTERMINATED). Instrument faults (`off`, garbled
 * replies) are the same for every family too.
 */
import type { BusInstrumentModel } from '../../../daemon/api.js';
import { SCPI, ScpiError, type ScpiStatus, type ScpiTree } from '../scpi/index.js';

export abstract class ScpiBusInstrument implements BusInstrumentModel {
  /** The answer to the last message, until it is read. */
  private pending: string | undefined;
  private silent = false;
  private garble = 0;

  protected abstract readonly tree: ScpiTree;
  abstract readonly status: ScpiStatus;

  /** Instrument off: it takes no message and never talks. */
  setSilent(on: boolean): void {
    this.silent = on;
  }

  /** The next `n` answers come back corrupted (digits lost, cut short), as on a noisy bus. */
  garbleNextReplies(n: number): void {
    this.garble = n;
  }

  /** Whether an answer waits to be read (the MAV bit of the status byte). */
  protected get messageAvailable(): boolean {
    return this.pending !== undefined;
  }

  receive(data: Buffer): void {
    if (this.silent) return;
    if (this.pending !== undefined) {
      this.pending = undefined;
      this.status.error(new ScpiError(SCPI.queryInterrupted));
    }
    this.pending = this.tree.execute(data.toString('latin1').replace(/[\r\n]+$/, ''));
  }

  talk(): Buffer | undefined {
    if (this.silent) return undefined;
    let out = this.pending;
    this.pending = undefined;
    if (out === undefined) {
      this.status.error(new ScpiError(SCPI.queryUnterminated));
      return undefined;
    }
    if (this.garble > 0) {
      this.garble -= 1;
      out = out.replace(/[0-9]/g, '#').slice(0, Math.max(2, out.length - 4));
    }
    return Buffer.from(`${out}\n`, 'latin1');
  }

  clear(): void {
    this.pending = undefined;
  }

  statusByte(): number {
    return this.status.statusByte(this.messageAvailable);
  }
}
