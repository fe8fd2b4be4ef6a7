/**
 * The lab config: one YAML file describes the whole lab — simulators to start, daemons, other
 * peers of the monitor (remote labwire daemons, CCDLab daemons), plots, the monitor, the web page
 * and the archive. Validated by one zod schema, which is also exported as JSON Schema for editor
 * completion (`labwire config schema`).
 */
import path from 'node:path';
import { z } from 'zod';
import { parseCondition } from '../client/condition.js';
import type { AlarmConfig } from '../monitor/alarms.js';
import type { AlarmHookConfig } from '../monitor/hooks.js';
import { parseDuration } from '../util/duration.js';
import { loadYamlConfig, parseYamlConfig } from './yaml.js';

const endpoint = z.string().regex(/^(\[[^\]]+\]|[^:\s]*):\d+$/, 'expected host:port, e.g. 127.0.0.1:7001');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, - and _ (it becomes <name>.<param> in the lab status)');
const duration = z.string().refine((s) => {
  try {
    parseDuration(s);
    return true;
  } catch {
    return false;
  }
}, 'expected a duration such as 30d, 12h or 90m');

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

const simulatorSchema = z
  .object({
    name,
    type: z.string().min(1),
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
    /** tcp://host:port, serial:///dev/ttyUSB0?baud=..., auto, or sim:<simulator name>. */
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
    description: z.string().optional(),
    plots: z.array(plotSchema).default([]),
  })
  .strict();

const peerSchema = z
  .object({
    name,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    protocol: z.enum(['labwire', 'ccdlab']).default('labwire'),
    /** The token the monitor sends; `${VAR}` reads it from the environment. */
    token: z.string().optional(),
    description: z.string().optional(),
    enabled: z.boolean().default(true),
    plots: z.array(plotSchema).default([]),
  })
  .strict();

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
  .object({ raw: duration.optional(), minute: duration.optional(), hour: duration.optional(), log: duration.optional() })
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
        archive: z
          .object({
            kind: z.enum(['sqlite']).default('sqlite'),
            path: z.string().optional(),
            retention: retentionSchema.default({}),
          })
          .strict()
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
    lab.daemons.forEach((d, i) => {
      if (d.link.startsWith('sim:') && !sims.has(d.link.slice(4))) {
        ctx.addIssue({ code: 'custom', path: ['daemons', i, 'link'], message: `no simulator named "${d.link.slice(4)}"; simulators: ${[...sims].join(', ') || 'none'}` });
      }
    });
    const clients = [...lab.daemons.map((d) => d.name), ...lab.peers.map((p) => p.name)];
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
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, v: string) => {
    const got = env[v];
    if (got === undefined || got === '') throw new Error(`${what} refers to the environment variable ${v}, which is not set`);
    return got;
  });
}

/** Resolves relative paths of the config against its directory (data folder, token files, archive). */
export function resolvePaths(lab: LabConfig, baseDir: string): LabConfig {
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(baseDir, p));
  const data = abs(lab.data)!;
  return {
    ...lab,
    data,
    daemons: lab.daemons.map((d) => ({ ...d, tokenFile: abs(d.tokenFile), auditFile: abs(d.auditFile) })),
    monitor: {
      ...lab.monitor,
      tokenFile: abs(lab.monitor.tokenFile),
      archive: { ...lab.monitor.archive, path: lab.monitor.archive.path ? abs(lab.monitor.archive.path) : path.join(data, 'archive.sqlite') },
    },
  };
}

export function loadLabConfig(file: string): LabConfig {
  return resolvePaths(loadYamlConfig(file, labConfigSchema), path.dirname(path.resolve(file)));
}

export function parseLabConfig(text: string, file: string, baseDir: string): LabConfig {
  return resolvePaths(parseYamlConfig(text, file, labConfigSchema), baseDir);
}

/** The JSON Schema of the lab config, for editors (`# yaml-language-server: $schema=...`). */
export function labConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(labConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
