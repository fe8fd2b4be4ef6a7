/**
 * End users behind the monitor (issue 10 §3): a command from the web page or the monitor port
 * reaches the daemon's audit with the person's name (`otto via monitor`), with the lower of the
 * person's role and the monitor's; a connection whose token is not trusted to forward cannot
 * claim a name, and a monitor the daemon does not trust still works, under its own name.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../src/daemon/daemon.js';
import { parseTokenFile } from '../src/server/index.js';
import type { JulaboSimulator } from '../src/devices/julabo/simulator.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { startWeb, type WebServer } from '../src/web/server.js';
import { silentLogger } from '../src/util/logger.js';
import { openArchive } from '../src/archive/index.js';
import type { Archive } from '../src/archive/types.js';
import { RawClient } from '../src/testing/raw-client.js';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';

const MONITOR_TOKEN = 'monitor-token-0123456789';
const PLAIN_MONITOR_TOKEN = 'plain-monitor-token-0123456789';
const MALLORY = 'mallory-token-0123456789';
const DAEMON_TOKENS = parseTokenFile(
  [`admin ${MONITOR_TOKEN} monitor forward`, `admin ${PLAIN_MONITOR_TOKEN} plainmon`, `admin ${MALLORY} mallory`].join('\n'),
  'daemon-tokens',
);
const WEB_TOKENS = parseTokenFile(['operator otto-token-0123456789 otto', 'viewer vera-token-0123456789 vera'].join('\n'), 'web-tokens');

let dir: string;
let julabo: JulaboLab;
let sim: JulaboSimulator;
let daemon: Daemon;
let archive: Archive;
let monitor: Monitor;
let plainMonitor: Monitor;
let web: WebServer;
let plainWeb: WebServer;
let auditFile: string;

interface AuditLine {
  who: string;
  command: string;
  result: string;
}

function audit(): AuditLine[] {
  return fs
    .readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditLine);
}

const post = (base: string, line: string, token: string) =>
  fetch(`${base}api/devices/chiller/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ line }),
  });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-identity-'));
  auditFile = path.join(dir, 'chiller-audit.jsonl');
  const logger = silentLogger();
  // Every refusal in full: the test looks for each one (all its clients share 127.0.0.1).
  julabo = await startJulaboLab({}, { tokens: DAEMON_TOKENS, auditFile, refusalSummaryMs: 0, logger });
  ({ sim, daemon } = julabo);
  archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
  const peer = { name: 'chiller', host: '127.0.0.1', port: daemon.port };
  monitor = await startMonitor({ name: 'monitor', peers: [{ ...peer, token: MONITOR_TOKEN }], archive, listen: { host: '127.0.0.1', port: 0 }, tokens: WEB_TOKENS, logger });
  plainMonitor = await startMonitor({ name: 'plainmon', peers: [{ ...peer, token: PLAIN_MONITOR_TOKEN }], listen: false, logger });
  web = await startWeb({ monitor, port: 0, tokens: WEB_TOKENS, logger });
  plainWeb = await startWeb({ monitor: plainMonitor, port: 0, tokens: WEB_TOKENS, logger });
  await eventually(() => {
    expect(monitor.peer('chiller')?.describe).toBeDefined();
    expect(plainMonitor.peer('chiller')?.describe).toBeDefined();
  }, 15_000);
});

afterAll(async () => {
  await web?.close();
  await plainWeb?.close();
  await monitor?.close();
  await plainMonitor?.close();
  await archive?.close();
  await julabo?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('forwarded identities', () => {
  it('a web command as otto reaches the daemon audit as "otto via monitor"; the monitor archive says otto', async () => {
    const res = await post(web.url, 'set setpoint=14.5', 'otto-token-0123456789');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'ok', command: 'set', results: { setpoint: 14.5 } });
    expect(sim.setpoint).toBe(14.5);
    await eventually(() => {
      const row = audit().find((a) => a.command === 'set setpoint=14.5');
      expect(row).toMatchObject({ who: 'otto via monitor' });
      expect(row!.result).toMatch(/^ok/);
    });
    // The monitor's own audit row is as it was: the person, from the web.
    const trail = await archive.auditTrail({ device: 'chiller' });
    expect(trail.find((a) => a.command === 'set setpoint=14.5')).toMatchObject({ who: 'otto' });
  });

  it('the monitor port forwards the script’s identity too', async () => {
    const c = await RawClient.connect(monitor.port);
    try {
      expect(await c.request('auth token=otto-token-0123456789')).toBe('ok auth role=operator');
      expect(await c.request('send chiller set setpoint=13')).toMatch(/^ok set/);
      await eventually(() => expect(audit().find((a) => a.command === 'set setpoint=13')).toMatchObject({ who: 'otto via monitor' }));
    } finally {
      c.close();
    }
  });

  it('runs the line with the lower of the claimed role and the session’s', async () => {
    const c = await RawClient.connect(daemon.port);
    try {
      await c.request(`auth token=${MONITOR_TOKEN}`);
      c.write('id name=monitor type=monitor\n');
      expect(await c.request('as user=vera role=viewer set setpoint=3')).toMatch(/^error set code=Unauthorized .*operator role; your role is viewer/);
      expect(await c.request('as user=vera role=viewer get_id')).toMatch(/^id name=chiller /);
      expect(await c.request('as user="Dr. Who" role=operator set setpoint=12')).toMatch(/^ok set setpoint=12/);
      expect(await c.request('as user=vera role=admin subscribe')).toMatch(/^error as code=ProtocolError /);
      expect(await c.request('as user=vera role=wizard set setpoint=3')).toMatch(/^error as code=WrongType /);
      expect(sim.setpoint).toBe(12);
      await eventually(() => {
        const rows = audit();
        expect(rows.find((a) => a.command === 'set setpoint=3')).toMatchObject({ who: 'vera via monitor', result: expect.stringMatching(/Unauthorized/) });
        expect(rows.find((a) => a.command === 'set setpoint=12')).toMatchObject({ who: 'Dr. Who via monitor' });
      });
    } finally {
      c.close();
    }
  });

  it('an untrusted session cannot claim a name: refused and audited under its own', async () => {
    const c = await RawClient.connect(daemon.port);
    try {
      expect(await c.request(`auth token=${MALLORY}`)).toBe('ok auth role=admin');
      const reply = await c.request('as user=otto role=admin set setpoint=2');
      expect(reply).toMatch(/^error as code=Unauthorized message=".*not marked forward/);
      expect(sim.setpoint).not.toBe(2);
      await eventually(() => {
        const row = audit().find((a) => a.command === 'as user=otto role=admin set setpoint=2');
        expect(row).toMatchObject({ who: 'mallory', result: expect.stringMatching(/Unauthorized/) });
      });
      expect(audit().some((a) => a.who.startsWith('otto') && a.command === 'set setpoint=2')).toBe(false);
    } finally {
      c.close();
    }
    // Nor through the monitor: `as` is not forwarded.
    const res = await post(web.url, 'as user=root role=admin set setpoint=2', 'otto-token-0123456789');
    expect(res.status).toBe(400);
    expect(sim.setpoint).not.toBe(2);
  });

  it('a monitor the daemon does not trust still sends, under its own name, and says why once', async () => {
    const res = await post(plainWeb.url, 'set setpoint=11', 'otto-token-0123456789');
    expect(res.status).toBe(200);
    expect(sim.setpoint).toBe(11);
    const again = await post(plainWeb.url, 'set setpoint=10.5', 'otto-token-0123456789');
    expect(again.status).toBe(200);
    await eventually(() => {
      const rows = audit();
      expect(rows.find((a) => a.command === 'set setpoint=11')).toMatchObject({ who: 'plainmon (plainmon)' });
      expect(rows.find((a) => a.command === 'set setpoint=10.5')).toMatchObject({ who: 'plainmon (plainmon)' });
      // Only the first forward of the connection was tried with the name.
      expect(rows.filter((a) => a.who === 'plainmon (plainmon)' && a.command.startsWith('as ')).length).toBe(1);
    });
    expect(plainMonitor.recentMessages().filter((m) => m.message.includes('does not take the names of end users'))).toHaveLength(1);
  });
});

describe('labwire up', () => {
  it('marks the token its monitor sends as forward in the lab’s daemons: their audit names the web user', async () => {
    const labDir = path.join(dir, 'lab');
    fs.mkdirSync(labDir);
    // The daemon's token file does not say forward: the lab knows its monitor's token.
    fs.writeFileSync(path.join(labDir, 'daemon-tokens.txt'), 'admin lab-monitor-token-0123456789 monitor\n');
    fs.writeFileSync(path.join(labDir, 'web-tokens.txt'), 'operator otto-token-0123456789 otto\n');
    const yaml = [
      'simulators:',
      '  - { name: bath, type: julabo, options: { byteTiming: false } }',
      'daemons:',
      '  - { name: chiller, type: julabo, link: "sim:bath", tokenFile: daemon-tokens.txt, auditFile: chiller-audit.jsonl }',
      'monitor:',
      '  listen: 127.0.0.1:0',
      '  web: 127.0.0.1:0',
      '  tokenFile: web-tokens.txt',
      '  peerToken: lab-monitor-token-0123456789',
      '  archive: { path: archive.sqlite }',
      '',
    ].join('\n');
    const config = parseLabConfig(yaml, path.join(labDir, 'lab.yaml'), labDir);
    const lab = await startLab({ ...config, data: path.join(labDir, 'data') }, silentLogger());
    try {
      await eventually(() => expect(lab.monitor.peer('chiller')?.describe).toBeDefined(), 30_000);
      const res = await post(lab.web.url, 'set setpoint=17.5', 'otto-token-0123456789');
      expect(res.status).toBe(200);
      await eventually(() => {
        const lines = fs.readFileSync(path.join(labDir, 'chiller-audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditLine);
        expect(lines.find((a) => a.command === 'set setpoint=17.5')).toMatchObject({ who: 'otto via monitor' });
      });
    } finally {
      await lab.close();
    }
  }, 60_000);
});
