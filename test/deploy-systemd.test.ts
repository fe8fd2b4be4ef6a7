/**
 * The systemd units of deploy/systemd/: systemd's own checker accepts them (`systemd-analyze
 * verify`, and `security` rates their exposure), they carry the hardening docs/deploy.md
 * promises, and what they run is a real `labwire` command line — the flags are the CLI's own,
 * the example config files load with the real lab file schema, and the data directory the lab
 * file names is the one the unit may write.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/program.js';
import { loadLabConfig } from '../src/config/lab.js';
import { getFamily } from '../src/devices/index.js';
import { parseLinkUrl } from '../src/links/registry.js';
import { assigned, expandExecStart, readEnvFile, readUnitFile, values, type UnitFile } from './helpers/unit-file.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'deploy/systemd');
const UNITS = ['labwire-daemon@.service', 'labwire-monitor.service', 'labwire-up.service'] as const;
const NODE = '/usr/bin/node';
const INSTALL = '/opt/labwire';

const analyze = await run('systemd-analyze', ['--version']).then(() => true, () => false);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-units-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const unit = (name: string): UnitFile => readUnitFile(path.join(dir, name));
const service = (u: UnitFile, key: string): string[] => values(u, 'Service', key);

/**
 * The unit files as systemd would load them, in a temp folder: the template as an instance
 * (`verify` checks an instance, a bare template is only parsed). verify insists that the
 * ExecStart binary exists; the units run /usr/bin/node, which is there on Debian's and
 * NodeSource's Node — where it is not, the copy points at this test's own Node binary instead
 * (a real executable, no stub).
 */
function unitCopies(): string[] {
  const node = fs.existsSync(NODE) ? NODE : process.execPath;
  return UNITS.map((name) => {
    const text = fs.readFileSync(path.join(dir, name), 'utf8').replaceAll(`ExecStart=${NODE} `, `ExecStart=${node} `);
    const file = path.join(tmp, name.replace('@.service', '@chiller.service'));
    fs.writeFileSync(file, text);
    return file;
  });
}

describe.skipIf(!analyze)('systemd-analyze', () => {
  const files = unitCopies();
  for (const file of files) {
    it(`verify ${path.basename(file)}: no error, no warning`, async () => {
      // Unknown keys and bad values are warnings with exit code 0: any output counts as a failure.
      const r = await run('systemd-analyze', ['verify', '--man=no', file]).then(
        (ok) => ({ code: 0, out: ok.stdout + ok.stderr }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
      );
      expect(r.out.trim()).toBe('');
      expect(r.code).toBe(0);
    });
    it(`security ${path.basename(file)}: exposure at most 2.0`, async () => {
      const r = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', file]);
      const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(2.0);
    });
  }
});
if (!analyze) console.warn('systemd-analyze is not installed: the verify/security checks of deploy/systemd are skipped (Debian package systemd)');

describe('hardening of every unit', () => {
  for (const name of UNITS) {
    it(name, () => {
      const u = unit(name);
      // A dedicated user, not DynamicUser= (docs/decisions/0026): stable owner of /etc/labwire secrets and of the data.
      expect(assigned(u, 'Service', 'User')).toBe('labwire');
      expect(assigned(u, 'Service', 'Group')).toBe('labwire');
      expect(assigned(u, 'Service', 'DynamicUser')).toBeUndefined();
      for (const [key, want] of Object.entries({
        NoNewPrivileges: 'yes',
        ProtectSystem: 'strict',
        ProtectHome: 'yes',
        PrivateTmp: 'yes',
        ProtectKernelTunables: 'yes',
        ProtectKernelModules: 'yes',
        ProtectControlGroups: 'yes',
        RestrictNamespaces: 'yes',
        RestrictSUIDSGID: 'yes',
        LockPersonality: 'yes',
        DevicePolicy: 'closed',
        SystemCallArchitectures: 'native',
      })) {
        expect(assigned(u, 'Service', key), `${name}: ${key}`).toBe(want);
      }
      // Assigned and empty: no capability at all.
      expect(assigned(u, 'Service', 'CapabilityBoundingSet')).toBe('');
      expect(service(u, 'CapabilityBoundingSet')).toEqual([]);
      expect(assigned(u, 'Service', 'AmbientCapabilities')).toBe('');
      // IP and local sockets only: no raw packets, no netlink.
      expect(service(u, 'RestrictAddressFamilies').join(' ').split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
      expect(service(u, 'SystemCallFilter')[0]).toBe('@system-service');
      // V8 compiles code at run time: MemoryDenyWriteExecute=yes would kill Node at its first JIT page.
      expect(assigned(u, 'Service', 'MemoryDenyWriteExecute')).toBeUndefined();
      expect(service(u, 'StateDirectory')).toHaveLength(1);
      expect(service(u, 'StateDirectory')[0]).toMatch(/^labwire\//);
      expect(assigned(u, 'Service', 'Restart')).toBe('on-failure');
      expect(values(u, 'Install', 'WantedBy')).toEqual(['multi-user.target']);
    });
  }

  it('hardware: daemons and the whole lab reach serial ports through the group dialout, the monitor no device at all', () => {
    for (const name of ['labwire-daemon@.service', 'labwire-up.service']) {
      const u = unit(name);
      expect(service(u, 'SupplementaryGroups'), name).toEqual(['dialout']);
      expect(service(u, 'DeviceAllow'), name).toEqual(expect.arrayContaining(['char-ttyS rw', 'char-ttyUSB rw', 'char-ttyACM rw']));
      // PrivateDevices=yes would hide /dev/ttyUSB0 whatever DeviceAllow says.
      expect(assigned(u, 'Service', 'PrivateDevices'), name).toBeUndefined();
    }
    const monitor = unit('labwire-monitor.service');
    expect(assigned(monitor, 'Service', 'PrivateDevices')).toBe('yes');
    expect(service(monitor, 'DeviceAllow')).toEqual([]);
    expect(service(monitor, 'SupplementaryGroups')).toEqual([]);
  });

  it('the sysusers file creates the user the units run as', () => {
    const lines = fs.readFileSync(path.join(dir, 'labwire.sysusers.conf'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(lines.map((l) => l.split(/\s+/).slice(0, 2))).toEqual([['u', 'labwire']]);
  });
});

/** The argv a unit runs, after `node /opt/labwire/bin/labwire.js`, with the CLI's parse of it. */
function labwireArgv(name: string, env: Record<string, string>, instance = 'chiller'): { argv: string[]; u: UnitFile } {
  const u = unit(name);
  const exec = service(u, 'ExecStart');
  expect(exec).toHaveLength(1);
  const argv = expandExecStart(exec[0]!, env, { i: instance, S: '/var/lib', L: '/var/log' });
  expect(argv.slice(0, 2)).toEqual([NODE, `${INSTALL}/bin/labwire.js`]);
  // What /opt/labwire is: a checkout of this repository, built.
  expect(fs.existsSync(path.join(root, 'bin/labwire.js'))).toBe(true);
  return { argv: argv.slice(2), u };
}

/** Parses argv with the real `labwire` program without running the command: unknown flags fail. */
function parseCli(argv: string[]): { operands: string[]; opts: Record<string, unknown> } {
  const cmd = buildProgram().commands.find((c) => c.name() === argv[0]);
  expect(cmd, `labwire has a command "${argv[0]}"`).toBeDefined();
  const parsed = cmd!.parseOptions(argv.slice(1));
  expect(parsed.unknown, `flags labwire ${argv[0]} does not know`).toEqual([]);
  return { operands: parsed.operands, opts: cmd!.opts() };
}

describe('what the units run', () => {
  it('labwire-daemon@: `labwire daemon` with the instance as its name, state and audit log where the unit may write', () => {
    const env = readEnvFile(path.join(dir, 'daemon.env.example'));
    expect(service(unit('labwire-daemon@.service'), 'EnvironmentFile')).toEqual(['/etc/labwire/daemon/%i.env']);
    const { argv, u } = labwireArgv('labwire-daemon@.service', env);
    expect(argv[0]).toBe('daemon');
    const { operands, opts } = parseCli(argv);
    expect(operands).toEqual([env.TYPE]);
    expect(() => getFamily(env.TYPE!)).not.toThrow();
    expect(opts.name).toBe('chiller');
    expect(() => parseLinkUrl(String(opts.link), getFamily(env.TYPE!).definition.serialDefaults)).not.toThrow();
    expect(opts.listen).toBe(env.LISTEN);
    expect(opts.limit).toEqual(['setpoint=5:30']);
    // Prometheus scrapes it (deploy/prometheus/prometheus.yml's labwire-daemon job).
    expect(opts.metrics).toBe('0.0.0.0:9101');
    // --state-dir inside StateDirectory=, --audit-log inside LogsDirectory=: ProtectSystem=strict leaves nothing else writable.
    expect(service(u, 'StateDirectory')).toEqual(['labwire/%i']);
    expect(opts.stateDir).toBe('/var/lib/labwire/chiller');
    expect(service(u, 'LogsDirectory')).toEqual(['labwire']);
    expect(path.dirname(String(opts.auditLog))).toBe('/var/log/labwire');
  });

  it('an env file without ARGS still gives a complete command line', () => {
    const { argv } = labwireArgv('labwire-daemon@.service', { TYPE: 'cryocon', LINK: 'tcp://10.0.0.5:5000', LISTEN: '0.0.0.0:7001' }, 'cryo');
    const { operands, opts } = parseCli(argv);
    expect(operands).toEqual(['cryocon']);
    expect(opts.name).toBe('cryo');
  });

  for (const [name, example] of [
    ['labwire-up.service', 'lab.yaml.example'],
    ['labwire-monitor.service', 'monitor.yaml.example'],
  ] as const) {
    it(`${name}: \`labwire up\` of a lab file whose data folder is the unit's StateDirectory`, () => {
      const { argv, u } = labwireArgv(name, {});
      expect(argv[0]).toBe('up');
      const { operands } = parseCli(argv);
      expect(operands).toHaveLength(1);
      expect(path.basename(operands[0]!)).toBe(example.replace('.example', ''));
      expect(path.dirname(operands[0]!)).toBe('/etc/labwire');
      // The example loads with the real schema (tokens it reads from ${VAR} are expanded only at start).
      const lab = loadLabConfig(path.join(dir, example));
      expect(lab.data).toBe(path.join('/var/lib', service(u, 'StateDirectory')[0]!));
      const archive = lab.monitor.archive as { kind: string; path?: string; url?: string; passwordFile?: string };
      if (archive.kind === 'sqlite') expect(archive.path?.startsWith(`${lab.data}/`)).toBe(true);
      else {
        // PostgreSQL: the password in a file of /etc/labwire (the unit reads it as group labwire), never in the URL.
        expect(new URL(archive.url!).password).toBe('');
        expect(path.dirname(archive.passwordFile!)).toBe('/etc/labwire');
      }
    });
  }

  it('the monitor example has no hardware of its own (its unit has no device access)', () => {
    const lab = loadLabConfig(path.join(dir, 'monitor.yaml.example'));
    expect(lab.daemons).toEqual([]);
    expect(lab.simulators).toEqual([]);
    expect(lab.peers.length).toBeGreaterThan(0);
  });
});
