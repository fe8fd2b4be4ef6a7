/**
 * A private Mosquitto for tests: its own temp dir with a config (one listener on 127.0.0.1 and a
 * free port, no anonymous clients, a password file made with `mosquitto_passwd -b`, an ACL file),
 * run as a child process. The machine's broker on 1883 is never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface PrivateMosquitto {
  url: string;
  port: number;
  dir: string;
  /** Stops the broker (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
  /** The broker's stderr so far (for failure messages). */
  output(): string;
}

export interface PrivateMosquittoOptions {
  /** user → password */
  users: Record<string, string>;
  /** The ACL file's text (mosquitto.conf(5), acl_file). */
  acl: string;
  /** max_inflight_messages: also the receive maximum MQTT 5 clients are given (default here 1000). */
  maxInflight?: number;
}

/** Whether mosquitto and mosquitto_passwd can run here (tests skip with a message otherwise). */
export function mosquittoAvailable(): boolean {
  const ok = (cmd: string): boolean => {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
    return r.status === 0 && r.stdout.trim() !== '';
  };
  return ok('mosquitto') && ok('mosquitto_passwd');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export async function startPrivateMosquitto(options: PrivateMosquittoOptions): Promise<PrivateMosquitto> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-mosquitto-'));
  const passwd = path.join(dir, 'passwd');
  const acl = path.join(dir, 'acl');
  fs.writeFileSync(passwd, '');
  for (const [user, password] of Object.entries(options.users)) {
    const r = spawnSync('mosquitto_passwd', ['-b', passwd, user, password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mosquitto_passwd -b failed for ${user}: ${r.stderr || r.stdout}`);
  }
  fs.writeFileSync(acl, options.acl);
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      `acl_file ${acl}`,
      // No persistence: a restart loses retained messages, which is what the republish test needs.
      'persistence false',
      // Sent to MQTT 5 clients as their receive maximum: the bridge keeps at most this many
      // publishes unacknowledged (mosquitto's default, 20, would make it wait on every round trip).
      `max_inflight_messages ${options.maxInflight ?? 1000}`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      // As root, mosquitto would switch to the user "mosquitto", who cannot read this temp dir.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let out = '';
  const start = async (): Promise<void> => {
    const c = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
    });
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    // Bounded: 200 tries, a busy machine may take a few seconds to start it.
    for (let i = 0; i < 200; i++) {
      if (await canConnect(port)) return;
      const gone = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 50))]);
      if (gone !== 'wait') throw new Error(`mosquitto exited with ${String(gone)} before listening on ${port}: ${out}`);
    }
    c.kill('SIGKILL');
    throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within 10 s: ${out}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    async destroy() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    output: () => out,
  };
}

/** The ACL of docs/mqtt.md for a prefix: the bridge writes everything, each user commands only as itself. */
export function labwireAcl(prefix: string, bridgeUser: string): string {
  return [
    `user ${bridgeUser}`,
    `topic readwrite ${prefix}/#`,
    'topic readwrite homeassistant/#',
    '',
    `pattern read ${prefix}/#`,
    'pattern read homeassistant/#',
    `pattern write ${prefix}/+/+/set/%u`,
    `pattern write ${prefix}/+/call/+/%u`,
    '',
  ].join('\n');
}
