/**
 * The daemon's labwire protocol, black-box over real TCP, with the Julabo simulator behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, kv, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import type { DescribeDoc, StatusDoc } from '../src/wire/types.js';

let lab: JulaboLab;

beforeAll(async () => {
  lab = await startJulaboLab({ initialTemperature: 20, setpoint: 20 });
  const c = await lab.client();
  await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
  await eventually(async () => expect(kv(await c.request('get_status')).status_code).toBe('2'));
});

afterAll(() => lab.close());

describe('requests and replies', () => {
  it('get_id names the daemon, its type and the protocol', async () => {
    const c = await lab.client();
    expect(await c.request('get_id')).toBe('id name=chiller type=julabo protocol=labwire/1 version=test');
  });

  it('get_status lists hw_connected first, then state, then every parameter', async () => {
    const c = await lab.client();
    const line = await c.request('get_status');
    expect(line).toMatch(/^status hw_connected=1 state=\w+ state_text=/);
    const s = kv(line);
    for (const p of ['temperature', 'setpoint', 'running', 'status_code', 'status_text', 'version']) expect(s).toHaveProperty(p);
    expect(Number(s.temperature)).toBeCloseTo(20, 0);
    expect(s.status_text).toBe('REMOTE STOP');
    expect(s.version).toContain('FL1703');
  });

  it('get_status format=json gives typed values, units and timestamps', async () => {
    const c = await lab.client();
    const line = await c.request('get_status format=json');
    expect(line.startsWith('status_json ')).toBe(true);
    const doc = JSON.parse(line.slice('status_json '.length)) as StatusDoc;
    expect(doc.name).toBe('chiller');
    expect(doc.values.hw_connected).toBe(true);
    expect(typeof doc.values.temperature).toBe('number');
    expect(doc.units.temperature).toBe('°C');
    expect(doc.ts.temperature).toBeGreaterThan(Date.now() - 10_000);
    expect(await c.request('get_status format=xml')).toMatch(/^error get_status code=WrongType message="unknown status format/);
  });

  it('describe gives types, units, limits and commands as one JSON line', async () => {
    const c = await lab.client();
    const line = await c.request('describe');
    const doc = JSON.parse(line.slice('describe '.length)) as DescribeDoc;
    expect(doc.type).toBe('julabo');
    expect(doc.protocol).toBe('labwire/1');
    expect(doc.params.setpoint).toMatchObject({ type: 'float', unit: '°C', readonly: false, min: -20, max: 40 });
    expect(doc.params.setpoint!.target?.of).toBe('temperature');
    expect(doc.params.temperature!.readonly).toBe(true);
    expect(doc.params.temperature!.deadband).toBe(0.01); // the archive's hint
    expect(Object.keys(doc.params).slice(0, 3)).toEqual(['hw_connected', 'state', 'state_text']);
    expect(doc.commands.start).toMatchObject({ write: true });
  });

  it('set applies the value, verified on the device, and replies with the value as applied', async () => {
    const c = await lab.client();
    expect(await c.request('set setpoint=12.5')).toBe('ok set setpoint=12.5');
    expect(lab.sim.setpoint).toBe(12.5);
    await eventually(async () => expect(kv(await c.request('get_status')).setpoint).toBe('12.5'));
  });

  it('set outside the model limits is refused before the device sees it', async () => {
    const c = await lab.client();
    const before = lab.sim.setpoint;
    expect(await c.request('set setpoint=55')).toBe('error set code=RangeError message="setpoint 55 °C is above the FL1703 limit of 40 °C"');
    expect(await c.request('set setpoint=-21')).toBe('error set code=RangeError message="setpoint -21 °C is below the FL1703 limit of -20 °C"');
    expect(lab.sim.setpoint).toBe(before);
  });

  it('set is all-or-nothing and names what is wrong', async () => {
    const c = await lab.client();
    const before = lab.sim.setpoint;
    expect(await c.request('set setpoint=11 running=maybe')).toMatch(/^error set code=WrongType message="running \\"maybe\\" is not a boolean/);
    expect(lab.sim.setpoint).toBe(before);
    expect(await c.request('set temperature=3')).toBe('error set code=ReadOnly message="temperature is read-only"');
    expect(await c.request('set nosuch=1')).toMatch(/^error set code=NoSuchParameter message="no parameter \\"nosuch\\"; parameters: /);
    expect(await c.request('set setpoint=abc')).toMatch(/^error set code=WrongType message="setpoint \\"abc\\" is not a number"/);
    expect(await c.request('set')).toMatch(/^error set code=ProtocolError/);
    expect(await c.request('set 12')).toMatch(/^error set code=ProtocolError message="set takes name=value pairs/);
  });

  it('start and stop run the chiller and are verified by read-back', async () => {
    const c = await lab.client();
    expect(await c.request('start')).toBe('ok start running=1');
    expect(lab.sim.running).toBe(true);
    // The command's result is a fresh reading: status shows it at once, not after the next slow poll.
    expect(kv(await c.request('get_status')).running).toBe('1');
    await eventually(async () => expect(kv(await c.request('get_status')).status_text).toBe('REMOTE START'));
    expect(await c.request('stop')).toBe('ok stop running=0');
    expect(lab.sim.running).toBe(false);
    expect(await c.request('start now')).toMatch(/^error start code=ProtocolError message="start takes 0 argument/);
  });

  it('answers unknown commands, ping and help', async () => {
    const c = await lab.client();
    expect(await c.request('frobnicate 3')).toMatch(/^error frobnicate code=NoSuchCommand message="unknown command \\"frobnicate\\"/);
    expect(await c.request('ping')).toBe('pong');
    const help = kv(await c.request('help'));
    expect(help.commands!.split(' ')).toEqual(expect.arrayContaining(['get_id', 'get_status', 'describe', 'set', 'subscribe', 'auth', 'ping', 'help', 'exit', 'start', 'stop']));
  });

  it('ignores empty lines and accepts CR LF and NUL terminators', async () => {
    const c = await lab.client();
    const from = c.lines.length;
    c.write('\n   \n\tget_id\r\nping\0');
    expect(await c.replies(2, from)).toEqual(['id name=chiller type=julabo protocol=labwire/1 version=test', 'pong']);
  });

  it('a request pipelined behind a set sees the set applied', async () => {
    const c = await lab.client();
    const from = c.lines.length;
    c.write('set setpoint=11.5\nget_status\n');
    const [ok, status] = await c.replies(2, from, 10_000);
    expect(ok).toBe('ok set setpoint=11.5');
    expect(kv(status!).setpoint).toBe('11.5');
  });

  it('answers pipelined requests in request order, slow ones included', async () => {
    const c = await lab.client();
    const from = c.lines.length;
    const lines: string[] = [];
    const expected: Array<string | RegExp> = [];
    for (let i = 0; i < 30; i++) {
      if (i % 10 === 5) {
        lines.push(`set setpoint=${10 + i / 10}`);
        expected.push(`ok set setpoint=${10 + i / 10}`);
      } else if (i % 2) {
        lines.push('ping');
        expected.push('pong');
      } else {
        lines.push('get_id');
        expected.push(/^id name=chiller/);
      }
    }
    c.write(lines.map((l) => `${l}\n`).join(''));
    const replies = await c.replies(lines.length, from, 15_000);
    replies.forEach((r, i) => expect(r).toMatch(expected[i]!));
  });
});

describe('push lines', () => {
  it('subscribe pushes timestamped updates of changed parameters', async () => {
    const c = await lab.client();
    expect(await c.request('subscribe')).toBe('ok subscribe');
    const from = c.lines.length;
    expect(await c.request('set setpoint=14')).toBe('ok set setpoint=14');
    const update = await c.waitLine((l) => l.startsWith('update ') && l.includes('setpoint=14'), 15_000, from);
    expect(Number(kv(update).t)).toBeGreaterThan(Date.now() - 10_000);
    expect(await c.request('unsubscribe')).toBe('ok unsubscribe');
  });

  it('subscribe log_since=<ms> replays the log lines written after that time, after the reply', async () => {
    const c = await lab.client();
    const from = c.lines.length;
    expect(await c.request('subscribe log_since=0')).toBe('ok subscribe');
    const up = await c.waitLine((l) => l.startsWith('log ') && l.includes('link to device up'), 15_000, from);
    expect(c.lines.indexOf(up)).toBeGreaterThan(c.lines.indexOf('ok subscribe', from));
    const t = Number(kv(up).t);
    expect(t).toBeGreaterThan(0);
    // Once per connection: asking again replays nothing (a client cannot pile up copies).
    const replayed = c.lines.filter((l) => l.startsWith('log ')).length;
    expect(await c.request('subscribe log_since=0')).toBe('ok subscribe');
    expect(await c.request('ping')).toBe('pong');
    expect(c.lines.filter((l) => l.startsWith('log ')).length).toBe(replayed);
    // Nothing newer than the newest line: no replay.
    const c2 = await lab.client();
    const from2 = c2.lines.length;
    expect(await c2.request(`subscribe log_since=${Date.now()}`)).toBe('ok subscribe');
    expect(await c2.request('ping')).toBe('pong');
    expect(c2.lines.slice(from2).filter((l) => l.startsWith('log '))).toEqual([]);
    expect(await c2.request('subscribe log_since=yesterday')).toBe('error subscribe code=WrongType message="log_since must be unix milliseconds, not \\"yesterday\\""');
  });

  it('a poll that read the device before a set finished never brings the old value back', async () => {
    // The slow poll group reads setpoint, then running and the status (about 0.75 s at 250 ms a
    // command); sets landing inside that window used to be followed by the poll's older setpoint.
    const c = await lab.client();
    expect(await c.request('subscribe setpoint')).toBe('ok subscribe');
    const from = c.lines.length;
    const sets: number[] = [];
    const until = Date.now() + 11_000; // spans at least two slow polls (every 5 s)
    for (let i = 0; Date.now() < until; i++) {
      const v = 11 + (i % 3);
      expect(await c.request(`set setpoint=${v}`)).toBe(`ok set setpoint=${v}`);
      sets.push(v);
    }
    await c.request('ping');
    const seen = c.lines.slice(from).filter((l) => l.startsWith('update ')).map((l) => Number(kv(l).setpoint));
    // Every update is the value of a set, in the order of the sets: no stale value in between.
    const collapse = (xs: number[]): number[] => xs.filter((x, i) => x !== xs[i - 1]);
    expect(collapse(seen)).toEqual(collapse(sets).slice(collapse(sets).length - collapse(seen).length));
    expect(collapse(seen).length).toBeGreaterThanOrEqual(collapse(sets).length - 1);
    expect(await c.request('unsubscribe')).toBe('ok unsubscribe');
  }, 20_000);

  it('subscribe to a list sends only those parameters and rejects unknown names', async () => {
    const c = await lab.client();
    expect(await c.request('subscribe nosuch')).toMatch(/^error subscribe code=NoSuchParameter/);
    expect(await c.request('subscribe setpoint')).toBe('ok subscribe');
    const from = c.lines.length;
    await c.request('set setpoint=13');
    const u = await c.waitLine((l) => l.startsWith('update '), 15_000, from);
    expect(Object.keys(kv(u)).sort()).toEqual(['setpoint', 't']);
  });

  it('CCDLab MONITOR: unsolicited id is accepted silently, log lines arrive as "<level> <text>"', async () => {
    const c = await lab.client();
    const from = c.lines.length;
    c.write('id name=monitor\n'); // exactly what CCDLab's MONITOR sends on connect
    expect(await c.request('get_id')).toMatch(/^id name=chiller/);
    expect(c.lines[from]).toMatch(/^id name=chiller/); // nothing answered the id line
    expect(await c.request('start')).toBe('ok start running=1');
    lab.daemon.runner.log('warning', 'test message for the monitor');
    await c.waitLine((l) => l === 'warning test message for the monitor', 15_000, from);
    expect(c.lines.some((l) => l.startsWith('log '))).toBe(false);
    await c.request('stop');
  });

  it('a labwire client that calls itself monitor (with a type) never gets CCDLab log lines', async () => {
    const c = await lab.client();
    const from = c.lines.length;
    c.write('id name=monitor type=client\n');
    expect(await c.request('ping')).toBe('pong');
    lab.daemon.runner.log('error', 'not for labwire clients');
    expect(await c.request('ping')).toBe('pong');
    expect(c.lines.slice(from)).toEqual(['pong', 'pong']);
  });

  it('subscribers get log lines as "log t= level= message="', async () => {
    const c = await lab.client();
    await c.request('subscribe');
    const from = c.lines.length;
    lab.daemon.runner.log('info', 'hello "quoted" world');
    const l = await c.waitLine((x) => x.startsWith('log '), 15_000, from);
    expect(l).toMatch(/^log t=\d+ level=info message="hello \\"quoted\\" world"$/);
  });
});

describe('completion contract', () => {
  it('until every poll group has read once after connecting, state is busy', async () => {
    // A slow unit (1 s per reply) makes the first round of readings take seconds.
    const l = await startJulaboLab({ latencyMs: 1000 });
    try {
      const c = await l.client();
      await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'), 15_000, 20);
      const s = kv(await c.request('get_status'));
      expect(s.state).toBe('busy');
      expect(s.state_text).toBe('reading the device after connecting');
      await eventually(async () => expect(kv(await c.request('get_status')).state).not.toBe('busy'), 20_000, 200);
    } finally {
      await l.close();
    }
  }, 40_000);

  it('a set returns at once; state goes busy → ramping → stabilizing → idle', async () => {
    const l = await startJulaboLab({ initialTemperature: 20, setpoint: 20, timeScale: 300 }, { options: { settleSeconds: 2, tolerance: 0.2 } });
    try {
      const c = await l.client();
      expect(await c.request('subscribe state state_text')).toBe('ok subscribe');
      await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
      expect(await c.request('start')).toBe('ok start running=1');
      await eventually(async () => expect(kv(await c.request('get_status')).state).toBe('idle'), 10_000);
      const from = c.lines.length;
      const t0 = Date.now();
      expect(await c.request('set setpoint=15')).toBe('ok set setpoint=15');
      expect(Date.now() - t0).toBeLessThan(8000); // returns once accepted, long before the bath is there
      await c.waitLine((x) => x.includes('state=stabilizing'), 30_000, from);
      await c.waitLine((x) => x.includes('state=idle'), 30_000, c.lines.findIndex((x, i) => i >= from && x.includes('state=stabilizing')));
      const states = c.lines.slice(from).filter((x) => x.startsWith('update ')).map((x) => kv(x).state).filter(Boolean);
      const order = ['busy', 'ramping', 'stabilizing', 'idle'];
      const firsts = order.map((s) => states.indexOf(s));
      expect(firsts.every((i) => i >= 0)).toBe(true);
      expect([...firsts].sort((a, b) => a - b)).toEqual(firsts);
      expect(Math.abs(l.sim.temperature - 15)).toBeLessThan(0.5);
    } finally {
      await l.close();
    }
  }, 40_000);
});
