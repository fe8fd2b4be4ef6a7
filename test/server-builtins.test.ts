/**
 * The built-in command table (src/server/builtins.ts) against the three places that apply it,
 * each black-box: a device daemon's port and the monitor's port over TCP with a raw line client,
 * and the web API through fastify inject. Every entry of the table is sent; a new entry is tested
 * without touching this file, and a server that decides a role, an audit or a read/write
 * differently from the table fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_COMMANDS, lineKind, roleAtLeast, type BuiltinCommand, type BuiltinRule, type Role, type LineKind } from '../src/server/index.js';
import type { AuditEvent } from '../src/daemon/runner.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { CcdlabPeer } from '../src/monitor/test-helpers/ccdlab-peer.js';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { createWebApp } from '../src/web/server.js';
import { FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

const TOKENS = [
  { role: 'viewer' as const, token: 'viewer-token-0123456789', name: 'vera' },
  { role: 'operator' as const, token: 'operator-token-0123456789', name: 'otto' },
  { role: 'admin' as const, token: 'admin-token-0123456789', name: 'ada' },
];
const tokenOf = (role: Role): string => TOKENS.find((t) => t.role === role)!.token;

/** A line that exercises the built-in; the bare name where that is enough. */
const EXAMPLES: Readonly<Record<string, string>> = {
  set: 'set setpoint=21',
  send: 'send bath get_status',
  message: 'message from the table test',
  info: 'info from the table test',
  warning: 'warning from the table test',
  error: 'error from the table test',
  success: 'success from the table test',
  debug: 'debug from the table test',
  auth: 'auth token=not-a-token-of-this-lab',
  as: 'as user=mallory role=admin get_id',
  programme_load: 'programme_load param=setpoint format=csv data="0,20;60,21"',
  ack: 'ack no-such-alarm',
  id: 'id name=table-test type=script',
  status: 'status hw_connected=1',
  status_json: 'status_json {}',
};
const example = (name: string): string => EXAMPLES[name] ?? name;

/** The refusal every labwire server gives when a role is too low (LineServer.unauthorized). */
const ROLE_REFUSAL = /^error \S+ code=Unauthorized message="[^"]* needs the (viewer|operator|admin) role; your role is /;

/** Whether the table says `role` is refused the rule (null roles are answered to anyone). */
const refusedFor = (rule: BuiltinRule, role: Role): boolean => rule.role !== null && !roleAtLeast(role, rule.role);

/** What the table says a line sent to a device is, written independently of lineKind's code. */
function tableKind(entry: BuiltinCommand, protocol: 'labwire' | 'ccdlab'): LineKind {
  if (entry.name.startsWith('get_')) return 'read';
  const rule = entry.daemon;
  if (rule === undefined || (protocol === 'ccdlab' && !entry.ccdlab)) return 'write';
  return rule.effect === 'read' ? 'read' : rule.effect === 'admin' ? 'admin' : 'write';
}

/** An unknown command whose reply marks the end of the reply before it. */
const SENTINEL = 'no_such_command_end_of_reply';

/**
 * Sends one line on a fresh connection authenticated with `role`, then SENTINEL; the lines before
 * the sentinel's reply (pushes left out) are the line's reply: none for a notice.
 */
async function replyTo(port: number, role: Role, line: string): Promise<string[]> {
  const c = await RawClient.connect(port);
  try {
    c.write(`auth token=${tokenOf(role)}\n`);
    await c.waitLine((l) => l.startsWith('ok auth'), 15_000);
    const from = c.lines.length;
    c.write(`${line}\n${SENTINEL}\n`);
    const end = (l: string): boolean => l.startsWith(`error ${SENTINEL} `);
    await c.waitLine(end, 15_000, from);
    const got = c.lines.slice(from, c.lines.findIndex((l, i) => i >= from && end(l)));
    return got.filter((l) => !l.startsWith('update ') && !l.startsWith('log '));
  } finally {
    c.close();
  }
}

describe('a device daemon applies the table', () => {
  let lab: JulaboLab;
  const audits: AuditEvent[] = [];
  const entries = BUILTIN_COMMANDS.filter((c) => c.daemon !== undefined);

  beforeAll(async () => {
    lab = await startJulaboLab({}, { tokens: TOKENS });
    lab.daemon.runner.on('audit', (a: AuditEvent) => audits.push(a));
  });
  afterAll(async () => lab?.close());

  for (const role of ['viewer', 'operator'] as const) {
    it(`refuses a ${role} exactly the built-ins above its role, and audits the refusals the table marks`, async () => {
      for (const entry of entries) {
        const rule = entry.daemon!;
        const line = example(entry.name);
        const auditsBefore = audits.length;
        const reply = await replyTo(lab.port, role, line);
        const what = `${role}: ${line} → ${JSON.stringify(reply)}`;
        if (rule.effect === 'notice' || entry.name === 'id') {
          expect(reply, what).toEqual([]);
          continue;
        }
        expect(reply, what).toHaveLength(1);
        expect(ROLE_REFUSAL.test(reply[0]!), what).toBe(refusedFor(rule, role));
        if (refusedFor(rule, role)) {
          const refusals = audits.slice(auditsBefore).filter((a) => a.command === line && a.result.startsWith('refused Unauthorized'));
          expect(refusals.length, `audit of ${what}`).toBe(rule.audited ? 1 : 0);
        }
      }
    }, 120_000);
  }

  it('lists every built-in the table lists, and no notice', async () => {
    const [help] = await replyTo(lab.port, 'viewer', 'help');
    const listed = /commands="([^"]*)"/.exec(help!)![1]!.split(' ');
    for (const e of entries) expect(listed.includes(e.name), e.name).toBe(e.daemon!.listed !== false && e.daemon!.effect !== 'notice');
  });
});

describe('the monitor applies the table on its port and to the lines it forwards', () => {
  let m: Monitor;
  let bath: FakeDaemon;
  let gauge: CcdlabPeer;
  const archive = new MemoryArchive();
  const entries = BUILTIN_COMMANDS.filter((c) => c.monitor !== undefined);

  beforeAll(async () => {
    bath = new FakeDaemon();
    await bath.start();
    gauge = new CcdlabPeer('pfeiffer');
    await gauge.start();
    m = await startMonitor({
      name: 'lab',
      peers: [
        { name: 'bath', host: '127.0.0.1', port: bath.port },
        { name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: gauge.port },
      ],
      archive,
      tokens: TOKENS,
      listen: { host: '127.0.0.1', port: 0 },
      logger: silentLogger(),
      ccdlabPollMs: 100,
      sendTimeoutMs: 500,
    });
    await eventually(() => expect(m.peer('bath')!.connected && m.peer('gauge')!.connected).toBe(true));
  });
  afterAll(async () => {
    await m?.close();
    await bath?.stop();
    await gauge?.stop();
  });

  for (const role of ['viewer', 'operator'] as const) {
    it(`refuses a ${role} exactly the monitor's built-ins above its role`, async () => {
      for (const entry of entries) {
        const rule = entry.monitor!;
        const line = example(entry.name);
        const reply = await replyTo(m.port, role, line);
        const what = `${role}: ${line} → ${JSON.stringify(reply)}`;
        if (rule.effect === 'notice' || entry.name === 'id') {
          expect(reply, what).toEqual([]);
          continue;
        }
        expect(reply, what).toHaveLength(1);
        expect(ROLE_REFUSAL.test(reply[0]!), what).toBe(refusedFor(rule, role));
      }
    }, 120_000);
  }

  it('audits the refusals of the audited built-ins that are its own (exit)', async () => {
    const own = entries.filter((e) => e.monitor!.audited && e.monitor!.effect !== 'forward' && refusedFor(e.monitor!, 'viewer'));
    expect(own.map((e) => e.name)).toContain('exit');
    for (const e of own) {
      const line = example(e.name);
      // Its own refusal, so that the test holds when run alone.
      await replyTo(m.port, 'viewer', line);
      await eventually(() => expect(archive.audits.some((a) => a.device === 'lab' && a.command === line && a.result.startsWith('refused Unauthorized'))).toBe(true));
    }
  });

  it('forwards to a viewer exactly the lines the table calls reads, for a labwire and a CCDLab peer', async () => {
    for (const [client, protocol] of [['bath', 'labwire'], ['gauge', 'ccdlab']] as const) {
      for (const entry of BUILTIN_COMMANDS) {
        const line = `send ${client} ${example(entry.name)}`;
        const reply = await replyTo(m.port, 'viewer', line);
        const what = `${line} → ${JSON.stringify(reply)}`;
        expect(reply, what).toHaveLength(1);
        if (entry.notForwarded !== undefined) {
          expect(reply[0], what).toMatch(/^error send code=ProtocolError message="the monitor does not forward/);
          continue;
        }
        const kind = tableKind(entry, protocol);
        expect(lineKind(entry.name, protocol), entry.name).toBe(kind);
        expect(ROLE_REFUSAL.test(reply[0]!), what).toBe(kind !== 'read');
      }
    }
  }, 120_000);
});

describe('the web classifies lines for a device by the table', () => {
  it('refuses in read-only mode exactly the lines the table does not call reads, and exit to an operator', async () => {
    const readOnly = new FakeMonitor({ archive: new FakeArchive(), readOnly: true });
    const { app } = await createWebApp({ monitor: readOnly, tokens: TOKENS, logger: silentLogger(), uiDir: '/nonexistent' });
    try {
      for (const entry of BUILTIN_COMMANDS) {
        const line = example(entry.name);
        const kind = tableKind(entry, 'labwire');
        for (const role of ['operator', 'admin'] as const) {
          const res = await app.inject({ method: 'POST', url: '/api/devices/chiller/command', headers: { authorization: `Bearer ${tokenOf(role)}` }, payload: { line } });
          const body = res.json<{ code?: string }>();
          const what = `${role}: ${line} → ${res.statusCode} ${JSON.stringify(body)}`;
          if (kind === 'admin' && role === 'operator') {
            expect([res.statusCode, body.code], what).toEqual([403, 'Forbidden']);
          } else {
            expect(res.statusCode === 403 && body.code === 'ReadOnly', what).toBe(kind !== 'read');
          }
        }
      }
    } finally {
      await app.close();
    }
  });
});
