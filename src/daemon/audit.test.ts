import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, capAudit, capText } from './audit.js';
import type { AuditEvent } from './runner.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-audit-'));
const event = (i: number, command = `set setpoint=${i}`): AuditEvent => ({ t: 1_800_000_000_000 + i, who: 'bob', peer: '127.0.0.1:5000', device: 'chiller', command, before: {}, after: {}, result: 'ok' });
const lines = (file: string): Array<Record<string, unknown>> => fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('capText', () => {
  it('leaves short texts alone and cuts long ones at 1 KiB on a character boundary, marked as cut', () => {
    expect(capText('set setpoint=12')).toBe('set setpoint=12');
    expect(capText('x'.repeat(1024))).toBe('x'.repeat(1024));
    expect(capText('x'.repeat(1025))).toBe(`${'x'.repeat(1024)}… (cut: 1025 bytes in all)`);
    // 'é' is two bytes: 1023 ASCII bytes then half an 'é' at byte 1024, which must not become U+FFFD.
    const cut = capText(`${'a'.repeat(1023)}${'é'.repeat(100)}`);
    expect(cut).toBe(`${'a'.repeat(1023)}… (cut: 1223 bytes in all)`);
    expect(cut).not.toContain('\uFFFD');
  });

  it('capAudit cuts who, command, result and string values', () => {
    const long = 'y'.repeat(5000);
    const e = capAudit({ ...event(1, long), who: long, result: long, before: { label: long, n: 1 }, after: { label: 'short' } });
    for (const text of [e.who, e.command, e.result, e.before.label]) expect(Buffer.byteLength(String(text))).toBeLessThan(1100);
    expect(e.before.n).toBe(1);
    expect(e.after).toEqual({ label: 'short' });
  });
});

describe('AuditLog', () => {
  it('rotates at its size cap, keeps the configured number of old files and loses no line', async () => {
    const file = path.join(tmp, 'rotate.jsonl');
    const log = new AuditLog(file, (err) => {
      throw err;
    }, { maxBytes: 2000, keep: 2 });
    for (let i = 0; i < 100; i++) log.write(event(i));
    await log.close();
    for (const f of [file, `${file}.1`, `${file}.2`]) expect(fs.statSync(f).size).toBeLessThanOrEqual(2000);
    expect(fs.existsSync(`${file}.3`)).toBe(false);
    const kept = [...lines(`${file}.2`), ...lines(`${file}.1`), ...lines(file)].map((r) => r.command);
    // The newest lines, in order, with no gap.
    expect(kept.at(-1)).toBe('set setpoint=99');
    const first = Number(String(kept[0]).split('=')[1]);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => `set setpoint=${first + i}`));
  });

  it('without a cap only appends, and a file truncated from outside (copytruncate) is not rotated early', async () => {
    const file = path.join(tmp, 'plain.jsonl');
    fs.writeFileSync(file, '');
    const unlimited = new AuditLog(file, () => undefined, { maxBytes: 0 });
    for (let i = 0; i < 50; i++) unlimited.write(event(i));
    await unlimited.close();
    expect(lines(file)).toHaveLength(50);
    expect(fs.existsSync(`${file}.1`)).toBe(false);

    const capped = new AuditLog(file, () => undefined, { maxBytes: 6000, keep: 1 });
    fs.truncateSync(file, 0);
    for (let i = 0; i < 10; i++) capped.write(event(i));
    await capped.close();
    expect(fs.existsSync(`${file}.1`)).toBe(false);
    expect(lines(file)).toHaveLength(10);
  });
});
