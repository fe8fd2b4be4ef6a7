/**
 * The container files, checked as far as this machine allows: no Docker engine runs here, so
 * nothing is built or started in a container. What is checked instead:
 * - the Dockerfile's instructions (a small parser; hadolint is not available): stages, npm ci,
 *   the non-root user, the files it copies exist and are not excluded by .dockerignore, the
 *   native packages it rebuilds are package.json's allowScripts, its command line is the CLI's;
 * - its HEALTHCHECK command, run with this Node against a real labwire web server;
 * - compose.yaml: YAML, every bind-mounted file exists, `docker-compose config` (the Compose
 *   client validates without an engine) when installed;
 * - Mosquitto's config and ACL with a real broker and the passwords docker/make-secrets.sh makes;
 * - prometheus.yml and its rules with promtool.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildProgram } from '../src/cli/program.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { labConfigJsonSchema, loadLabConfig, parseLabConfig } from '../src/config/lab.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually } from '../src/testing/eventually.js';
import { freshDatabase, postgresAvailable } from '../src/archive/test-helpers/postgres.js';
import pg from 'pg';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const deploy = path.join(root, 'deploy');
const has = async (cmd: string, args: string[]): Promise<boolean> => run(cmd, args).then(() => true, () => false);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-docker-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments and parser directives dropped, continuation lines joined. */
function readDockerfile(file: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i]!;
    if (text.trim() === '' || text.trim().startsWith('#')) continue;
    while (text.trimEnd().endsWith('\\') && i + 1 < lines.length) {
      text = `${text.trimEnd().slice(0, -1)} `;
      // Comment lines inside a continued instruction are skipped, as BuildKit does.
      do i++;
      while (i < lines.length && lines[i]!.trim().startsWith('#'));
      text += lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(text);
    if (!m) throw new Error(`${file}:${start + 1}: not an instruction: ${text}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

const dockerfile = readDockerfile(path.join(root, 'Dockerfile'));
const stages = (): Instruction[][] => {
  const all: Instruction[][] = [];
  for (const ins of dockerfile) {
    if (ins.op === 'FROM') all.push([]);
    all[all.length - 1]?.push(ins);
  }
  return all;
};
const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
const execForm = (args: string): string[] => {
  const v: unknown = JSON.parse(args);
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`not an exec form: ${args}`);
  return v as string[];
};

/** The CLI's parse of argv without running the command: unknown flags fail. */
function parseCli(argv: string[]): string[] {
  const cmd = buildProgram().commands.find((c) => c.name() === argv[0]);
  expect(cmd, `labwire has a command "${argv[0]}"`).toBeDefined();
  const parsed = cmd!.parseOptions(argv.slice(1));
  expect(parsed.unknown).toEqual([]);
  return parsed.operands;
}

describe('Dockerfile', () => {
  it('only known instructions; two stages on node:20-bookworm-slim; npm ci in the build stage', () => {
    for (const ins of dockerfile) expect(KNOWN.has(ins.op), `line ${ins.line}: ${ins.op}`).toBe(true);
    const [build, runtime, ...more] = stages();
    expect(more).toEqual([]);
    expect(build![0]!.args).toBe('node:20-bookworm-slim AS build');
    expect(runtime![0]!.args).toBe('node:20-bookworm-slim');
    const buildRuns = build!.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(buildRuns).toMatch(/\bnpm ci\b/);
    expect(buildRuns).toMatch(/\bnpm run build\b/);
    expect(buildRuns).toMatch(/\bnpm prune --omit=dev\b/);
    // The runtime stage compiles nothing: no compiler, no npm install.
    expect(runtime!.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n')).not.toMatch(/npm (ci|install)|apt-get install/);
  });

  it('rebuilds exactly the packages whose install scripts package.json allows (npm ci runs with --ignore-scripts)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> };
    const rebuild = /npm rebuild ([^&\n]+)/.exec(dockerfile.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n'));
    expect(rebuild).not.toBeNull();
    expect(rebuild![1]!.trim().split(/\s+/).sort()).toEqual(Object.keys(pkg.allowScripts).filter((k) => pkg.allowScripts[k]).sort());
    for (const name of Object.keys(pkg.allowScripts)) expect(fs.existsSync(path.join(root, 'node_modules', name, 'package.json')), name).toBe(true);
  });

  it('every file it copies from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const copies = dockerfile.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const words = c.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        expect(fs.existsSync(path.join(root, src)), `COPY ${src} (line ${c.line})`).toBe(true);
        expect(ignored.some((p) => src === p || src.startsWith(`${p}/`)), `${src} is in .dockerignore`).toBe(false);
      }
    }
    // What tsc and the UI bundle need is copied before `npm run build`.
    const sources = copies.flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    for (const need of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', 'bin']) expect(sources, need).toContain(need);
    for (const f of ['node_modules', 'dist', '.git']) expect(ignored, f).toContain(f);
  });

  it('runs as a user of its own, in dialout, with labwire as its entry point and `up` of the mounted lab file', () => {
    const runtime = stages()[1]!;
    const user = runtime.filter((i) => i.op === 'USER');
    expect(user.map((u) => u.args)).toEqual(['labwire']);
    const order = runtime.map((i) => i.op);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('ENTRYPOINT'));
    expect(runtime.find((i) => i.op === 'RUN' && /useradd/.test(i.args))!.args).toMatch(/useradd --system --gid labwire --groups dialout .*labwire$/);
    const workdir = runtime.filter((i) => i.op === 'WORKDIR').map((i) => i.args);
    expect(workdir).toEqual(['/opt/labwire']);
    expect(runtime.find((i) => i.op === 'COPY' && i.args.endsWith(' ./bin'))).toBeDefined();
    expect(execForm(runtime.find((i) => i.op === 'ENTRYPOINT')!.args)).toEqual(['node', '/opt/labwire/bin/labwire.js']);
    const cmd = execForm(runtime.find((i) => i.op === 'CMD')!.args);
    expect(parseCli(cmd)).toEqual(['/etc/labwire/lab.yaml']);
    expect(runtime.find((i) => i.op === 'VOLUME')!.args).toBe('["/var/lib/labwire"]');
  });

  it('exposes the ports the container lab file listens on', () => {
    const lab = parseYaml(fs.readFileSync(path.join(deploy, 'docker/lab.yaml'), 'utf8')) as { data: string; monitor: { listen: string; web: string } };
    const exposed = stages()[1]!.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed.sort()).toEqual([lab.monitor.listen, lab.monitor.web].map((e) => e.split(':').pop()!).sort());
    expect(lab.monitor.web.startsWith('0.0.0.0:')).toBe(true);
    expect(lab.data).toBe('/var/lib/labwire');
  });
});

const healthArgv = (): string[] => {
  const hc = stages()[1]!.find((i) => i.op === 'HEALTHCHECK')!;
  const m = /^(.*?)CMD (\[.*\])$/.exec(hc.args);
  expect(m, hc.args).not.toBeNull();
  expect(m![1]).toMatch(/--interval=\S+ --timeout=\S+ --start-period=\S+ --retries=\d+/);
  return execForm(m![2]!);
};

/** Exit code of the image's HEALTHCHECK command, run with this Node. */
async function health(url: string): Promise<number> {
  const [node, ...args] = healthArgv();
  expect(node).toBe('node');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, LABWIRE_HEALTH_URL: url }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('HEALTHCHECK against a real labwire web server', () => {
  let lab: RunningLab | undefined;
  afterAll(async () => lab?.close());

  it('healthy while the page answers, even with tokens required; unhealthy once it is gone', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'lab-'));
    fs.writeFileSync(path.join(dir, 'tokens'), 'admin health-check-token-0123456789 admin\n');
    const config = parseLabConfig('monitor:\n  listen: 127.0.0.1:0\n  web: 127.0.0.1:0\n  tokenFile: tokens\n  anonymousRole: none\n', path.join(dir, 'lab.yaml'), dir);
    lab = await startLab(config, silentLogger());
    const base = lab.web.url.replace(/\/$/, '');
    // The API itself refuses a stranger: the health check must not depend on a token.
    expect((await fetch(`${base}/api/status`)).status).toBe(401);
    expect(await health(`${base}/api/openapi.json`)).toBe(0);
    expect(await health(`${base}/no/such/page`)).toBe(1);
    await lab.close();
    lab = undefined;
    expect(await health(`${base}/api/openapi.json`)).toBe(1);
  });
});

interface Compose {
  services: Record<string, { image?: string; build?: { context: string; dockerfile: string }; volumes?: string[]; secrets?: string[]; command?: string[]; depends_on?: unknown; init?: boolean }>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}
const compose = parseYaml(fs.readFileSync(path.join(deploy, 'compose.yaml'), 'utf8')) as Compose;

/** Runs docker/make-secrets.sh in a copy of deploy/ and returns that copy. */
async function madeSecrets(): Promise<string> {
  const copy = path.join(tmp, 'deploy');
  if (!fs.existsSync(path.join(copy, 'secrets'))) {
    fs.cpSync(deploy, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}secrets`) });
    await run('sh', [path.join(copy, 'docker/make-secrets.sh')]);
  }
  return copy;
}
const composeCli = await has('docker-compose', ['version']);
const hasPasswd = await has('mosquitto_passwd', ['-h']).then(() => true, () => fs.existsSync('/usr/bin/mosquitto_passwd'));

describe('compose.yaml', () => {
  it('the monitor, PostgreSQL, Mosquitto, Prometheus and Grafana; the monitor built from the Dockerfile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'monitor', 'mosquitto', 'postgres', 'prometheus']);
    const monitor = compose.services.monitor!;
    expect(fs.existsSync(path.join(deploy, monitor.build!.context, monitor.build!.dockerfile))).toBe(true);
    expect(monitor.init).toBe(true);
    const cmd = stages()[1]!.find((i) => i.op === 'CMD')!;
    expect(monitor.command).toEqual(execForm(cmd.args));
    // The lab file is mounted where the command reads it, the data volume where the lab file keeps data.
    expect(monitor.volumes).toContain('./docker/lab.yaml:/etc/labwire/lab.yaml:ro');
    expect(monitor.volumes).toContain('labwire-data:/var/lib/labwire');
  });

  it('every bind-mounted file exists (secrets: made by docker/make-secrets.sh), every named volume is declared', async () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const [src] = v.split(':');
        if (src!.startsWith('./secrets/')) continue;
        if (src!.startsWith('.')) expect(fs.existsSync(path.join(deploy, src!)), `${name}: ${v}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: ${v}`).toContain(src);
      }
      for (const secret of s.secrets ?? []) expect(Object.keys(compose.secrets), `${name}: secret ${secret}`).toContain(secret);
    }
  });

  it.skipIf(!hasPasswd)('docker/make-secrets.sh makes every secret file compose.yaml names, readable inside containers, in a private folder', async () => {
    const copy = await madeSecrets();
    const files = [
      ...Object.values(compose.secrets).map((s) => s.file),
      ...Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]!).filter((v) => v.startsWith('./secrets/'))),
    ];
    for (const f of files) {
      const st = fs.statSync(path.join(copy, f));
      expect(st.size, f).toBeGreaterThan(0);
      expect(st.mode & 0o044, `${f}: other users in the containers must read it`).toBe(0o044);
    }
    expect(fs.statSync(path.join(copy, 'secrets')).mode & 0o077).toBe(0);
    const tokens = fs.readFileSync(path.join(copy, 'secrets/labwire-tokens'), 'utf8').trim().split('\n');
    expect(tokens.map((l) => l.split(' ')[0])).toEqual(['admin', 'operator']);
  });

  it.skipIf(!composeCli)('`docker-compose config` accepts it (the Compose client validates without an engine)', async () => {
    const copy = await madeSecrets().catch(() => deploy);
    const r = await run('docker-compose', ['-f', path.join(copy, 'compose.yaml'), 'config', '--quiet'], { cwd: copy });
    expect(r.stderr.trim()).toBe('');
  });
  if (!composeCli) console.warn('docker-compose is not installed: compose.yaml is checked as YAML only (Debian package docker-compose)');
});

/** A free TCP port on 127.0.0.1, found by binding port 0. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}


/**
 * compose's Mosquitto without Docker: the shipped mosquitto.conf and ACL with this test's port and
 * paths, the password file make-secrets.sh made. `connect` retries while the broker starts.
 */
async function startComposeBroker(copy: string): Promise<{ process: ChildProcess; url: string; connect: (username?: string, password?: string) => Promise<mqtt.MqttClient> }> {
  const dir = fs.mkdtempSync(path.join(tmp, 'mosquitto-'));
  fs.mkdirSync(path.join(dir, 'data'));
  const port = await freePort();
  const conf = fs
    .readFileSync(path.join(deploy, 'mosquitto/mosquitto.conf'), 'utf8')
    .replace(/^listener 1883$/m, `listener ${port} 127.0.0.1`)
    .replace('/mosquitto/config/passwd', path.join(copy, 'secrets/mosquitto-passwd'))
    .replace('/mosquitto/config/acl', path.join(deploy, 'mosquitto/acl'))
    .replace('/mosquitto/data/', `${path.join(dir, 'data')}/`);
  expect(conf).toContain(`listener ${port} 127.0.0.1`);
  // As root, Mosquitto would switch to the user mosquitto, who cannot read this test's files.
  fs.writeFileSync(path.join(dir, 'mosquitto.conf'), `${process.getuid?.() === 0 ? 'user root\n' : ''}${conf}`);
  const child = spawn('/usr/sbin/mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const url = `mqtt://127.0.0.1:${port}`;
  const connect = async (username?: string, password?: string): Promise<mqtt.MqttClient> => {
    let last: unknown;
    for (let i = 0; i < 50; i++) {
      try {
        const c = await mqtt.connectAsync(url, { username, password, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5 });
        clients.push(c);
        return c;
      } catch (err) {
        last = err;
        if (!/ECONNREFUSED/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`broker did not start: ${String(last)}\n${log}`);
  };
  return { process: child, url, connect };
}
const clients: mqtt.MqttClient[] = [];
const brokers: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  for (const b of brokers) b.kill('SIGTERM');
});

const hasMosquitto = fs.existsSync('/usr/sbin/mosquitto') && hasPasswd;
if (!hasMosquitto) console.warn('mosquitto (and mosquitto_passwd) not installed: the broker config test is skipped (Debian package mosquitto)');

describe.skipIf(!hasMosquitto)('Mosquitto config and ACL with a real broker', () => {

  it('the bridge publishes values; other users read them and publish commands in their own name only; strangers are refused', async () => {
    const copy = await madeSecrets();
    const started = await startComposeBroker(copy);
    brokers.push(started.process);
    const { connect } = started;
    const pw = (f: string): string => fs.readFileSync(path.join(copy, 'secrets', f), 'utf8').trim();
    // The lab file's bridge user is the ACL's and make-secrets.sh's.
    const lab = parseYaml(fs.readFileSync(path.join(deploy, 'docker/lab.yaml'), 'utf8')) as { mqtt: { username: string; users: Record<string, string> } };
    expect(lab.mqtt.username).toBe('bridge');
    const bridge = await connect('bridge', pw('mqtt-bridge-password'));
    const operator = await connect('operator', pw('mqtt-operator-password'));
    const viewer = await connect('viewer', pw('mqtt-viewer-password'));
    await expect(connect()).rejects.toThrow(/Not authorized|Bad User Name or Password/i);
    await expect(connect('viewer', 'wrong password')).rejects.toThrow(/Not authorized|Bad User Name or Password/i);

    const got = new Map<string, string[]>();
    for (const [name, c] of [['bridge', bridge], ['operator', operator], ['viewer', viewer]] as const) {
      c.on('message', (topic, payload) => got.set(`${name} ${topic}`, [...(got.get(`${name} ${topic}`) ?? []), payload.toString()]));
      await c.subscribeAsync('labwire/#', { qos: 1 });
    }
    // QoS 1: the broker acknowledges even a publish the ACL drops (MQTT 5 says so in the PUBACK's reason code).
    const quietly = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
    await bridge.publishAsync('labwire/chiller/temperature', '{"value":20.5,"unit":"°C","t":1}', { qos: 1, retain: true });
    await operator.publishAsync('labwire/chiller/setpoint/set/operator', '21', { qos: 1 });
    await operator.publishAsync('labwire/chiller/call/start/operator', '', { qos: 1 });
    await viewer.publishAsync('labwire/chiller/setpoint/set/viewer', '22', { qos: 1 });
    await quietly(operator.publishAsync('labwire/chiller/temperature', 'forged', { qos: 1 }));
    await quietly(operator.publishAsync('labwire/chiller/setpoint/set/bridge', '99', { qos: 1 }));
    await quietly(viewer.publishAsync('labwire/chiller/setpoint/set/operator', '98', { qos: 1 }));
    await bridge.publishAsync('labwire/chiller/setpoint/set/operator/reply', '{"ok":true}', { qos: 1 });
    // A marker last: once everyone has it, every earlier message has been delivered or dropped.
    await bridge.publishAsync('labwire/bridge/availability', 'online', { qos: 1 });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !['bridge', 'operator', 'viewer'].every((n) => got.has(`${n} labwire/bridge/availability`))) await new Promise((r) => setTimeout(r, 50));
    for (const n of ['bridge', 'operator', 'viewer']) {
      expect(got.get(`${n} labwire/chiller/temperature`), n).toEqual(['{"value":20.5,"unit":"°C","t":1}']);
      expect(got.get(`${n} labwire/bridge/availability`), n).toEqual(['online']);
    }
    // Commands reach the bridge in their publisher's own name only; no forged value, no impersonation.
    const commands = [...got.keys()].filter((k) => k.startsWith('bridge ') && /\/(set|call)\//.test(k) && !k.endsWith('/reply')).sort();
    expect(commands).toEqual(['bridge labwire/chiller/call/start/operator', 'bridge labwire/chiller/setpoint/set/operator', 'bridge labwire/chiller/setpoint/set/viewer']);
    expect(got.get('bridge labwire/chiller/setpoint/set/operator')).toEqual(['21']);
    expect(got.get('operator labwire/chiller/setpoint/set/operator/reply')).toEqual(['{"ok":true}']);
    // The viewer may publish in its name, but the lab file maps no role to it: labwire refuses it.
    expect(lab.mqtt.users.viewer).toBeUndefined();
    expect(lab.mqtt.users.operator).toBe('operator');
  }, 60_000);
});

const hasPromtool = await has('promtool', ['--version']);
if (!hasPromtool) console.warn('promtool is not installed: prometheus.yml is not checked (Debian package prometheus)');
describe.skipIf(!hasPromtool)('Prometheus', () => {
  it('promtool check config (and the rule file it names)', async () => {
    const r = await run('promtool', ['check', 'config', path.join(deploy, 'prometheus/prometheus.yml')]);
    expect(r.stdout).toMatch(/SUCCESS: 1 rule files found/);
    expect(r.stdout).toMatch(/is valid prometheus config file syntax/);
  });
  it('compose mounts the rule file where prometheus.yml looks for it', () => {
    const cfg = parseYaml(fs.readFileSync(path.join(deploy, 'prometheus/prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
    for (const f of cfg.rule_files) expect(compose.services.prometheus!.volumes).toContain(`./prometheus/${f}:/etc/prometheus/${f}:ro`);
    const lab = parseYaml(fs.readFileSync(path.join(deploy, 'docker/lab.yaml'), 'utf8')) as { monitor: { web: string } };
    const monitorJob = cfg.scrape_configs.find((j) => j.job_name === 'labwire-monitor')!;
    expect(monitorJob.static_configs[0]!.targets).toEqual([`monitor:${lab.monitor.web.split(':').pop()}`]);
    // The daemon job scrapes the container lab file's daemons' metrics listeners.
    const daemons = (lab as unknown as { daemons: Array<{ metrics?: string }> }).daemons;
    const daemonJob = cfg.scrape_configs.find((j) => j.job_name === 'labwire-daemon')!;
    expect(daemonJob.static_configs[0]!.targets).toEqual(daemons.map((d) => `monitor:${d.metrics!.split(':').pop()}`));
    for (const d of daemons) expect(d.metrics!.startsWith('0.0.0.0:'), 'reachable from the prometheus container').toBe(true);
  });
});

// The container lab file uses the PostgreSQL archive and the MQTT bridge: it loads only where the
// lab file schema has both (on main, once the pg and mqtt branches are in).
const schemaText = JSON.stringify(labConfigJsonSchema());
const schemaHasAll = schemaText.includes('"mqtt"') && schemaText.includes('"postgres"');
if (!schemaHasAll) console.warn('the lab file schema of this checkout has no mqtt section or no postgres archive yet: deploy/docker/lab.yaml is checked as YAML only');

const pgUp = await postgresAvailable();

describe('the container lab file', () => {
  it.skipIf(!schemaHasAll || !hasPasswd)('loads with the real schema (secrets where compose mounts them, here in a temp folder)', async () => {
    const copy = await madeSecrets();
    const text = fs.readFileSync(path.join(deploy, 'docker/lab.yaml'), 'utf8');
    expect(text).toContain('/run/secrets/');
    const file = path.join(copy, 'docker/lab-test.yaml');
    fs.writeFileSync(file, text.replaceAll('/run/secrets/', `${path.join(copy, 'secrets')}/`));
    const lab = loadLabConfig(file);
    expect(lab.data).toBe('/var/lib/labwire');
    expect(lab.daemons.map((d) => d.name)).toEqual(['chiller']);
    // Every secret it names is one compose gives the monitor.
    const mounted = compose.services.monitor!.secrets!;
    for (const m of text.matchAll(/\/run\/secrets\/([\w-]+)/g)) expect(mounted, m[1]).toContain(m[1]);
  });

  it.skipIf(!schemaHasAll || !hasMosquitto || !pgUp)('runs as compose would run it, without Docker: archive in PostgreSQL, MQTT through the shipped broker config, metrics for Prometheus, rows for Grafana', async () => {
    const copy = await madeSecrets();
    const db = await freshDatabase('deploy_compose');
    const started = await startComposeBroker(copy);
    brokers.push(started.process);
    const data = fs.mkdtempSync(path.join(tmp, 'compose-data-'));
    // compose's service names and the container's paths, replaced by this machine's; ports free.
    const text = fs
      .readFileSync(path.join(deploy, 'docker/lab.yaml'), 'utf8')
      .replaceAll('/run/secrets/', `${path.join(copy, 'secrets')}/`)
      .replace('data: /var/lib/labwire', `data: ${data}`)
      .replace('postgres://labwire@postgres:5432/labwire', db.url)
      .replace('mqtt://mosquitto:1883', started.url)
      .replace(/0\.0\.0\.0:\d+|127\.0\.0\.1:7001/g, '127.0.0.1:0');
    const file = path.join(copy, 'docker/lab-run.yaml');
    fs.writeFileSync(file, text);
    const lab = await startLab(loadLabConfig(file), silentLogger());
    const reader = new pg.Client({ connectionString: db.url });
    try {
      expect(lab.archive, lab.archiveError).toBeDefined();
      // Prometheus' two jobs: the monitor's /metrics needs no token (anonymous viewer), nor the daemon's.
      await eventually(async () => {
        const monitor = await fetch(`${lab.web.url}metrics`);
        expect(monitor.status).toBe(200);
        expect(await monitor.text()).toMatch(/^labwire_peer_up\{peer="chiller",protocol="labwire"\} 1$/m);
        expect(await (await fetch(lab.daemons[0]!.metricsUrl!)).text()).toMatch(/^labwire_link_up\{device="chiller"\} 1$/m);
      }, 30_000, 200);
      // Setting values needs a token; reading does not.
      expect((await fetch(`${lab.web.url}api/status`)).status).toBe(200);

      // MQTT: the bridge publishes the chiller's values; the operator's set is applied, the viewer's refused.
      const pw = (f: string): string => fs.readFileSync(path.join(copy, 'secrets', f), 'utf8').trim();
      const operator = await started.connect('operator', pw('mqtt-operator-password'));
      const viewer = await started.connect('viewer', pw('mqtt-viewer-password'));
      const seen = new Map<string, string>();
      for (const c of [operator, viewer]) c.on('message', (topic, payload) => seen.set(topic, payload.toString()));
      await operator.subscribeAsync('labwire/#', { qos: 1 });
      await viewer.subscribeAsync('labwire/#', { qos: 1 });
      await eventually(() => expect(JSON.parse(seen.get('labwire/chiller/temperature') ?? 'null')).toMatchObject({ unit: '°C' }), 30_000, 100);
      await operator.publishAsync('labwire/chiller/setpoint/set/operator', '17.5', { qos: 1 });
      await viewer.publishAsync('labwire/chiller/setpoint/set/viewer', '12', { qos: 1 });
      await eventually(() => {
        expect(JSON.parse(seen.get('labwire/chiller/setpoint/set/operator/reply') ?? 'null')).toMatchObject({ ok: true });
        expect(JSON.parse(seen.get('labwire/chiller/setpoint/set/viewer/reply') ?? 'null')).toMatchObject({ ok: false });
      }, 30_000, 100);

      // Grafana's queries find the device under the monitor's name in the archive.
      await lab.archive!.flush();
      await reader.connect();
      await eventually(async () => {
        const r = await reader.query("SELECT DISTINCT origin || '/' || device AS d FROM series ORDER BY 1");
        expect(r.rows.map((x: { d: string }) => x.d)).toEqual(['compose/chiller']);
        const n = await reader.query("SELECT count(*)::int AS n FROM samples x JOIN series s ON s.id = x.series_id WHERE s.device = 'chiller' AND s.name = 'setpoint' AND x.value = 17.5");
        expect(n.rows[0].n).toBeGreaterThan(0);
      }, 30_000, 200);
    } finally {
      await reader.end().catch(() => undefined);
      await lab.close();
      await db.drop();
    }
  }, 120_000);
});
