/**
 * Test helper: a database of its own on the machine's PostgreSQL server (127.0.0.1:5432, trust
 * auth) for each test file, so tests of several engineers running at once never share tables.
 * `LABWIRE_TEST_PG_URL` points elsewhere (a URL of a role allowed to CREATE DATABASE).
 * Tests call `postgresAvailable()` first and skip with `POSTGRES_SKIP_MESSAGE` when it is false.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server's maintenance connection: where CREATE/DROP DATABASE are issued. */
export const TEST_POSTGRES_URL = process.env['LABWIRE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export const POSTGRES_SKIP_MESSAGE =
  `PostgreSQL is not reachable at ${TEST_POSTGRES_URL} (set LABWIRE_TEST_PG_URL, or start the server): ` +
  'PostgreSQL tests skipped (CI installs and starts it, so they run there)';

let available: Promise<boolean> | undefined;

/** True when the test server answers a query (checked once per process, 5 s bound). */
export function postgresAvailable(): Promise<boolean> {
  available ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return available;
}

/** Runs one statement on the maintenance connection. */
async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface FreshDatabase {
  /** Connection URL of the new database (same server and user as TEST_POSTGRES_URL). */
  url: string;
  /** The database's name. */
  name: string;
  /** Drops it, closing whatever connections are left (WITH (FORCE)). Idempotent. */
  drop(): Promise<void>;
}

/** Creates an empty database named `<prefix>_<random>` (lower case, safe identifier). */
export async function freshDatabase(prefix: string): Promise<FreshDatabase> {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 40);
  const name = `lw_${safe}_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}
