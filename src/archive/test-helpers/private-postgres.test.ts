/**
 * The private cluster helper itself: it starts, refuses a wrong password, is really down after
 * stop() and kill(), comes back with its data after start(), and leaves nothing behind.
 */
import fs from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PRIVATE_POSTGRES_SKIP_MESSAGE, privatePostgresAvailable, startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';

const available = privatePostgresAvailable();
if (!available) console.warn(PRIVATE_POSTGRES_SKIP_MESSAGE);

async function query(url: string, password: string | undefined, sql: string): Promise<unknown[]> {
  // Not connectionString: pg lets the URL's (absent) password override the `password` option.
  const u = new URL(url);
  const client = new pg.Client({ host: u.hostname, port: Number(u.port), user: u.username, database: u.pathname.slice(1), password, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe.skipIf(!available)('private PostgreSQL cluster', () => {
  let cluster: PrivatePostgres | undefined;
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('runs on 127.0.0.1 with password auth, stops, crashes and starts again with its data', async () => {
    cluster = await startPrivatePostgres({ password: 's3cret word' });
    expect(cluster.url).not.toContain('s3cret');
    expect(cluster.url).toContain(`127.0.0.1:${cluster.port}`);
    await query(cluster.url, cluster.password, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    await expect(query(cluster.url, 'wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed/);

    await cluster.stop();
    await expect(query(cluster.url, cluster.password, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await cluster.start();
    expect(await query(cluster.url, cluster.password, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);

    await cluster.kill();
    await expect(query(cluster.url, cluster.password, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await cluster.start();
    expect(await query(cluster.url, cluster.password, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);

    const dir = cluster.dir;
    await cluster.destroy();
    expect(fs.existsSync(dir)).toBe(false);
    await expect(query(cluster.url, cluster.password, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
  }, 180_000);

  it('trusts loopback connections when no password is asked for', async () => {
    const c = await startPrivatePostgres();
    try {
      expect(await query(c.url, undefined, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await c.destroy();
    }
  }, 120_000);
});
