/**
 * The TLS material a lab file names: every certificate, key and CA file read and checked once
 * (readable, PEM, the key belongs to its certificate, the certificate is in its validity period),
 * with every problem reported by key (`daemons.chiller.tls.cert: cannot read ./x.pem: ENOENT ...`)
 * instead of the first one failing a listener at start. Keys are read from files only, never from
 * the command line or the environment.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ListenerTlsConfig, PeerTlsConfig } from '../monitor/options.js';
import type { LabConfig } from './lab.js';
import { ConfigError, type ConfigProblem } from './yaml.js';
import { rawList, rawRecord, rawText } from './raw.js';

/** A daemon's listener as startDaemon takes it: file paths, read by the daemon. */
export interface DaemonListenerTls {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

export interface LabTls {
  /** Per TLS daemon: how it listens, and how the monitor connects to it. */
  daemons: Map<string, { listen: DaemonListenerTls; client: PeerTlsConfig }>;
  /** Per TLS peer: how the monitor connects to it. */
  peers: Map<string, PeerTlsConfig>;
  /** The monitor's labwire port. */
  monitor?: ListenerTlsConfig;
  /** HTTPS for the page. */
  web?: ListenerTlsConfig;
}

type Where = { path: (string | number)[]; label: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads each file once, however many keys name it, and collects what is wrong with it. */
class PemReader {
  readonly problems: ConfigProblem[] = [];
  private readonly cache = new Map<string, Buffer | Error>();

  constructor(private readonly baseDir: string) {}

  private problem(where: Where, message: string): void {
    this.problems.push({ path: where.path, label: where.label, message });
  }

  /** As written in the file, with the resolved path when they differ. */
  private shown(file: string): string {
    const abs = path.resolve(this.baseDir, file);
    return abs === file ? file : `${file} (${abs})`;
  }

  read(file: string, where: Where): Buffer | undefined {
    const abs = path.resolve(this.baseDir, file);
    let got = this.cache.get(abs);
    if (got === undefined) {
      try {
        got = fs.readFileSync(abs);
      } catch (err) {
        got = err instanceof Error ? err : new Error(String(err));
      }
      this.cache.set(abs, got);
    }
    if (got instanceof Error) {
      // Node's "ENOENT: no such file or directory, open '/x'" without the path said already.
      this.problem(where, `cannot read ${this.shown(file)}: ${got.message.replace(/, \w+ '.*'$/, '')}`);
      return undefined;
    }
    return got;
  }

  /** The certificates of a PEM file, leaf first. */
  private certificates(file: string, buf: Buffer, where: Where): crypto.X509Certificate[] | undefined {
    const blocks = buf.toString('utf8').match(PEM_CERT) ?? [];
    if (blocks.length === 0) {
      this.problem(where, `${this.shown(file)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
      return undefined;
    }
    try {
      return blocks.map((b) => new crypto.X509Certificate(b));
    } catch (err) {
      this.problem(where, `${this.shown(file)} holds a certificate that cannot be read: ${(err as Error).message}`);
      return undefined;
    }
  }

  cert(file: string, where: Where, now = Date.now()): { pem: Buffer; x509: crypto.X509Certificate } | undefined {
    const pem = this.read(file, where);
    if (!pem) return undefined;
    const leaf = this.certificates(file, pem, where)?.[0];
    if (!leaf) return undefined;
    if (Date.parse(leaf.validTo) < now) this.problem(where, `the certificate in ${this.shown(file)} expired on ${new Date(leaf.validTo).toISOString()}`);
    else if (Date.parse(leaf.validFrom) > now) this.problem(where, `the certificate in ${this.shown(file)} is not valid before ${new Date(leaf.validFrom).toISOString()}`);
    return { pem, x509: leaf };
  }

  ca(file: string, where: Where): Buffer | undefined {
    const pem = this.read(file, where);
    if (!pem) return undefined;
    return this.certificates(file, pem, where) ? pem : undefined;
  }

  /** A private key; with `cert`, it must be that certificate's key. */
  key(file: string, where: Where, cert?: { file: string; x509: crypto.X509Certificate }): Buffer | undefined {
    const pem = this.read(file, where);
    if (!pem) return undefined;
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(pem);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.problem(where, code === 'ERR_MISSING_PASSPHRASE'
        ? `${this.shown(file)} is an encrypted key; labwire needs it unencrypted (openssl pkey -in it -out new.key), readable by the lab's user only`
        : `${this.shown(file)} is not a PEM private key: ${(err as Error).message}`);
      return undefined;
    }
    if (cert && !cert.x509.checkPrivateKey(key)) {
      this.problem(where, `${this.shown(file)} is not the private key of the certificate ${cert.file}`);
      return undefined;
    }
    return pem;
  }

  /** A certificate and its key, checked as a pair. */
  pair(t: { cert: string; key: string }, base: Where): { cert: Buffer; key: Buffer } | undefined {
    const at = (k: string): Where => ({ path: [...base.path, k], label: `${base.label}.${k}` });
    const cert = this.cert(t.cert, at('cert'));
    const key = this.key(t.key, at('key'), cert ? { file: t.cert, x509: cert.x509 } : undefined);
    return cert && key ? { cert: cert.pem, key } : undefined;
  }

  listener(t: { cert: string; key: string; ca?: string | undefined }, base: Where): ListenerTlsConfig | undefined {
    const pair = this.pair(t, base);
    const ca = t.ca === undefined ? undefined : this.ca(t.ca, { path: [...base.path, 'ca'], label: `${base.label}.ca` });
    if (!pair || (t.ca !== undefined && !ca)) return undefined;
    return { ...pair, ...(ca ? { ca } : {}) };
  }
}

type TlsFiles = { cert?: string | undefined; key?: string | undefined; ca?: string | undefined; servername?: string | undefined };
type ListenerFiles = { cert: string; key: string; ca?: string | undefined; servername?: string | undefined };

/** The parts of a lab that name TLS files: a LabConfig, or what can be read of a document the schema refused. */
export interface LabTlsSources {
  daemons: { name: string; tls?: ListenerFiles | undefined }[];
  peers: { name: string; enabled: boolean; tls?: true | TlsFiles | undefined }[];
  monitor: { tls?: ListenerFiles | undefined; webTls?: ListenerFiles | undefined; peerTls?: TlsFiles | undefined };
}

/** Reads and checks every TLS file of a lab; relative paths are taken from baseDir. */
export function collectLabTls(lab: LabTlsSources, baseDir: string): { tls: LabTls; problems: ConfigProblem[] } {
  const r = new PemReader(baseDir);
  const tls: LabTls = { daemons: new Map(), peers: new Map() };

  // The monitor's client side: what every TLS connection to a daemon or peer starts from.
  const defaults: PeerTlsConfig = {};
  const pt = lab.monitor.peerTls;
  if (pt) {
    const base: Where = { path: ['monitor', 'peerTls'], label: 'monitor.peerTls' };
    if (pt.ca !== undefined) {
      const ca = r.ca(pt.ca, { path: [...base.path, 'ca'], label: `${base.label}.ca` });
      if (ca) defaults.ca = ca;
    }
    if (pt.cert !== undefined && pt.key !== undefined) Object.assign(defaults, r.pair({ cert: pt.cert, key: pt.key }, base));
  }

  lab.daemons.forEach((d, i) => {
    if (!d.tls) return;
    const base: Where = { path: ['daemons', i, 'tls'], label: `daemons.${d.name}.tls` };
    const listener = r.listener(d.tls, base);
    if (!listener) return;
    tls.daemons.set(d.name, {
      listen: { certFile: path.resolve(baseDir, d.tls.cert), keyFile: path.resolve(baseDir, d.tls.key), ...(d.tls.ca !== undefined ? { caFile: path.resolve(baseDir, d.tls.ca) } : {}) },
      // Without a CA of its own the monitor trusts this very certificate: a self-signed one is pinned.
      client: { ...defaults, ca: defaults.ca ?? listener.cert, ...(d.tls.servername !== undefined ? { servername: d.tls.servername } : {}) },
    });
  });

  lab.peers.forEach((p, i) => {
    if (!p.tls || !p.enabled) return;
    const client: PeerTlsConfig = { ...defaults };
    if (p.tls !== true) {
      const base: Where = { path: ['peers', i, 'tls'], label: `peers.${p.name}.tls` };
      if (p.tls.ca !== undefined) {
        const ca = r.ca(p.tls.ca, { path: [...base.path, 'ca'], label: `${base.label}.ca` });
        if (ca) client.ca = ca;
      }
      if (p.tls.cert !== undefined && p.tls.key !== undefined) Object.assign(client, r.pair({ cert: p.tls.cert, key: p.tls.key }, base));
      if (p.tls.servername !== undefined) client.servername = p.tls.servername;
    }
    tls.peers.set(p.name, client);
  });

  if (lab.monitor.tls) {
    const t = r.listener(lab.monitor.tls, { path: ['monitor', 'tls'], label: 'monitor.tls' });
    if (t) tls.monitor = t;
  }
  if (lab.monitor.webTls) {
    const t = r.listener(lab.monitor.webTls, { path: ['monitor', 'webTls'], label: 'monitor.webTls' });
    if (t) tls.web = t;
  }
  return { tls, problems: r.problems };
}

const record = rawRecord;
const text = rawText;

/** The file names of a TLS section as written; what is not a string is left to the schema. */
function filesOf(v: unknown): TlsFiles | undefined {
  const t = record(v);
  if (!t) return undefined;
  return { cert: text(t.cert), key: text(t.key), ca: text(t.ca), servername: text(t.servername) };
}

/** A listener needs both files; without one the schema says so, and there is no pair to check. */
function listenerOf(v: unknown): ListenerFiles | undefined {
  const t = filesOf(v);
  return t?.cert !== undefined && t.key !== undefined ? { ...t, cert: t.cert, key: t.key } : undefined;
}

/**
 * What is wrong with the TLS files of a lab document as written (before the schema), so that a
 * missing certificate is reported in the same run as the schema's mistakes and the secrets.
 * A valid lab gives the same problems as collectLabTls.
 */
export function checkLabTlsInput(input: unknown, baseDir: string): ConfigProblem[] {
  const lab = record(input) ?? {};
  const list = rawList;
  const monitor = record(lab.monitor) ?? {};
  const sources: LabTlsSources = {
    daemons: list(lab.daemons).map((raw, i) => {
      const d = record(raw) ?? {};
      return { name: text(d.name) ?? String(i), tls: listenerOf(d.tls) };
    }),
    peers: list(lab.peers).map((raw, i) => {
      const p = record(raw) ?? {};
      return { name: text(p.name) ?? String(i), enabled: p.enabled !== false, tls: p.tls === true ? true : filesOf(p.tls) };
    }),
    monitor: { tls: listenerOf(monitor.tls), webTls: listenerOf(monitor.webTls), peerTls: filesOf(monitor.peerTls) },
  };
  return collectLabTls(sources, baseDir).problems;
}

/** For starting a lab (paths already resolved): the material, or a ConfigError listing every problem. */
export function readLabTls(lab: LabConfig, what = 'lab config'): LabTls {
  const { tls, problems } = collectLabTls(lab, process.cwd());
  if (problems.length > 0) throw new ConfigError(what, problems.map((p) => `${p.label ?? p.path.join('.')}: ${p.message}`));
  return tls;
}
