/**
 * State-changing commands run one at a time, in arrival order, whatever happens to the ones
 * before them; `state` shows busy while one runs, and every outcome is audited with the values
 * it changed.
 */
import { LabwireError, type WireValue } from '../wire/types.js';
import { toLabwireError } from './errors.js';
import type { Actor, AuditEvent } from './events.js';

export interface QueueHost {
  readonly device: string;
  /** Current values, for the audit's before and after. */
  values(): Record<string, WireValue>;
  /** The device's own parameter names (not the standard ones). */
  paramNames(): Iterable<string>;
  /** A command starts or ends: the busy count and text change. */
  begin(busyText: string): void;
  end(): void;
  audit(event: AuditEvent): void;
}

export class CommandQueue {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: QueueHost) {}

  /** Runs `fn` after every command queued before it has finished; errors reach the caller as LabwireErrors. */
  run<T extends Record<string, WireValue> | object>(line: string, actor: Actor, busyText: string, fn: () => Promise<T>): Promise<T> {
    const command = line.split(' ', 1)[0]!;
    const host = this.host;
    const run = async (): Promise<T> => {
      const before = host.values();
      host.begin(busyText);
      let result = 'ok';
      try {
        return await withProtocolErrors(command, fn);
      } catch (err) {
        result = err instanceof LabwireError ? `error ${err.code}: ${err.message}` : `error: ${String(err)}`;
        throw err;
      } finally {
        host.end();
        const after = host.values();
        const changedBefore: Record<string, WireValue> = {};
        const changedAfter: Record<string, WireValue> = {};
        for (const k of host.paramNames()) {
          if (!Object.is(before[k], after[k]) || line.includes(`${k}=`)) {
            changedBefore[k] = before[k] ?? null;
            changedAfter[k] = after[k] ?? null;
          }
        }
        host.audit({ t: Date.now(), ...actor, device: host.device, command: line, before: changedBefore, after: changedAfter, result });
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

export async function withProtocolErrors<T>(command: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toLabwireError(err, command);
  }
}
