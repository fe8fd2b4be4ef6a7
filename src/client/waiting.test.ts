/**
 * ConditionWait on its own, with a scripted host and fake timers: the transitions of one wait
 * (first reading, pushed updates, a break in stability, polling a peer without pushes, a lost
 * connection, the timeout). The same waits over real sockets are in client.test.ts.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LabwireError, type DescribeDoc } from '../wire/index.js';
import { parseCondition } from './condition.js';
import type { Snapshot } from './snapshot.js';
import { Subscriptions } from './subscriptions.js';
import type { Values, WaitForOptions } from './types.js';
import { ConditionWait, type WaitHost, type WaitLifecycle } from './waiting.js';

class ScriptedHost implements WaitHost {
  connected = true;
  reconnects = true;
  trying = true;
  closing = false;
  endpoint = '127.0.0.1:7001';
  lastError: Error | undefined;
  readonly lifecycle: WaitLifecycle = new EventEmitter();
  readonly subscriptions = new Subscriptions(() => null);
  snapshots = 0;

  constructor(private readonly next: () => Snapshot) {}

  snapshot(): Promise<Snapshot> {
    this.snapshots++;
    return Promise.resolve(this.next());
  }

  describe(): Promise<DescribeDoc | undefined> {
    return Promise.resolve(undefined);
  }
}

function labwire(values: Snapshot['values'], t = Date.now()): Snapshot {
  return { values, t, ts: {}, labwire: true };
}

function wait(host: WaitHost, condition: string, options: WaitForOptions = {}): Promise<Values> {
  const { source, names, test } = parseCondition(condition);
  return ConditionWait.run(host, { source, names, test }, options);
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ConditionWait', () => {
  it('ends on the first reading when the condition already holds', async () => {
    const host = new ScriptedHost(() => labwire({ temperature: 10 }));
    await expect(wait(host, 'temperature<15')).resolves.toEqual({ temperature: 10 });
  });

  it('follows pushed updates and restarts the stable time after a break', async () => {
    const host = new ScriptedHost(() => labwire({ temperature: 20 }));
    let result: Values | undefined;
    const p = wait(host, 'temperature<15', { stableForMs: 1000 }).then((v) => (result = v));
    await vi.advanceTimersByTimeAsync(0);
    host.subscriptions.deliver({ t: Date.now(), values: { temperature: '14' } });
    await vi.advanceTimersByTimeAsync(600);
    host.subscriptions.deliver({ t: Date.now(), values: { temperature: '16' } });
    host.subscriptions.deliver({ t: Date.now(), values: { temperature: '14.5' } });
    await vi.advanceTimersByTimeAsync(600);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(500);
    await p;
    expect(result).toEqual({ temperature: 14.5 });
  });

  it('polls a peer that cannot push, at pollMs, until the condition holds', async () => {
    const readings = [20, 18, 16, 14];
    const host = new ScriptedHost(() => ({ values: { temperature: String(readings.shift() ?? 14) }, t: Date.now(), ts: {}, labwire: false }));
    let done = false;
    const p = wait(host, 'temperature<15', { pollMs: 100 }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(250);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await p;
    expect(host.snapshots).toBe(4);
  });

  it('times out naming the last values and how long the condition held', async () => {
    const host = new ScriptedHost(() => labwire({ temperature: 14 }));
    const p = wait(host, 'temperature<15', { stableForMs: 60_000, timeoutMs: 5000 });
    const failed = expect(p).rejects.toThrow(/condition "temperature<15" not met within 5 s; last temperature=14; it has held for 5 s of the required 60 s$/);
    await vi.advanceTimersByTimeAsync(5000);
    await failed;
  });

  it('rejects with CommunicationFailed when the connection is lost and the client does not reconnect', async () => {
    const host = new ScriptedHost(() => labwire({ temperature: 20 }));
    host.reconnects = false;
    const p = wait(host, 'temperature<15');
    await vi.advanceTimersByTimeAsync(0);
    host.connected = false;
    host.lifecycle.emit('disconnected', 'connection to 127.0.0.1:7001 lost');
    await expect(p).rejects.toThrow(new LabwireError('CommunicationFailed', 'connection to 127.0.0.1:7001 lost while waiting for temperature<15', 'wait'));
  });

  it('reads the values again after a reconnect and ends on the new reading', async () => {
    let value = 20;
    const host = new ScriptedHost(() => labwire({ temperature: value }));
    let done = false;
    const p = wait(host, 'temperature<15').then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    host.connected = false;
    host.lifecycle.emit('disconnected', 'lost');
    value = 10;
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    host.connected = true;
    host.lifecycle.emit('connected');
    await p;
    expect(done).toBe(true);
  });
});
