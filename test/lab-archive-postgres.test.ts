/**
 * `labwire up` with `monitor.archive.type: postgres`: the lab opens the PostgreSQL archive with
 * the monitor's name as origin (the password read from its file), and the daemons' values land in
 * it under that origin.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresAvailable, POSTGRES_SKIP_MESSAGE, type FreshDatabase } from '../src/archive/test-helpers/postgres.js';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';

const ok = await postgresAvailable();
if (!ok) console.warn(POSTGRES_SKIP_MESSAGE);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-pg-'));
let db: FreshDatabase | undefined;
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await db?.drop();
});

describe.skipIf(!ok)('labwire up with a PostgreSQL archive', () => {
  it('archives under the monitor name as origin', async () => {
    db = await freshDatabase('lab');
    // The test server trusts local connections: any password passes, but it must be readable.
    fs.writeFileSync(path.join(dir, 'pg-password'), 'unused-on-trust\n');
    const yaml = [
      'simulators:',
      '  - { name: bath, type: julabo, options: { byteTiming: false } }',
      'daemons:',
      '  - { name: chiller, type: julabo, link: "sim:bath" }',
      'monitor:',
      '  name: room7',
      '  listen: 127.0.0.1:0',
      '  web: 127.0.0.1:0',
      `  archive: { type: postgres, url: "${db.url}", passwordFile: pg-password }`,
      '',
    ].join('\n');
    const config = parseLabConfig(yaml, path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => undefined);
    try {
      expect(lab.archiveError).toBeUndefined();
      expect(lab.archive?.kind).toBe('postgres');
      await client.connect();
      await eventually(async () => {
        const r = await client.query<{ origin: string; device: string; n: number }>(
          "SELECT s.origin, s.device, count(*)::int AS n FROM series s JOIN samples x ON x.series_id = s.id WHERE s.name = 'temperature' GROUP BY 1, 2",
        );
        expect(r.rows).toEqual([{ origin: 'room7', device: 'chiller', n: expect.any(Number) }]);
      }, 30_000, 250);
      const list = await lab.archive!.listSeries();
      expect(list.find((s) => s.name === 'temperature')).toMatchObject({ device: 'chiller', unit: '°C' });
    } finally {
      await lab.close();
      await client.end().catch(() => undefined);
    }
  }, 60_000);
});
