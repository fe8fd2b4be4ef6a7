import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LabwireError, type WireValue } from '../wire/types.js';
import { ProgrammeRunner, type ProgrammeHost, type ProgrammeOptions } from './programme-runner.js';
import type { LogLevel } from './runner.js';

/** A device stand-in: records every set, can fail, and says when the target is settled. */
class FakeHost implements ProgrammeHost {
  name = 'bath';
  readOnly = false;
  sets: number[] = [];
  logs: Array<[LogLevel, string]> = [];
  settled = false;
  failNext = 0;
  paramInfo(name: string) {
    if (name !== 'setpoint') return undefined;
    return { decl: { type: 'float' as const, description: 'sp', unit: '°C', readonly: false as const, write: async () => undefined }, limits: { min: { value: -20, source: 'FL1703' }, max: { value: 40, source: 'FL1703' } }, hasTarget: true };
  }
  programmableParams(): string[] {
    return ['setpoint'];
  }
  targetSettled(): boolean {
    return this.settled;
  }
  async setParams(raw: Record<string, string>): Promise<Record<string, WireValue>> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new LabwireError('CommunicationFailed', 'no link to the device: down', 'set');
    }
    const v = Number(raw.setpoint);
    this.sets.push(v);
    return { setpoint: v };
  }
  log(level: LogLevel, message: string): void {
    this.logs.push([level, message]);
  }
}

async function step(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

let host: FakeHost;
const dirs: string[] = [];

beforeEach(() => {
  vi.useFakeTimers();
  host = new FakeHost();
});

afterEach(() => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function runner(opts: ProgrammeOptions = {}): ProgrammeRunner {
  return new ProgrammeRunner(host, { tickMs: 1000, ...opts });
}

describe('ProgrammeRunner', () => {
  it('applies a dwell exactly even when the ramp before it ended within minStep of it', async () => {
    const r = runner({ minStep: 0.5, tickMs: 1000 });
    // 14.6 → 35 over 51 s, 0.4 per tick: every second tick is applied, the last at 50 s (34.6),
    // and the vertex 35 at 51 s is within minStep of it.
    r.load({ param: 'setpoint', format: 'csv', data: '0,14.6\n0.85,35\n2,35\n3,15\n' });
    r.start();
    await step(50_500);
    expect(host.sets.at(-1)).toBeCloseTo(34.6, 6);
    await step(5000);
    expect(host.sets.at(-1)).toBe(35);
    expect(r.status()).toMatchObject({ applied: 35, target: 35 });
    await step(200_000);
    expect(r.status()).toMatchObject({ state: 'finished', applied: 15 });
  });

  it('applies a ramp only in steps larger than minStep and ends exactly on the last point', async () => {
    const r = runner({ minStep: 0.5 });
    r.load({ param: 'setpoint', format: 'csv', data: '0,20\n1,30\n' });
    r.start();
    await step(61_000);
    expect(r.status()).toMatchObject({ state: 'finished', progress: 100, target: 30, applied: 30, next: 'end' });
    expect(host.sets[0]).toBe(20);
    expect(host.sets.at(-1)).toBe(30);
    for (let i = 1; i < host.sets.length - 1; i++) expect(host.sets[i]! - host.sets[i - 1]!).toBeGreaterThan(0.5);
    expect(host.sets.length).toBeLessThan(22);
    expect(host.logs.at(-1)).toEqual(['success', 'programme on setpoint finished at 30']);
  });

  it('a failing set is logged once and retried at the next tick', async () => {
    const r = runner();
    r.load({ param: 'setpoint', format: 'csv', data: '0,25' });
    host.failNext = 3;
    r.start();
    await step(5000);
    expect(host.sets).toEqual([25]);
    expect(host.logs.filter(([l]) => l === 'warning')).toHaveLength(1);
    expect(r.status().state).toBe('finished');
  });

  it('a hold stops the clock until the target is settled', async () => {
    const r = runner();
    r.load({ param: 'setpoint', format: 'yaml', data: 'points:\n  - {minutes: 0, value: 10}\n  - hold: {until: stable}\n  - {minutes: 1, value: 20}\n' });
    r.start();
    await step(30_000);
    expect(r.status()).toMatchObject({ state: 'running', phase: 'hold', elapsed_s: 0, target: 10, line: 3 });
    host.settled = true;
    await step(31_000);
    expect(r.status()).toMatchObject({ state: 'running', phase: 'ramp' });
    expect(Number(r.status().elapsed_s)).toBeGreaterThanOrEqual(29);
    await step(31_000);
    expect(r.status().state).toBe('finished');
  });

  it('a stop asked for is logged as info, with who asked and the value to the programme\'s resolution', async () => {
    const r = runner();
    r.load({ param: 'setpoint', format: 'csv', data: '0,20\n3,27\n' });
    r.start();
    await step(10_000);
    const applied = host.sets.at(-1)!;
    expect(String(applied).length).toBeGreaterThan(6); // a ramp's value: 20.38888889
    r.pause('otto');
    expect(host.logs.at(-1)).toEqual(['info', `programme on setpoint paused by otto at ${Math.round((10 / 180) * 1000) / 10} %; setpoint stays at ${Math.round(applied * 100) / 100} °C`]);
    r.stop('otto');
    const [level, message] = host.logs.at(-1)!;
    expect(level).toBe('info');
    expect(message).toMatch(/^programme on setpoint stopped by otto at [\d.]+ %; setpoint stays at 20\.\d\d °C$/);
  });

  it('refuses start in read-only mode and commands in the wrong state', () => {
    const r = runner();
    expect(() => r.pause()).toThrow(/no programme is running \(state none\)/);
    expect(() => r.stop()).toThrow(/no programme is running or paused/);
    r.load({ param: 'setpoint', format: 'csv', data: '0,25' });
    host.readOnly = true;
    expect(() => r.start()).toThrow(/read-only mode; programme_start refused/);
  });

  it('resumes a saved running programme under onRestart=resume and stops it under stop', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-prog-'));
    dirs.push(dir);
    const a = runner({ stateDir: dir });
    a.load({ param: 'setpoint', format: 'csv', data: '0,20\n10,30\n' });
    a.start();
    await step(120_000);
    a.close();
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'bath.programme.json'), 'utf8')) as { state: string; pos: { phaseMs: number } };
    expect(saved.state).toBe('running');
    expect(saved.pos.phaseMs).toBeGreaterThanOrEqual(119_000);

    const b = runner({ stateDir: dir, onRestart: 'resume' });
    b.restore();
    expect(b.status()).toMatchObject({ state: 'running' });
    expect(Number(b.status().elapsed_s)).toBeGreaterThanOrEqual(119);
    await step(1000);
    b.close();

    const c = runner({ stateDir: dir });
    host.logs = [];
    c.restore();
    expect(c.status().state).toBe('stopped');
    expect(host.logs[0]![0]).toBe('warning');
    expect(host.logs[0]![1]).toMatch(/was running when the daemon stopped \(\d+(\.\d)? % done, cycle 1\/1\); onRestart=stop, so it is STOPPED/);
    c.close();
  });
});
