/**
 * A whole lab on TLS, started as `labwire up` starts it (loadLabConfig + startLab): a simulated
 * Julabo behind a daemon whose port requires TLS with client certificates, a remote TLS peer,
 * the monitor's port on TLS and the page on HTTPS; certificates made by openssl for the test
 * (src/testing/tls.ts) and named by relative paths in lab.yaml. Then the config's own errors:
 * a missing or mismatched file is reported by key and line, all problems at once.
 */
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabwireClient } from '../src/client/client.js';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { loadLabConfig } from '../src/config/lab.js';
import { ConfigError } from '../src/config/yaml.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { eventually } from '../src/testing/eventually.js';
import { recordingLogger, type RecordingLogger } from '../src/testing/log-sink.js';
import { testPki, type TestPki } from '../src/testing/tls.js';

/** A lab folder with the test PKI copied into ./pki, so lab.yaml names its files relatively. */
function labDir(pki: TestPki): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-tls-'));
  fs.mkdirSync(path.join(dir, 'pki'));
  for (const f of fs.readdirSync(pki.dir).filter((n) => /\.(pem|key)$/.test(n))) fs.copyFileSync(path.join(pki.dir, f), path.join(dir, 'pki', f));
  return dir;
}

/** Everything a plain-text client gets from a TLS port before it is closed on. */
function plainText(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(line));
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
    // A server that kept a plain-text client waiting would fail the test, not hang it.
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

/** GET over HTTPS, verifying the server against `ca`. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('a whole lab on TLS', () => {
  let pki: TestPki;
  let dir: string;
  let remote: FakeDaemon;
  let lab: RunningLab;
  let log: RecordingLogger;

  beforeAll(async () => {
    pki = testPki();
    dir = labDir(pki);
    // A daemon on another host, as far as the lab knows: TLS with a certificate of the lab CA.
    remote = new FakeDaemon({ tls: { cert: pki.serverCert, key: pki.serverKey }, values: { pressure: 3.5 } });
    await remote.start();
    fs.writeFileSync(path.join(dir, 'lab.yaml'), `
name: tls lab
data: data
simulators:
  - { name: chiller-sim, type: julabo, timeScale: 10 }
daemons:
  - name: chiller
    type: julabo
    link: sim:chiller-sim
    listen: 127.0.0.1:0
    tls:
      cert: pki/server.pem
      key: pki/server.key
      ca: pki/ca.pem                # client certificates required
peers:
  - name: remote
    host: 127.0.0.1
    port: ${remote.port}
    tls: true                       # monitor.peerTls: the lab CA and the monitor's certificate
  - name: impostor
    host: 127.0.0.1
    port: ${remote.port}
    tls: { ca: pki/other-ca.pem }   # trusts the wrong CA: must not connect
monitor:
  listen: 127.0.0.1:0
  web: 127.0.0.1:0
  tls: { cert: pki/server.pem, key: pki/server.key }
  webTls: { cert: pki/server.pem, key: pki/server.key }
  peerTls: { ca: pki/ca.pem, cert: pki/client.pem, key: pki/client.key }
`);
    log = recordingLogger('info');
    lab = await startLab(loadLabConfig(path.join(dir, 'lab.yaml')), log.logger);
  }, 30_000);

  afterAll(async () => {
    await lab?.close();
    await remote?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the monitor sees the simulated chiller through its TLS daemon, and the remote TLS peer', async () => {
    await eventually(() => {
      const chiller = lab.monitor.peer('chiller')!;
      expect(chiller.connected).toBe(true);
      expect(chiller.values.hw_connected).toBe(true);
      expect(typeof chiller.values.temperature).toBe('number');
      expect(lab.monitor.peer('remote')!.connected).toBe(true);
      expect(lab.monitor.peer('remote')!.values.pressure).toBe(3.5);
    }, 20_000);
    expect(log.text()).toMatch(/daemon \\"chiller\\" \(julabo\) listening on 127\.0\.0\.1:\d+ \(TLS, client certificates required\)/);
  });

  it('a send through the monitor port works over TLS, verified with the lab CA', async () => {
    await eventually(() => expect(lab.monitor.peer('chiller')!.connected).toBe(true), 20_000);
    const c = new LabwireClient({ host: '127.0.0.1', port: lab.monitor.port, tls: { ca: pki.caCert }, reconnect: false });
    try {
      await c.connect();
      expect((await c.request('send chiller set setpoint=15')).line).toBe('ok set setpoint=15');
      expect((await c.request('send chiller get_id')).line).toMatch(/^id name=chiller type=julabo /);
    } finally {
      await c.close();
    }
  });

  it('the page answers over HTTPS, verified with the lab CA', async () => {
    expect(lab.web.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const status = await httpsGet(`${lab.web.url}monitor/status`, pki.caCert);
    expect(status.status).toBe(200);
    expect((JSON.parse(status.body) as { clients: Record<string, unknown> }).clients).toHaveProperty('chiller');
    // Not trusted without the CA.
    await expect(httpsGet(lab.web.url, pki.otherCaCert)).rejects.toThrow(/certificate|verify|issuer/i);
  });

  it('plain text is refused on every TLS port', async () => {
    const daemon = lab.daemons.find((d) => d.name === 'chiller')!.daemon;
    expect(await plainText(daemon.port, 'get_id\n')).not.toMatch(/\bid name=/);
    expect(await plainText(lab.monitor.port, 'get_id\n')).not.toMatch(/\bid name=/);
    expect(await plainText(lab.web.port, 'GET /monitor/status HTTP/1.1\r\nHost: x\r\n\r\n')).not.toMatch(/chiller/);
  });

  it('the daemon refuses a TLS client without a client certificate', async () => {
    const daemon = lab.daemons.find((d) => d.name === 'chiller')!.daemon;
    const got = await new Promise<string>((resolve) => {
      let data = '';
      const socket = tls.connect({ host: '127.0.0.1', port: daemon.port, ca: pki.caCert }, () => socket.write('get_id\n'));
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('error', (err) => (data += `!${err.message}`));
      socket.on('close', () => resolve(data));
      socket.setTimeout(10_000, () => socket.destroy());
    });
    expect(got).not.toMatch(/\bid name=/);
    expect(got).toMatch(/certificate/i);
    // With the client certificate it answers.
    const c = new LabwireClient({ host: '127.0.0.1', port: daemon.port, tls: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey }, reconnect: false });
    try {
      await c.connect();
      expect((await c.request('get_id')).line).toMatch(/^id name=chiller /);
    } finally {
      await c.close();
    }
  });

  it('a peer configured with the wrong CA is not connected, and the log says why', async () => {
    await eventually(() => {
      const impostor = lab.monitor.peer('impostor')!;
      expect(impostor.connected).toBe(false);
      expect(impostor.lastError).toMatch(/certificate|issuer/i);
      const line = log.records.find((r) => r.peer === 'impostor' && r.level >= 50);
      expect(line, log.text()).toBeDefined();
      expect(line!.msg).toMatch(/^peer impostor: the monitor does not trust the TLS certificate of 127\.0\.0\.1:\d+ \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): check this peer's tls\.ca/);
      expect(String(line!.err)).toMatch(/unable to verify the first certificate/);
      // On the page's message log too.
      expect(lab.monitor.recentMessages().some((m) => m.source === 'impostor' && m.level === 'error' && /does not trust the TLS certificate/.test(m.message))).toBe(true);
    }, 20_000);
    expect(lab.monitor.peer('impostor')!.connected).toBe(false);
  });
});

describe('client certificates on the monitor port and the page', () => {
  it('with ca, the monitor port and the page take only clients with a certificate issued by it', async () => {
    const pki = testPki();
    const dir = labDir(pki);
    fs.writeFileSync(path.join(dir, 'lab.yaml'), `
data: data
monitor:
  listen: 127.0.0.1:0
  web: 127.0.0.1:0
  tls: { cert: pki/server.pem, key: pki/server.key, ca: pki/ca.pem }
  webTls: { cert: pki/server.pem, key: pki/server.key, ca: pki/ca.pem }
`);
    const lab = await startLab(loadLabConfig(path.join(dir, 'lab.yaml')), recordingLogger('warn').logger);
    try {
      const withCert = { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey };
      const good = new LabwireClient({ host: '127.0.0.1', port: lab.monitor.port, tls: withCert, reconnect: false });
      await good.connect();
      expect((await good.request('get_id')).line).toMatch(/^id name=monitor type=monitor /);
      await good.close();
      // Without one: refused during or right after the handshake, never answered.
      const bare = new LabwireClient({ host: '127.0.0.1', port: lab.monitor.port, tls: { ca: pki.caCert }, reconnect: false, requestTimeoutMs: 10_000 });
      await expect(bare.connect().then(() => bare.request('get_id'))).rejects.toThrow(/certificate|closed|lost|reset|socket/i);
      await bare.close();

      const page = await new Promise<number>((resolve, reject) => {
        https.get(`${lab.web.url}monitor/status`, withCert, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      expect(page).toBe(200);
      await expect(httpsGet(`${lab.web.url}monitor/status`, pki.caCert)).rejects.toThrow(/certificate|reset|socket hang up|alert/i);
    } finally {
      await lab.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('TLS in the lab file: mistakes are reported by key and line, all at once', () => {
  it('names each unreadable or mismatched file by its key', () => {
    const pki = testPki();
    const dir = labDir(pki);
    try {
      fs.writeFileSync(path.join(dir, 'lab.yaml'), `
simulators:
  - { name: sim, type: julabo }
daemons:
  - name: chiller
    type: julabo
    link: sim:sim
    tls:
      cert: ./x.pem
      key: pki/server.key
peers:
  - name: remote
    host: 127.0.0.1
    port: 7001
    tls: { ca: pki/server.key, cert: pki/client.pem, key: pki/server.key }
monitor:
  webTls: { cert: pki/server.pem, key: pki/client.key }
`);
      let err: unknown;
      try {
        loadLabConfig(path.join(dir, 'lab.yaml'));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toEqual([
        expect.stringMatching(/^9:13: daemons\.chiller\.tls\.cert: cannot read \.\/x\.pem \(.*\/x\.pem\): ENOENT: no such file or directory$/),
        expect.stringMatching(/^15:16: peers\.remote\.tls\.ca: pki\/server\.key \(.*\) holds no PEM certificate/),
        expect.stringMatching(/^15:59: peers\.remote\.tls\.key: pki\/server\.key \(.*\) is not the private key of the certificate pki\/client\.pem$/),
        expect.stringMatching(/^17:40: monitor\.webTls\.key: pki\/client\.key \(.*\) is not the private key of the certificate pki\/server\.pem$/),
      ]);
      expect((err as Error).message).toMatch(/lab\.yaml: 4 problems:/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the schema takes tls for daemons, peers, the monitor port and the page; a daemon requiring client certificates needs the monitor to have one', () => {
    const pki = testPki();
    const dir = labDir(pki);
    try {
      fs.writeFileSync(path.join(dir, 'lab.yaml'), `
simulators:
  - { name: sim, type: julabo }
daemons:
  - name: chiller
    type: julabo
    link: sim:sim
    tls: { cert: pki/server.pem, key: pki/server.key, ca: pki/ca.pem }
peers:
  - { name: remote, host: 127.0.0.1, port: 7001, tls: { cert: pki/client.pem } }
`);
      expect(() => loadLabConfig(path.join(dir, 'lab.yaml'))).toThrow(ConfigError);
      try {
        loadLabConfig(path.join(dir, 'lab.yaml'));
      } catch (e) {
        expect((e as ConfigError).problems).toEqual([
          expect.stringMatching(/^10:55: peers\.0\.tls\.key: cert and key go together/),
          expect.stringMatching(/^8:59: daemons\.0\.tls\.ca: daemon "chiller" requires client certificates, so the monitor needs one: set monitor\.peerTls\.cert and monitor\.peerTls\.key/),
        ]);
      }
      // Fixed: it loads, with every path resolved against the lab file's folder.
      fs.writeFileSync(path.join(dir, 'lab.yaml'), `
simulators:
  - { name: sim, type: julabo }
daemons:
  - name: chiller
    type: julabo
    link: sim:sim
    tls: { cert: pki/server.pem, key: pki/server.key, ca: pki/ca.pem, servername: localhost }
    maxReplySize: 32MiB
peers:
  - { name: remote, host: 127.0.0.1, port: 7001, tls: { ca: pki/ca.pem, servername: localhost }, maxReplySize: 1048576 }
monitor:
  peerTls: { cert: pki/client.pem, key: pki/client.key }
  peerMaxReplySize: 8MiB
`);
      const lab = loadLabConfig(path.join(dir, 'lab.yaml'));
      expect(lab.daemons[0]!.tls).toEqual({ cert: path.join(dir, 'pki/server.pem'), key: path.join(dir, 'pki/server.key'), ca: path.join(dir, 'pki/ca.pem'), servername: 'localhost' });
      expect(lab.peers[0]!.tls).toEqual({ ca: path.join(dir, 'pki/ca.pem'), servername: 'localhost' });
      expect(lab.monitor.peerTls).toEqual({ cert: path.join(dir, 'pki/client.pem'), key: path.join(dir, 'pki/client.key') });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a reply size that is not a size or out of range', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-size-'));
    try {
      fs.writeFileSync(path.join(dir, 'lab.yaml'), 'monitor:\n  peerMaxReplySize: lots\npeers:\n  - { name: a, host: h, port: 1, maxReplySize: 10 }\n');
      expect(() => loadLabConfig(path.join(dir, 'lab.yaml'))).toThrow(/4:48: peers\.0\.maxReplySize: expected a size from 4KiB to 1GiB[\s\S]*2:21: monitor\.peerMaxReplySize: expected a size/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
