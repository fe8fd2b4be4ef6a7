import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openPtyPair, type PtyPair } from '../../links/pty.js';
import { LabwireError } from '../../wire/types.js';
import { detectJulaboPort, probeJulaboPort } from './detect.js';
import { JulaboSimulator, SIMULATED_VERSION } from './simulator.js';

/** PTYs stay at 8N1 (Linux ignores framing on PTYs; 7E1 re-opens fail with EINVAL). */
const serial = { dataBits: 8, parity: 'none', rtscts: false } as const;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A port with something on it that never answers; records every byte it is sent. */
function silentPort(): PtyPair & { received: () => string } {
  const pty = openPtyPair();
  let received = '';
  pty.master.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  cleanup.push(() => pty.close());
  return Object.assign(pty, { received: () => received });
}

async function simPort(): Promise<{ sim: JulaboSimulator; path: string }> {
  const sim = new JulaboSimulator({ byteTiming: true });
  cleanup.push(() => sim.close());
  return { sim, path: await sim.listenPty() };
}

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'julabo-detect-'));
  cleanup.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('detectJulaboPort', () => {
  it('finds the chiller, never touches an excluded port, and caches the result', async () => {
    const excluded = silentPort();
    const silent = silentPort();
    const { sim, path: chiller } = await simPort();
    const cacheFile = path.join(await tempDir(), 'sub', 'julabo-port');

    const found = await detectJulaboPort({
      candidates: [excluded.path, silent.path, chiller],
      exclude: [excluded.path],
      cacheFile,
      timeoutMs: 300,
      serial,
    });
    expect(found).toBe(chiller);
    expect(silent.received()).toBe('version\r');
    expect(excluded.received()).toBe('');
    expect(sim.transcript.map((e) => [e.request, e.reply])).toEqual([['version', SIMULATED_VERSION]]);
    expect((await fs.readFile(cacheFile, 'utf8')).trim()).toBe(chiller);

    // Next time the cached port goes first: the silent port is not bothered again.
    const again = await detectJulaboPort({ candidates: [silent.path, chiller], exclude: [excluded.path], cacheFile, timeoutMs: 300, serial });
    expect(again).toBe(chiller);
    expect(silent.received()).toBe('version\r');
    expect(excluded.received()).toBe('');
  });

  it('resolves symlinks when excluding, and skips an excluded cached port', async () => {
    const excluded = silentPort();
    const { path: chiller } = await simPort();
    const dir = await tempDir();
    const alias = path.join(dir, 'ttyOTHER');
    await fs.symlink(excluded.path, alias);
    const cacheFile = path.join(dir, 'cache');
    await fs.writeFile(cacheFile, `${excluded.path}\n`);
    const found = await detectJulaboPort({ candidates: [excluded.path, chiller], exclude: [alias], cacheFile, timeoutMs: 300, serial });
    expect(found).toBe(chiller);
    expect(excluded.received()).toBe('');
  });

  it('lists what it tried and what it left alone when nothing answers', async () => {
    const silent = silentPort();
    const excluded = silentPort();
    const err = await detectJulaboPort({
      candidates: [silent.path, '/dev/does-not-exist-julabo', excluded.path],
      exclude: [excluded.path],
      timeoutMs: 200,
      serial,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabwireError);
    const message = (err as LabwireError).message;
    expect(message).toContain(`${silent.path} (no reply to "version" within 200 ms)`);
    expect(message).toMatch(/\/dev\/does-not-exist-julabo \(cannot open .*no such port/);
    expect(message).toContain(`left alone (excluded): ${excluded.path}`);
    expect(message).toMatch(/remote mode/);
    expect(excluded.received()).toBe('');
  });

  it('says so when every port is excluded', async () => {
    const only = silentPort();
    await expect(detectJulaboPort({ candidates: [only.path], exclude: [only.path], serial })).rejects.toThrow(/no serial port to search/);
    expect(only.received()).toBe('');
  });

  it('passes over a port that answers with something else', async () => {
    const other = openPtyPair();
    cleanup.push(() => other.close());
    other.master.on('data', () => other.master.write('*IDN? not understood\r\n'));
    const result = await probeJulaboPort(other.path, { timeoutMs: 300, serial });
    expect(result).toEqual({ path: other.path, ok: false, detail: 'replied "*IDN? not understood", not a Julabo version' });
  });
});
