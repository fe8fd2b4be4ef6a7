import { describe, expect, it } from 'vitest';
import { Slots } from './slots.js';

describe('Slots', () => {
  it('runs at most size at once, queues up to queue, refuses beyond; rejectWaiting fails the queued ones only', async () => {
    const slots = new Slots(2, 1, 'jobs');
    let running = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const job = (): Promise<number> => slots.run('job', () => {
      running++;
      peak = Math.max(peak, running);
      return new Promise<number>((resolve) => gates.push(() => (running--, resolve(1))));
    });
    const a = job();
    const b = job();
    const c = job();
    await expect(job()).rejects.toMatchObject({ code: 'IsBusy', message: '2 jobs are running and 1 waiting; try again shortly' });
    await Promise.resolve();
    expect(gates).toHaveLength(2);
    gates.shift()!();
    await a;
    await new Promise((r) => setImmediate(r));
    expect(gates).toHaveLength(2); // c took a's slot
    const d = job();
    slots.rejectWaiting(new Error('closing'));
    await expect(d).rejects.toThrow('closing');
    for (const g of gates.splice(0)) g();
    await expect(Promise.all([b, c])).resolves.toEqual([1, 1]);
    expect(peak).toBe(2);
  });
});
