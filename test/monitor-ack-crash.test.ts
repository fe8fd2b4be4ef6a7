/**
 * Acknowledged means committed (issue 10 §3): the monitor process is killed with SIGKILL at a
 * random point while a script writes log lines to its port, or while the web page sends `set`s;
 * every `ok info` the script received is then in the archive, and every web `set` that got its
 * HTTP reply has its audit row.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startMonitor } from '../src/monitor/monitor.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { silentLogger } from '../src/util/logger.js';
import { RawClient } from '../src/testing/raw-client.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-ack-crash-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Starts the lab in a child process; resolves with its ports and a promise of its SIGKILL exit. */
function startLab(file: string): Promise<{ child: ChildProcess; monitorPort: number; webPort: number; killed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/crash-lab.ts'), file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const killed = new Promise<void>((ok, fail) => {
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? ok() : fail(new Error(`the lab exited with ${code}/${signal}: ${stderr}`))));
    });
    killed.catch(reject);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+) (\d+)\n/.exec(out);
      if (m) resolve({ child, monitorPort: Number(m[1]), webPort: Number(m[2]), killed });
    });
  });
}

const randomInt = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));

describe('acknowledged after commit, through a SIGKILL', () => {
  it('every `ok info` a script received is in the archive', async () => {
    const file = path.join(dir, 'info.sqlite');
    const lab = await startLab(file);
    const target = randomInt(300, 1500);
    let acked = 0;
    let sent = 0;
    const socket = net.connect(lab.monitorPort, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let buf = '';
    const done = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'ok info') acked++;
          else if (!line.startsWith('ok info ')) throw new Error(`unexpected reply: ${line}`);
          if (acked === target) {
            lab.child.kill('SIGKILL');
            resolve();
          }
        }
        // Keep up to 100 lines in flight: replies can come faster than one batch interval.
        // (Replies already on their way when the kill lands are acknowledgements too, and counted.)
        if (acked < target) while (sent < acked + 100) socket.write(`info ack-${sent++}\n`);
      });
      socket.on('close', () => resolve());
    });
    while (sent < 100) socket.write(`info ack-${sent++}\n`);
    await done;
    await lab.killed;
    socket.destroy();
    expect(acked).toBeGreaterThanOrEqual(target);
    const db = new Database(file);
    try {
      const stored = new Set((db.prepare("SELECT message FROM log WHERE message LIKE 'ack-%'").pluck().all() as string[]).map((m) => Number(m.slice(4))));
      const lost = [];
      for (let i = 0; i < acked; i++) if (!stored.has(i)) lost.push(i);
      console.log(`SIGKILL after ${acked} acknowledged log lines (${sent} sent): ${lost.length} acknowledged lines missing, ${stored.size} stored`);
      expect(lost).toEqual([]);
    } finally {
      db.close();
    }
  }, 120_000);

  it('every web `set` that got its HTTP reply has its audit row', async () => {
    const file = path.join(dir, 'audit.sqlite');
    const lab = await startLab(file);
    const target = randomInt(3, 12);
    const replied: string[] = [];
    for (let i = 0; replied.length < target; i++) {
      const command = `set setpoint=${(10 + i / 100).toFixed(2)}`;
      const res = await fetch(`http://127.0.0.1:${lab.webPort}/api/devices/chiller/command`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ line: command }),
      });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      replied.push(command);
      if (replied.length === target) lab.child.kill('SIGKILL');
    }
    await lab.killed;
    const db = new Database(file);
    try {
      const rows = new Set(db.prepare("SELECT command FROM audit WHERE device = 'chiller'").pluck().all() as string[]);
      const missing = replied.filter((c) => !rows.has(c));
      console.log(`SIGKILL after ${replied.length} answered web sets: ${missing.length} without an audit row`);
      expect(missing).toEqual([]);
    } finally {
      db.close();
    }
  }, 120_000);

  it('says so in the reply when the archive cannot store a line, and keeps answering', async () => {
    const archive = new MemoryArchive();
    const monitor = await startMonitor({ name: 'monitor', peers: [], archive, listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
    const c = await RawClient.connect(monitor.port);
    try {
      expect(await c.request('info before')).toBe('ok info');
      archive.failWith = new Error('disk full');
      expect(await c.request('info during')).toBe('ok info stored=0 note="the archive did not store it: disk full"');
      expect(await c.request('ping')).toBe('pong');
      archive.failWith = undefined;
      expect(await c.request('warning after')).toBe('ok warning');
      expect(archive.logs.map((e) => e.message)).toEqual(expect.arrayContaining(['before', 'after']));
      expect(monitor.recentMessages().map((e) => e.message)).toEqual(expect.arrayContaining(['during', 'archive: disk full']));
    } finally {
      c.close();
      await monitor.close();
    }
  });
});
