/**
 * The lab config: one YAML file describes the whole lab — simulators to start, daemons, other
 * peers of the monitor (remote labwire daemons, CCDLab daemons), plots, the monitor, the web page
 * and the archive. Validated by one zod schema, which is also exported as JSON Schema for editor
 * completion (`labwire config schema`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseCondition } from '../client/condition.js';
import type { ArchiveConfig } from '../archive/index.js';
import { unsupportedUrlParameter } from '../archive/pg-url.js';
import type { AlarmConfig } from '../monitor/alarms.js';
import type { AlarmHookConfig } from '../monitor/hooks.js';
import { parseLinkUrl } from '../links/registry.js';
// The link kinds families and kits add (gpib://) are registered when the registry loads: a lab
// file is checked against them whoever loads it.
import '../devices/index.js';
import { parseMetricsAddress } from '../bridges/metrics/address.js';
import { parseDuration } from '../util/duration.js';
import { parseSize } from './size.js';
import { checkLabTlsInput } from './tls.js';
import { mqttConfigSchema } from './mqtt.js';
import { checkLabSecrets, substituteEnvRefs } from './secrets.js';
import { loadYamlConfig, parseYamlConfig, type ConfigChecks } from './yaml.js';

const endpoint = z.string().regex(/^(\[[^\]]+\]|[^:\s]*):\d+$/, 'expected host:port, e.g. 127.0.0.1:7001');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, - and _ (it becomes <name>.<param> in the lab status)');
const duration = z.string().refine((s) => {
  try {
    parseDuration(s);
    return true;
  } catch {
    return false;
  }
}, 'expected a duration such as 90m, 12h, 30d, 2w or 1y');

const MIN_REPLY = 4096;
const MAX_REPLY = 1024 ** 3;
/** A size (`16MiB`, or bytes as a number) within what a peer's reply limit may sensibly be. */
const replySize = z.union([z.string(), z.number()]).refine((v) => {
  const n = parseSize(v);
  return n !== undefined && n >= MIN_REPLY && n <= MAX_REPLY;
}, 'expected a size from 4KiB to 1GiB, e.g. 16MiB, or a number of bytes');

/** A PEM file; relative paths are relative to the lab file. */
const pemFile = z.string().min(1, 'expected the path of a PEM file');

/** A listener's TLS: its certificate and key; with `ca`, clients must present a certificate issued by it. */
const listenerTlsSchema = z
  .object({
    cert: pemFile,
    key: pemFile,
    /** Require client certificates issued by this CA (mutual TLS). */
    ca: pemFile.optional(),
  })
  .strict();

/** How the monitor connects to a TLS peer: whom it trusts, its own client certificate, the name to verify. */
const clientTlsFields = {
  /** CA certificate(s) that issued the peer's certificate; for a self-signed daemon, that certificate. Default: the system's CAs. */
  ca: pemFile.optional(),
  /** The monitor's client certificate, for daemons that require one (with `key`). */
  cert: pemFile.optional(),
  key: pemFile.optional(),
};
const certWithKey = (t: { cert?: string | undefined; key?: string | undefined }): boolean => (t.cert === undefined) === (t.key === undefined);
const certKeyMessage = { message: 'cert and key go together: the client certificate needs its private key', path: ['key'] };
const peerTlsSchema = z
  .object({
    ...clientTlsFields,
    /** The name the peer's certificate must be issued for (default: host). */
    servername: z.string().min(1).optional(),
  })
  .strict()
  .refine(certWithKey, certKeyMessage);
const daemonTlsSchema = z
  .object({
    cert: pemFile,
    key: pemFile,
    ca: pemFile.optional(),
    /** The name the monitor checks the certificate for (default: the listen address). */
    servername: z.string().min(1).optional(),
  })
  .strict();

/** CCDLab's plot definition: the first value is the abscissa, usually `time`. */
export const plotSchema = z
  .object({
    id: name,
    name: z.string().optional(),
    values: z.array(z.string().min(1)).min(2, 'a plot needs the abscissa (usually time) and at least one value'),
    xlabel: z.string().optional(),
    ylabel: z.string().optional(),
    xscale: z.enum(['linear', 'log']).optional(),
    yscale: z.enum(['linear', 'log']).optional(),
    width: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
  })
  .strict()
  // The title defaults to the id, as CCDLab's did.
  .transform((p) => ({ ...p, name: p.name ?? p.id }));

const limitsSchema = z.record(z.string(), z.object({ min: z.number().optional(), max: z.number().optional() }).strict());

/** An instrument behind a bus adapter simulator: its type, or its type with model options. */
const busInstrumentSchema = z.union([
  z.string().min(1),
  z.object({ type: z.string().min(1), options: z.record(z.string(), z.unknown()).default({}) }).strict(),
]);

/** `bus:<bus daemon>/<address>`: an instrument daemon reaching its instrument through a bus daemon of this lab. */
export const BUS_LINK = /^bus:([^/\s]*)\/(.*)$/;

const simulatorSchema = z
  .object({
    name,
    type: z.string().min(1),
    /** Bus adapters (prologix): the simulated instruments behind it, by GPIB address 1–30, e.g. `14: keithley6485`. */
    instruments: z.record(z.string(), busInstrumentSchema).optional(),
    /** Default 127.0.0.1:0 (any free port; daemons refer to it as sim:<name>). */
    listen: endpoint.optional(),
    pty: z.boolean().optional(),
    timeScale: z.number().positive().optional(),
    seed: z.number().int().optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const daemonSchema = z
  .object({
    name,
    type: z.string().min(1),
    /** tcp://host:port, serial:///dev/ttyUSB0?baud=..., gpib://host:port/ADDR, auto, sim:<simulator name>, or bus:<bus daemon>/<GPIB address>. */
    link: z.string().min(1),
    listen: endpoint.default('127.0.0.1:0'),
    options: z.record(z.string(), z.unknown()).default({}),
    limits: limitsSchema.optional(),
    tokenFile: z.string().optional(),
    anonymousRole: z.enum(['none', 'viewer', 'operator', 'admin']).optional(),
    readOnly: z.boolean().default(false),
    auditFile: z.string().optional(),
    /** What a restarted daemon does with a setpoint programme that was running (kept in <data>/programmes). */
    programmeOnRestart: z.enum(['stop', 'resume']).default('stop'),
    /** A device answering nothing for this long on an open link counts as disconnected (e.g. 10s; ms as a number). Default: the device type's. */
    silentLink: z.union([duration, z.number().positive()]).optional(),
    /** Prometheus metrics of this daemon at http://<host:port>/metrics (":9464" binds 127.0.0.1); docs/metrics.md. */
    metrics: z.string().superRefine((v, ctx) => {
      try {
        parseMetricsAddress(v, 'metrics');
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }).optional(),
    /** TLS on the daemon's port; the monitor then connects with TLS too (trusting monitor.peerTls.ca, or this certificate). */
    tls: daemonTlsSchema.optional(),
    /** Longest reply the monitor accepts from this daemon (default monitor.peerMaxReplySize). */
    maxReplySize: replySize.optional(),
    description: z.string().optional(),
    plots: z.array(plotSchema).default([]),
    /** The page's overview shows these parameters of the device (default: those its family marks as key values). */
    overview: z.array(z.string().min(1)).max(8).optional(),
  })
  .strict();

const peerSchema = z
  .object({
    name,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    /** `monitor`: another monitor; its devices are shown as `<name>/<device>` (docs/monitor.md#several-monitors). */
    protocol: z.enum(['labwire', 'ccdlab', 'monitor']).default('labwire'),
    /** The token the monitor sends; `${VAR}` reads it from the environment. */
    token: z.string().optional(),
    /** Connect with TLS: `true` (the system's CAs and monitor.peerTls), or ca/cert/key/servername. */
    tls: z.union([z.literal(true), peerTlsSchema]).optional(),
    /** Longest reply or push line accepted from this peer (default monitor.peerMaxReplySize). */
    maxReplySize: replySize.optional(),
    description: z.string().optional(),
    enabled: z.boolean().default(true),
    plots: z.array(plotSchema).default([]),
    /** The page's overview shows these parameters of the device (default: those its family marks as key values). */
    overview: z.array(z.string().min(1)).max(8).optional(),
    /** `protocol: monitor` only: archive the lower monitor's devices here too (default false: that monitor archives them). */
    archive: z.boolean().optional(),
  })
  .strict()
  .refine((p) => p.archive === undefined || p.protocol === 'monitor', { path: ['archive'], message: 'archive is an option of peers with protocol monitor (whether their devices are archived here too)' });

/** `<client>.<param>`: a value of a configured daemon or peer. */
const paramRef = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected <client>.<param>, e.g. chiller.temperature');
const alarmCommon = {
  id: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected an alarm id of letters, digits, _, - and . (used by `ack <id>`)'),
  description: z.string().optional(),
  severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  /** The fault must last this long before the alarm is raised (duration: 30s, 2m; or ms as a number). */
  delay: z.union([duration, z.number().nonnegative()]).optional(),
  /** The value must stay clear this long before the alarm clears. */
  clearDelay: z.union([duration, z.number().nonnegative()]).optional(),
  hysteresis: z.number().nonnegative().optional(),
  /** Evaluated only while this condition holds, e.g. `chiller.running=1`. */
  activeWhen: z.string().min(1).optional(),
};
const alarmSchema = z.discriminatedUnion(
  'type',
  [
    z
      .object({ ...alarmCommon, type: z.literal('threshold'), param: paramRef, above: z.number().optional(), below: z.number().optional() })
      .strict()
      .refine((a) => a.above !== undefined || a.below !== undefined, { message: 'a threshold alarm needs above, below or both' }),
    z.object({ ...alarmCommon, type: z.literal('deviation'), param: paramRef, reference: paramRef, maxDeviation: z.number().nonnegative() }).strict(),
    z
      .object({ ...alarmCommon, type: z.literal('rate'), param: paramRef, maxRatePerMinute: z.number().nonnegative(), window: z.union([duration, z.number().positive()]).optional() })
      .strict(),
    z.object({ ...alarmCommon, type: z.literal('disconnected'), client: name }).strict(),
    z.object({ ...alarmCommon, type: z.literal('state_error'), client: name }).strict(),
  ],
  { error: 'expected type threshold, deviation, rate, disconnected or state_error' },
);

const alarmHookSchema = z
  .object({
    type: z.enum(['webhook', 'alertmanager']),
    url: z.string().url('expected an http(s) URL'),
    /** Header values may use `${VAR}` to read secrets from the environment. */
    headers: z.record(z.string(), z.string()).optional(),
    minSeverity: z.enum(['info', 'warning', 'critical']).optional(),
    timeout: z.union([duration, z.number().positive()]).optional(),
    retries: z.number().int().min(0).max(100).optional(),
    backoff: z.union([duration, z.number().positive()]).optional(),
    maxBackoff: z.union([duration, z.number().positive()]).optional(),
    queueSize: z.number().int().min(1).max(100_000).optional(),
    /** alertmanager: firing alerts are re-sent this often (default 1m; 0 disables). */
    resend: z.union([duration, z.number().nonnegative()]).optional(),
  })
  .strict();

const retentionSchema = z
  .object({ raw: duration.optional(), minute: duration.optional(), hour: duration.optional(), log: duration.optional(), images: duration.optional() })
  .strict();

export const labConfigSchema = z
  .object({
    /** The lab's name, shown on the page. */
    name: z.string().default('lab'),
    /** Relative paths in this file are relative to it; data files go here by default. */
    data: z.string().default('labwire-data'),
    simulators: z.array(simulatorSchema).default([]),
    daemons: z.array(daemonSchema).default([]),
    peers: z.array(peerSchema).default([]),
    /** Alarms evaluated by the monitor (docs/alarms.md). */
    alarms: z.array(alarmSchema).default([]),
    /** Where alarm transitions are sent: webhooks and Alertmanager (docs/alarms.md). */
    alarmHooks: z.array(alarmHookSchema).default([]),
    /** The MQTT bridge, run in the monitor's process (docs/mqtt.md). */
    mqtt: mqttConfigSchema.optional(),
    /** A SECoP node for every labwire device the monitor watches, named after the lab (docs/facilities.md, decision 0036). */
    secop: z.object({ listen: endpoint.default('127.0.0.1:10767'), trusted: z.boolean().default(false) }).strict().optional(),
    /** The Tango gateway for the lab's daemons, devices labwire/<lab>/<device> (docs/facilities.md). */
    tango: z
      .object({
        port: z.number().int().min(0).max(65535).default(10000),
        nodb: z.boolean().default(true),
        /** Address the Tango port binds; Tango has no authentication here, so loopback unless chosen. */
        listen: z.string().min(1).default('127.0.0.1'),
      })
      .strict()
      .optional(),
    monitor: z
      .object({
        name: z.string().default('monitor'),
        listen: endpoint.default('127.0.0.1:7100'),
        web: endpoint.default('127.0.0.1:8888'),
        tokenFile: z.string().optional(),
        anonymousRole: z.enum(['none', 'viewer', 'operator', 'admin']).optional(),
        readOnly: z.boolean().default(false),
        /** Token the monitor sends to daemons that require one; `${VAR}` reads the environment. */
        peerToken: z.string().optional(),
        /** TLS on the monitor's labwire port. */
        tls: listenerTlsSchema.optional(),
        /** HTTPS for the web page. */
        webTls: listenerTlsSchema.optional(),
        /** Defaults of every TLS connection to a daemon or peer: the CA to trust, the monitor's client certificate. */
        peerTls: z.object(clientTlsFields).strict().refine(certWithKey, certKeyMessage).optional(),
        /** Longest reply or push line accepted from any peer; a longer one drops the connection (default 16MiB). */
        peerMaxReplySize: replySize.optional(),
        /** Largest image file the monitor fetches from a daemon for the web (default 1GiB). */
        imageMaxSize: replySize.optional(),
        /** The archive (docs/archive.md): SQLite (one file, the default) or PostgreSQL (shared by monitors). */
        archive: z
          .object({
            /** sqlite (default) or postgres; `kind` is the older name of the key, still accepted. */
            type: z.enum(['sqlite', 'postgres']).optional(),
            kind: z.enum(['sqlite', 'postgres']).default('sqlite'),
            /** SQLite: the database file (default <data>/archive.sqlite). */
            path: z.string().optional(),
            /** PostgreSQL: postgres://user@host:port/database, without a password. */
            url: z.string().optional(),
            /** PostgreSQL: a file holding the password (relative to the lab file). */
            passwordFile: z.string().optional(),
            /** PostgreSQL: the password, usually `${VAR}` (read from the environment). */
            password: z.string().optional(),
            /** PostgreSQL: TLS to the server; true verifies against the system CAs. */
            tls: z
              .union([
                z.boolean(),
                z.object({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional(), servername: z.string().optional(), rejectUnauthorized: z.boolean().optional() }).strict(),
              ])
              .optional(),
            /** The local spool while a database archive is unavailable (default <data>/archive-spool-<monitor name>). */
            spool: z.string().optional(),
            /** Largest spool file (default 1GiB); beyond it writes fail loudly. */
            spoolMaxSize: z
              .union([z.string(), z.number()])
              .refine((v) => (parseSize(v) ?? 0) >= 1024 ** 2, 'expected a size of at least 1MiB, e.g. 1GiB or 20GiB, or a number of bytes')
              .optional(),
            retention: retentionSchema.default({}),
          })
          .strict()
          .superRefine((a, ctx) => {
            if (a.type !== undefined && a.kind !== 'sqlite' && a.type !== a.kind) {
              ctx.addIssue({ code: 'custom', path: ['type'], message: `type "${a.type}" and kind "${a.kind}" disagree: write only type` });
            }
            const type = a.type ?? a.kind;
            if (type === 'sqlite') {
              for (const k of ['url', 'passwordFile', 'password', 'tls'] as const) {
                if (a[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} is for a PostgreSQL archive: add type: postgres, or remove ${k}` });
              }
              return;
            }
            if (a.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'path is for an SQLite archive; a PostgreSQL archive takes url' });
            if (a.url === undefined) {
              ctx.addIssue({ code: 'custom', path: ['url'], message: 'a PostgreSQL archive needs url: postgres://user@host:5432/database' });
              return;
            }
            let u: URL | undefined;
            try {
              u = new URL(a.url);
            } catch {
              ctx.addIssue({ code: 'custom', path: ['url'], message: `"${a.url}" is not a URL; write postgres://user@host:5432/database` });
              return;
            }
            if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') ctx.addIssue({ code: 'custom', path: ['url'], message: `the archive URL must start with postgres:// (got ${u.protocol}//)` });
            if (u.password !== '') {
              ctx.addIssue({
                code: 'custom',
                path: ['url'],
                message: 'the archive URL holds a password, which would show in logs and status: remove it from the URL and put it in monitor.archive.passwordFile (a file next to lab.yaml) or monitor.archive.password: ${LABWIRE_PG_PASSWORD}',
              });
            }
            const badParameter = unsupportedUrlParameter(u);
            if (badParameter !== undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: badParameter });
            if (a.passwordFile !== undefined && a.password !== undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'give either passwordFile or password, not both' });
          })
          .default({ kind: 'sqlite', retention: {} }),
      })
      .strict()
      .default({
        name: 'monitor',
        listen: '127.0.0.1:7100',
        web: '127.0.0.1:8888',
        readOnly: false,
        archive: { kind: 'sqlite', retention: {} },
      }),
  })
  .strict()
  .superRefine((lab, ctx) => {
    const seen = new Map<string, string>();
    const unique = (n: string, where: (string | number)[]): void => {
      if (seen.has(n)) ctx.addIssue({ code: 'custom', path: where, message: `the name "${n}" is already used by ${seen.get(n)}; names must be unique` });
      else seen.set(n, where.slice(0, 2).join('.'));
    };
    lab.daemons.forEach((d, i) => unique(d.name, ['daemons', i, 'name']));
    lab.peers.forEach((p, i) => unique(p.name, ['peers', i, 'name']));
    const sims = new Set(lab.simulators.map((s) => s.name));
    lab.simulators.forEach((s, i) => {
      for (const key of Object.keys(s.instruments ?? {})) {
        // The YAML key is a number: a numeric path element finds its line.
        const where = ['simulators', i, 'instruments', /^\d+$/.test(key) ? Number(key) : key];
        if (!/^\d{1,2}$/.test(key) || Number(key) < 1 || Number(key) > 30) {
          ctx.addIssue({ code: 'custom', path: where, message: `instrument address "${key}" must be a GPIB primary address from 1 to 30 (0 is the adapter itself)` });
        }
      }
    });
    const daemonLinks = new Map(lab.daemons.map((d) => [d.name, d.link]));
    // Two daemons at one GPIB address would each take the other's replies for errors of its own.
    const onBus = new Map<string, string>();
    lab.daemons.forEach((d, i) => {
      const m = BUS_LINK.exec(d.link);
      if (!m) return;
      const at = `${m[1]}/${Number(m[2])}`;
      const first = onBus.get(at);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['daemons', i, 'link'], message: `daemons "${first}" and "${d.name}" both use GPIB address ${Number(m[2])} on the bus "${m[1]}": give each instrument its own address` });
      else onBus.set(at, d.name);
    });
    lab.daemons.forEach((d, i) => {
      // The gateway (gateways/tango/labwire_wire.py) connects over plain TCP only: refused here
      // rather than a gateway that never reaches the daemon.
      if (lab.tango && d.tls) {
        ctx.addIssue({ code: 'custom', path: ['daemons', i, 'tls'], message: `the Tango gateway cannot reach daemon "${d.name}": it listens with TLS, which the gateway does not speak yet; remove tango: from the lab file, or serve this daemon without tls: on a loopback address (docs/facilities.md, "Tango and TLS")` });
      }
      if (d.tls?.ca !== undefined && lab.monitor.peerTls?.cert === undefined) {
        ctx.addIssue({ code: 'custom', path: ['daemons', i, 'tls', 'ca'], message: `daemon "${d.name}" requires client certificates, so the monitor needs one: set monitor.peerTls.cert and monitor.peerTls.key (issued by this CA)` });
      }
      const bus = BUS_LINK.exec(d.link);
      if (bus) {
        const [, busName, address] = bus as unknown as [string, string, string];
        const buses = lab.daemons.filter((o) => o.name !== d.name && !BUS_LINK.test(o.link)).map((o) => o.name);
        if (!daemonLinks.has(busName) || busName === d.name || BUS_LINK.test(daemonLinks.get(busName)!)) {
          ctx.addIssue({ code: 'custom', path: ['daemons', i, 'link'], message: `"${d.link}" names the bus daemon "${busName}", which is not a daemon of this lab on its own link (the bus daemon, e.g. type prologix); write bus:<bus daemon>/<address>, e.g. bus:gpib/14; daemons: ${buses.join(', ') || 'none'}` });
        }
        if (!/^\d{1,2}$/.test(address) || Number(address) < 1 || Number(address) > 30) {
          ctx.addIssue({ code: 'custom', path: ['daemons', i, 'link'], message: `"${d.link}": GPIB address "${address}" must be from 1 to 30 (0 is the adapter itself)` });
        }
      } else if (d.link.startsWith('sim:') && !sims.has(d.link.slice(4))) {
        ctx.addIssue({ code: 'custom', path: ['daemons', i, 'link'], message: `no simulator named "${d.link.slice(4)}"; simulators: ${[...sims].join(', ') || 'none'}` });
      } else if (!d.link.startsWith('sim:') && d.link !== 'auto') {
        try {
          parseLinkUrl(d.link);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['daemons', i, 'link'], message: (err as Error).message });
        }
      }
    });
    // A lower monitor is no client of its own: its devices are (`room1/chiller`), and alarms do not name them here.
    const clients = [...lab.daemons.map((d) => d.name), ...lab.peers.filter((p) => p.protocol !== 'monitor').map((p) => p.name)];
    // `<prefix>/bridge/availability` is the bridge's own topic (docs/mqtt.md).
    if (lab.mqtt && [...clients, ...lab.peers.map((p) => p.name)].includes('bridge')) ctx.addIssue({ code: 'custom', path: ['mqtt'], message: 'a device named "bridge" would share its topics with the MQTT bridge\'s own (<prefix>/bridge/availability): rename the device' });
    const known = new Set(clients);
    const ids = new Set<string>();
    const checkClient = (ref: string, where: (string | number)[], what: string): void => {
      const client = ref.includes('.') ? ref.slice(0, ref.indexOf('.')) : ref;
      if (!known.has(client)) ctx.addIssue({ code: 'custom', path: where, message: `${what} "${ref}" names the client "${client}", which is not a configured daemon or peer; clients: ${clients.join(', ') || 'none'}` });
    };
    lab.alarms.forEach((a, i) => {
      if (ids.has(a.id)) ctx.addIssue({ code: 'custom', path: ['alarms', i, 'id'], message: `the alarm id "${a.id}" is used twice` });
      ids.add(a.id);
      if ('param' in a) checkClient(a.param, ['alarms', i, 'param'], 'param');
      if ('reference' in a) checkClient(a.reference, ['alarms', i, 'reference'], 'reference');
      if ('client' in a) checkClient(a.client, ['alarms', i, 'client'], 'client');
      if (a.activeWhen !== undefined) {
        try {
          for (const n of parseCondition(a.activeWhen).names) {
            if (!n.includes('.')) ctx.addIssue({ code: 'custom', path: ['alarms', i, 'activeWhen'], message: `activeWhen names "${n}"; write <client>.<param>, e.g. chiller.running=1` });
            else checkClient(n, ['alarms', i, 'activeWhen'], 'activeWhen');
          }
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['alarms', i, 'activeWhen'], message: err instanceof Error ? err.message : String(err) });
        }
      }
    });
  });

export type LabConfig = z.output<typeof labConfigSchema>;
export type DaemonConfig = LabConfig['daemons'][number];
export type PeerConfigEntry = LabConfig['peers'][number];
export type PlotConfigEntry = z.output<typeof plotSchema>;
export type AlarmConfigEntry = LabConfig['alarms'][number];
export type AlarmHookConfigEntry = LabConfig['alarmHooks'][number];

const ms = (v: string | number | undefined): number | undefined => (v === undefined ? undefined : typeof v === 'number' ? v : parseDuration(v));

/** The monitor's alarm definitions (monitor/alarms.ts) from the lab config's `alarms:`. */
export function alarmOptions(lab: LabConfig): AlarmConfig[] {
  return lab.alarms.map((a) => {
    const out: AlarmConfig = { id: a.id, type: a.type, severity: a.severity };
    if (a.description !== undefined) out.description = a.description;
    if (a.hysteresis !== undefined) out.hysteresis = a.hysteresis;
    if (a.activeWhen !== undefined) out.activeWhen = a.activeWhen;
    if (a.delay !== undefined) out.delayMs = ms(a.delay);
    if (a.clearDelay !== undefined) out.clearDelayMs = ms(a.clearDelay);
    switch (a.type) {
      case 'threshold':
        out.param = a.param;
        if (a.above !== undefined) out.above = a.above;
        if (a.below !== undefined) out.below = a.below;
        break;
      case 'deviation':
        out.param = a.param;
        out.reference = a.reference;
        out.maxDeviation = a.maxDeviation;
        break;
      case 'rate':
        out.param = a.param;
        out.maxRatePerMinute = a.maxRatePerMinute;
        if (a.window !== undefined) out.rateWindowMs = ms(a.window);
        break;
      case 'disconnected':
      case 'state_error':
        out.client = a.client;
        break;
    }
    return out;
  });
}

/** The monitor's alarm hooks from the lab config's `alarmHooks:`; `${VAR}` in headers reads the environment. */
export function alarmHookOptions(lab: LabConfig): AlarmHookConfig[] {
  return lab.alarmHooks.map((h, i) => {
    const out: AlarmHookConfig = { type: h.type, url: h.url };
    if (h.headers) out.headers = Object.fromEntries(Object.entries(h.headers).map(([k, v]) => [k, expandEnv(v, `alarmHooks[${i}].headers.${k}`)!]));
    if (h.minSeverity) out.minSeverity = h.minSeverity;
    if (h.timeout !== undefined) out.timeoutMs = ms(h.timeout);
    if (h.retries !== undefined) out.retries = h.retries;
    if (h.backoff !== undefined) out.backoffMs = ms(h.backoff);
    if (h.maxBackoff !== undefined) out.maxBackoffMs = ms(h.maxBackoff);
    if (h.queueSize !== undefined) out.queueSize = h.queueSize;
    if (h.resend !== undefined) out.resendMs = ms(h.resend);
    return out;
  });
}

/** `${VAR}` in secrets reads the environment; a missing variable is an error, not an empty token. */
export function expandEnv(value: string | undefined, what: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (value === undefined) return undefined;
  return substituteEnvRefs(value, (v) => {
    const got = env[v];
    if (got === undefined || got === '') throw new Error(`${what} refers to the environment variable ${v}, which is not set`);
    return got;
  });
}

type ArchiveSection = LabConfig['monitor']['archive'];

/** The archive section with `type` settled into `kind` and its files resolved. */
function resolveArchivePaths(a: ArchiveSection, abs: (p: string | undefined) => string | undefined, data: string): ArchiveSection {
  const kind = a.type ?? a.kind;
  const out: ArchiveSection = { ...a, kind };
  if (kind === 'sqlite') out.path = a.path ? abs(a.path) : path.join(data, 'archive.sqlite');
  if (a.passwordFile !== undefined) out.passwordFile = abs(a.passwordFile);
  if (a.tls !== undefined && a.tls !== true && a.tls !== false) out.tls = absTls(a.tls, abs);
  return out;
}

/**
 * What openArchive() takes, from the lab's (resolved) archive section: the password read from its
 * file or the environment, PEM files read. `origin` is the monitor's name. Throws an Error naming
 * the key when a file or variable is missing.
 */
export function archiveConfigOf(lab: LabConfig, env: NodeJS.ProcessEnv = process.env): ArchiveConfig {
  const a = lab.monitor.archive;
  const kind = a.type ?? a.kind;
  if (kind === 'sqlite') return { kind: 'sqlite', path: a.path ?? path.join(lab.data, 'archive.sqlite') };
  const read = (file: string, what: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`monitor.archive.${what}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  let password: string | undefined;
  if (a.passwordFile !== undefined) password = read(a.passwordFile, 'passwordFile').replace(/\r?\n$/, '');
  else if (a.password !== undefined) password = expandEnv(a.password, 'monitor.archive.password', env);
  const out: ArchiveConfig = { kind: 'postgres', url: a.url!, origin: lab.monitor.name };
  if (password !== undefined) out.password = password;
  if (a.tls === true) out.ssl = true;
  else if (a.tls !== undefined && a.tls !== false) {
    const t = a.tls;
    out.ssl = {
      ...(t.ca === undefined ? {} : { ca: read(t.ca, 'tls.ca') }),
      ...(t.cert === undefined ? {} : { cert: read(t.cert, 'tls.cert') }),
      ...(t.key === undefined ? {} : { key: read(t.key, 'tls.key') }),
      ...(t.servername === undefined ? {} : { servername: t.servername }),
      ...(t.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: t.rejectUnauthorized }),
    };
  }
  return out;
}

/** The same TLS block with its PEM paths resolved. */
function absTls<T extends { cert?: string; key?: string; ca?: string }>(t: T, abs: (p: string | undefined) => string | undefined): T {
  const out = { ...t };
  for (const k of ['cert', 'key', 'ca'] as const) if (out[k] !== undefined) (out as Record<string, unknown>)[k] = abs(out[k]);
  return out;
}

/** Resolves relative paths of the config against its directory (data folder, token and PEM files, archive). */
export function resolvePaths(lab: LabConfig, baseDir: string): LabConfig {
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(baseDir, p));
  const data = abs(lab.data)!;
  return {
    ...lab,
    data,
    daemons: lab.daemons.map((d) => ({ ...d, tokenFile: abs(d.tokenFile), auditFile: abs(d.auditFile), ...(d.tls ? { tls: absTls(d.tls, abs) } : {}) })),
    peers: lab.peers.map((p) => (p.tls && p.tls !== true ? { ...p, tls: absTls(p.tls, abs) } : p)),
    ...(lab.mqtt ? { mqtt: { ...lab.mqtt, passwordFile: abs(lab.mqtt.passwordFile), ca: abs(lab.mqtt.ca) } } : {}),
    monitor: {
      ...lab.monitor,
      tokenFile: abs(lab.monitor.tokenFile),
      ...(lab.monitor.tls ? { tls: absTls(lab.monitor.tls, abs) } : {}),
      ...(lab.monitor.webTls ? { webTls: absTls(lab.monitor.webTls, abs) } : {}),
      ...(lab.monitor.peerTls ? { peerTls: absTls(lab.monitor.peerTls, abs) } : {}),
      archive: {
        ...resolveArchivePaths(lab.monitor.archive, abs, data),
        spool: lab.monitor.archive.spool ? abs(lab.monitor.archive.spool) : path.join(data, `archive-spool-${lab.monitor.name}`),
      },
    },
  };
}

/** How much of a lab file's surroundings the loader checks besides the file itself. */
export interface LabLoadOptions {
  /**
   * Also check every secret it names (token and password files, `${VAR}` references,
   * LABWIRE_TOKEN), reported together with the file's other problems: what `labwire up` and
   * `labwire check` do. Off by default, for tools and tests that only read the lab's shape.
   */
  secrets?: boolean;
  /** The environment `${VAR}` is read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

function labChecks(baseDir: string, options: LabLoadOptions): ConfigChecks<LabConfig> {
  return {
    // On the document as written, so that certificates and secrets are reported with the schema's mistakes.
    checkInput: (input: unknown) => [...checkLabTlsInput(input, baseDir), ...(options.secrets ? checkLabSecrets(input, baseDir, options.env) : [])],
  };
}

/**
 * Reads and validates a lab file. Every certificate and key it names is read and checked too (and,
 * with `secrets`, every token and password), so a missing or mismatched file is reported with the
 * rest, by key and line, before anything starts.
 */
export function loadLabConfig(file: string, options: LabLoadOptions = {}): LabConfig {
  const baseDir = path.dirname(path.resolve(file));
  return resolvePaths(loadYamlConfig(file, labConfigSchema, labChecks(baseDir, options)), baseDir);
}

export function parseLabConfig(text: string, file: string, baseDir: string, options: LabLoadOptions = {}): LabConfig {
  return resolvePaths(parseYamlConfig(text, file, labConfigSchema, labChecks(baseDir, options)), baseDir);
}

/** The JSON Schema of the lab config, for editors (`# yaml-language-server: $schema=...`). */
export function labConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(labConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
