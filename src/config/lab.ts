/**
 * The lab config: one YAML file describes the whole lab — simulators to start, daemons, other
 * peers of the monitor (remote labwire daemons, CCDLab daemons), plots, the monitor, the web page
 * and the archive. Validated by one zod schema, which is also exported as JSON Schema for editor
 * completion (`labwire config schema`).
 */
import path from 'node:path';
import { z } from 'zod';
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
  });

export type LabConfig = z.output<typeof labConfigSchema>;
export type DaemonConfig = LabConfig['daemons'][number];
export type PeerConfigEntry = LabConfig['peers'][number];
export type PlotConfigEntry = z.output<typeof plotSchema>;

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
