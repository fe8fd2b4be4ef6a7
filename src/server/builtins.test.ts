import { describe, expect, it } from 'vitest';
import { BUILTIN_COMMANDS, NOT_FORWARDED, builtinRule, lineKind, listedBuiltins, noticesOf, type BuiltinRule } from './builtins.js';
import { roleAtLeast } from './roles.js';

const rules = (): Array<[string, 'daemon' | 'monitor', BuiltinRule]> =>
  BUILTIN_COMMANDS.flatMap((c) => (['daemon', 'monitor'] as const).flatMap((k) => (c[k] ? [[c.name, k, c[k]] as [string, 'daemon' | 'monitor', BuiltinRule]] : [])));

describe('the built-in command table', () => {
  it('names each command once, and each on at least one server', () => {
    const names = BUILTIN_COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const c of BUILTIN_COMMANDS) expect(c.daemon ?? c.monitor, c.name).toBeDefined();
  });

  it('keeps notices silent: no role, no audit, not listed', () => {
    for (const [name, , r] of rules().filter(([, , r]) => r.effect === 'notice')) {
      expect([r.role, r.audited, r.listed], name).toEqual([null, false, false]);
    }
  });

  it('audits only what can change state: writes of the operator role and up, exit, and lines run for others', () => {
    for (const [name, where, r] of rules().filter(([, , r]) => r.audited)) {
      const changes = r.effect === 'forward' || ((r.effect === 'write' || r.effect === 'admin') && roleAtLeast(r.role, 'operator'));
      expect(changes, `${where} ${name}`).toBe(true);
    }
    // The daemon's writes are all audited; the monitor's log writes and acks have their own records.
    for (const [name, where, r] of rules().filter(([, w, r]) => w === 'daemon' && (r.effect === 'write' || r.effect === 'admin'))) {
      expect(r.audited, `${where} ${name}`).toBe(true);
    }
  });

  it('gives every write at least the operator role and exit the admin role, on both servers', () => {
    for (const [name, where, r] of rules()) {
      if (r.effect === 'write') expect(roleAtLeast(r.role, 'operator'), `${where} ${name}`).toBe(true);
      if (r.effect === 'admin') expect(r.role, `${where} ${name}`).toBe('admin');
    }
    expect(builtinRule('daemon', 'exit')?.role).toBe('admin');
    expect(builtinRule('monitor', 'exit')?.role).toBe('admin');
  });

  it('does not forward what belongs to a connection or gets no reply, and forwards everything else', () => {
    for (const c of BUILTIN_COMMANDS.filter((x) => x.daemon)) {
      const own = c.daemon!.effect === 'connection' || c.daemon!.effect === 'notice' || c.daemon!.effect === 'forward';
      expect(NOT_FORWARDED.has(c.name), c.name).toBe(own);
    }
  });

  it('lists for help, in order, what each server has always answered', () => {
    expect(listedBuiltins('monitor').join(' ')).toBe('get_id get_status send clients connections snapshot message info warning error success debug subscribe unsubscribe auth ping help exit as');
    expect(listedBuiltins('monitor', new Set(['alarms'])).slice(-2)).toEqual(['alarms', 'ack']);
    expect(listedBuiltins('daemon')).toEqual(['get_id', 'get_status', 'describe', 'set', 'subscribe', 'unsubscribe', 'auth', 'ping', 'help', 'exit', 'as', 'programme_load', 'programme_start', 'programme_pause', 'programme_stop', 'programme_status', 'programme_profile']);
  });

  it('has the notices CCDLab peers send: log lines on a daemon port, status lines on both', () => {
    expect([...noticesOf('daemon')].sort()).toEqual(['debug', 'error', 'info', 'message', 'status', 'status_json', 'success', 'warning']);
    expect([...noticesOf('monitor')].sort()).toEqual(['status', 'status_json']);
  });

  it('classifies a device get_… command as a read, and a labwire-only read sent to a CCDLab peer as a write', () => {
    expect(lineKind('get_temperature', 'ccdlab')).toBe('read');
    expect(lineKind('programme_status', 'labwire')).toBe('read');
    expect(lineKind('programme_status', 'ccdlab')).toBe('write');
    expect(lineKind('exit', 'ccdlab')).toBe('admin');
    expect(lineKind('set', 'labwire', { commands: { set: { write: false } } })).toBe('write');
  });
});
