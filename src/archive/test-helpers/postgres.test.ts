import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freshDatabase, postgresAvailable, POSTGRES_SKIP_MESSAGE } from './postgres.js';

const ok = await postgresAvailable();
if (!ok) console.warn(POSTGRES_SKIP_MESSAGE);

describe.skipIf(!ok)('freshDatabase', () => {
  it('creates a database of its own and drops it', async () => {
    const db = await freshDatabase('helper');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const r = await client.query<{ d: string }>('SELECT current_database() AS d');
    expect(r.rows[0]?.d).toBe(db.name);
    await client.end();
    await db.drop();
    const again = new pg.Client({ connectionString: db.url });
    await expect(again.connect()).rejects.toThrow(/does not exist/);
    await again.end().catch(() => undefined);
  });
});
