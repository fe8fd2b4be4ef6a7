/**
 * The Tango gateway with a Tango database (TANGO_HOST), for real: a private MariaDB database with
 * the tango-db package's schema, Debian's DataBaseds on a free loopback port, the server
 * registered as a facility would, and a DeviceProxy that finds `labwire/<lab>/<device>` by name.
 * Skips with a message when PyTango, DataBaseds or MariaDB (127.0.0.1:3306, root) are absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TANGO_GATEWAY } from '../src/cli/tango-cmd.js';
import { freePort } from '../src/testing/free-port.js';
import { eventually } from '../src/testing/eventually.js';
import { startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';

import { PYTHON, runPythonJson } from './helpers/python.js';
const DATABASEDS = '/usr/lib/tango/DataBaseds';
const SCHEMA = '/usr/share/dbconfig-common/data/tango-db/install/mysql';
const MYSQL = ['-h', '127.0.0.1', '-P', '3306', '-u', 'root'];

function missing(): string | undefined {
  if (spawnSync(PYTHON, ['-c', 'import tango']).status !== 0) return `PyTango is not importable by ${PYTHON} (apt-get install python3-tango)`;
  if (!fs.existsSync(DATABASEDS) || !fs.existsSync(SCHEMA)) return 'DataBaseds is not installed (apt-get install tango-db)';
  const ping = spawnSync('mysql', [...MYSQL, '-e', 'SELECT 1'], { encoding: 'utf8', timeout: 20_000 });
  if (ping.status !== 0) return `MariaDB does not answer on 127.0.0.1:3306 as root: ${(ping.stderr || ping.error?.message || '').trim()}`;
  return undefined;
}
const why = missing();
if (why) console.warn(`skipping the Tango database test: ${why}`);

const DB = `tango_test_${randomBytes(4).toString('hex')}`;
let tangoHost = '';
let julabo: JulaboLab;
let databaseds: ChildProcess | undefined;
let gateway: ChildProcess | undefined;
let log = '';

function tangoEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TANGO_HOST: tangoHost };
}

function py(script: string): Promise<unknown> {
  return runPythonJson(`import json, tango\n${script}`, { env: tangoEnv(), note: () => `log: ${log.slice(-1500)}` });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill('SIGTERM');
  });
}

describe.skipIf(why !== undefined)('labwire tango with a Tango database (DataBaseds, TANGO_HOST)', () => {
  beforeAll(async () => {
    const create = spawnSync('mysql', [...MYSQL, '-e', `CREATE DATABASE ${DB}`], { encoding: 'utf8' });
    expect(create.status, create.stderr).toBe(0);
    // The package's install script, its `source` files inlined; the stored procedures name the
    // database `tango.` explicitly, so they are renamed into ours (the machine's `tango` stays untouched).
    const sql = fs.readFileSync(SCHEMA, 'utf8').replace(/^source\s+(\S+)\s*$/gm, (_, file: string) => fs.readFileSync(file, 'utf8').replace(/\btango\./g, `${DB}.`));
    expect(sql).not.toMatch(/^source/m);
    const schema = spawnSync('mysql', [...MYSQL, DB], { input: sql, encoding: 'utf8', timeout: 60_000 });
    expect(schema.status, schema.stderr).toBe(0);
    const port = await freePort();
    tangoHost = `127.0.0.1:${port}`;
    databaseds = spawn(DATABASEDS, ['2', '-ORBendPoint', `giop:tcp:127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...tangoEnv(), MYSQL_HOST: '127.0.0.1', MYSQL_USER: 'root', MYSQL_PASSWORD: '', MYSQL_DATABASE: DB },
    });
    databaseds.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    databaseds.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    julabo = await startJulaboLab();
    // The facility's step: register server LabwireTango/<instance>, class LabwireDevice, the devices.
    await eventually(() => py(`
db = tango.Database()
info = tango.DbDevInfo()
info.name, info._class, info.server = "labwire/dblab/chiller", "LabwireDevice", "LabwireTango/dblab"
db.add_device(info)
print(json.dumps(list(db.get_device_name("LabwireTango/dblab", "LabwireDevice"))))`), 60_000, 1000);
    gateway = spawn(PYTHON, [TANGO_GATEWAY, '--daemon', `127.0.0.1:${julabo.port}`, '--lab', 'dblab'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...tangoEnv(), LABWIRE_TOKEN: '' } });
    gateway.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    gateway.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  }, 180_000);

  afterAll(async () => {
    await stop(gateway);
    await stop(databaseds);
    await julabo?.close();
    spawnSync('mysql', [...MYSQL, '-e', `DROP DATABASE IF EXISTS ${DB}`]);
  });

  it('a DeviceProxy finds labwire/<lab>/<device> by name through the database and reads the chiller', async () => {
    const r = (await eventually(() => py(`
c = tango.DeviceProxy("labwire/dblab/chiller")
c.set_timeout_millis(10000)
print(json.dumps({"state": str(c.state()), "t": c.read_attribute("temperature").value, "sp": c.read_attribute("setpoint").value,
  "exported": tango.Database().get_device_info("labwire/dblab/chiller").exported}))`), 90_000, 1000)) as Record<string, unknown>;
    const status = await (await julabo.client()).request('get_status');
    expect(r.state).toBe('ON');
    expect(typeof r.t).toBe('number');
    expect(status).toContain(`setpoint=${r.sp as number}`);
    expect(r.exported).toBe(1);
  }, 120_000);
});
