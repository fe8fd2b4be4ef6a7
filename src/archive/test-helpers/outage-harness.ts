/**
 * What the outage tests share: the writer child process (outage-writer.ts) with its
 * acknowledgements collected, and the count of what PostgreSQL holds afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');

export class Writer {
  readonly child: ChildProcess;
  /** Acknowledged steps [first, last] of each write. */
  readonly acks: Array<[number, number]> = [];
  readonly logAcks: number[] = [];
  readonly errors: string[] = [];
  readonly reports: string[] = [];
  state = '';
  spooled = 0;
  done = false;
  exited = false;
  stderr = '';
  private buf = '';
  private readonly exit: Promise<void>;

  constructor(url: string, spool: string, t0: number, first: number, replayRows?: number) {
    const args = ['--import', 'tsx', path.join(HERE, 'outage-writer.ts'), url, spool, String(t0), String(first)];
    if (replayRows !== undefined) args.push(String(replayRows));
    this.child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d.toString()));
    this.exit = new Promise((resolve) => this.child.on('exit', () => {
      this.exited = true;
      resolve();
    }));
  }

  private onData(text: string): void {
    this.buf += text;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const [word, a, b] = line.split(' ');
      if (word === 'ack') this.acks.push([Number(a), Number(b)]);
      else if (word === 'logack') this.logAcks.push(Number(a));
      else if (word === 'state') {
        this.state = a!;
        this.spooled = Number(b);
      } else if (word === 'error') this.errors.push(line);
      else if (word === 'report') this.reports.push(line.slice(7));
      else if (word === 'done') this.done = true;
    }
  }

  /** The highest step acknowledged so far (-1: none). */
  get lastAck(): number {
    return this.acks.reduce((m, [, last]) => Math.max(m, last), -1);
  }

  async until(cond: () => boolean, what: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (this.exited && !cond()) throw new Error(`writer exited while waiting for ${what}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (state ${this.state} ${this.spooled}, ${this.acks.length} acks, errors ${this.errors.slice(0, 3).join('; ')}) ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Ends the ingest cleanly (flush, drain, close). */
  async stop(ms = 90_000): Promise<void> {
    this.child.stdin!.write('stop\n');
    await this.until(() => this.done, 'the writer to finish', ms);
    await this.exit;
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exit;
  }
}

export interface Held {
  /** Per series: every t_ms stored (sorted), and how many rows. */
  series: Map<string, { ts: number[]; rows: number; badValues: number }>;
  logs: string[];
}

/** What the archive's database holds of the writers' data. */
export async function heldIn(url: string, t0: number): Promise<Held> {
  const u = new URL(url);
  const client = new pg.Client({ host: u.hostname, port: Number(u.port), user: u.username, database: u.pathname.slice(1), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const series = new Map<string, { ts: number[]; rows: number; badValues: number }>();
    const rows = await client.query<{ name: string; t_ms: string; value: number | null }>(
      "SELECT s.name, x.t_ms, x.value FROM samples x JOIN series s ON s.id = x.series_id WHERE s.device = 'outage' ORDER BY s.name, x.t_ms",
    );
    for (const r of rows.rows) {
      let e = series.get(r.name);
      if (!e) series.set(r.name, (e = { ts: [], rows: 0, badValues: 0 }));
      const t = Number(r.t_ms);
      e.ts.push(t);
      e.rows++;
      const s = Number(r.name.slice(1));
      if (r.value === null || Math.abs(r.value - (t - t0 + s / 10)) > 1e-9) e.badValues++;
    }
    const logs = (await client.query<{ message: string }>("SELECT message FROM log WHERE source = 'outage' ORDER BY id")).rows.map((r) => r.message);
    return { series, logs };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Steps acknowledged by any of the writers, as a sorted list without repeats. */
export function ackedSteps(writers: Writer[]): number[] {
  const set = new Set<number>();
  for (const w of writers) for (const [a, b] of w.acks) for (let i = a; i <= b; i++) set.add(i);
  return [...set].sort((x, y) => x - y);
}
