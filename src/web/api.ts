/**
 * The JSON API under `/api/`: devices, lab status, describe, commands, history (JSON and CSV),
 * messages, series and health. Every answer is JSON with a real status code; errors are
 * `{code, message}` (see errors.ts).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Archive, LogEntry, LogLevel, SeriesInfo } from '../archive/types.js';
import { ArchiveQueryError } from '../archive/types.js';
import { ArchiveError } from '../archive/errors.js';
import type { MonitorView } from '../monitor/types.js';
import { actorOf } from './auth.js';
import { sendCommand } from './commands.js';
import { HttpError, badRequest, notFound } from './errors.js';
import type { Hub } from './hub.js';
import type { SecretThrottle } from '../server/index.js';
import { commandBody, csvQuery, errorRef, historyQuery, messagesQuery, nameParams, ref } from './schemas.js';
import { deviceView } from './views.js';

export interface ApiContext {
  monitor: MonitorView;
  hub: Hub;
  startedAt: number;
  /** The wrong-token throttle, whose counters the health report shows. */
  throttle?: SecretThrottle;
}

const LEVELS: LogLevel[] = ['debug', 'info', 'success', 'warning', 'error'];
const DEFAULT_RANGE_MS = 3_600_000;

/** Unix ms from unix ms or ISO 8601 text; undefined when absent. */
export function parseTime(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Math.round(Number(text));
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw badRequest(`${what} must be unix milliseconds or an ISO 8601 time such as 2025-01-31T12:00:00Z`);
  return t;
}

export function timeRange(q: { from?: string; to?: string }, now = Date.now()): { from: number; to: number } {
  const to = parseTime(q.to, 'to') ?? now;
  const from = parseTime(q.from, 'from') ?? to - DEFAULT_RANGE_MS;
  if (from > to) {
    throw badRequest(`from (${new Date(from).toISOString()}) is after to (${new Date(to).toISOString()}): give the earlier time as from`);
  }
  return { from, to };
}

export function requireArchive(monitor: MonitorView): Archive {
  const a = monitor.archive;
  if (!a) throw new HttpError(503, 'NoArchive', 'this monitor runs without an archive: no history is kept');
  return a;
}

async function findSeries(archive: Archive, device: string, name: string): Promise<SeriesInfo> {
  const s = (await archive.listSeries()).find((x) => x.device === device && x.name === name);
  if (!s) throw notFound(`no series ${device}.${name} in the archive; GET /api/series lists them`);
  return s;
}

function archiveFailure(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ArchiveQueryError) return badRequest(err.message);
  // The database is away (the spool keeps the writes): say so, it is not the monitor's fault.
  if (err instanceof ArchiveError && err.code === 'UNAVAILABLE') return new HttpError(503, 'ArchiveDegraded', err.message);
  return new HttpError(500, 'ArchiveError', 'the archive could not answer; see the monitor log');
}

const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef };

export async function apiRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const { monitor } = ctx;

  app.get('/api/devices', {
    schema: { summary: 'Every device: connection state, state, values, units, describe, plots', tags: ['devices'], 'x-responses': { 200: { type: 'array', items: ref('Device') }, ...errors } },
  }, async () => monitor.peers().map((p) => deviceView(monitor, p)));

  app.get<{ Params: { name: string } }>('/api/devices/:name', {
    schema: { summary: 'One device', tags: ['devices'], params: nameParams, 'x-responses': { 200: ref('Device'), ...errors } },
  }, async (req) => {
    const p = monitor.peer(req.params.name);
    if (!p) throw new HttpError(404, 'NoSuchDevice', `no device named "${req.params.name}"`);
    return deviceView(monitor, p);
  });

  app.get<{ Params: { name: string } }>('/api/devices/:name/describe', {
    schema: { summary: "A device's self-description (parameters, units, limits, commands)", tags: ['devices'], params: nameParams, 'x-responses': { 200: { type: 'object' }, ...errors } },
  }, async (req) => {
    const p = monitor.peer(req.params.name);
    if (!p) throw new HttpError(404, 'NoSuchDevice', `no device named "${req.params.name}"`);
    if (!p.describe) {
      throw new HttpError(404, 'NoDescribe', p.connected || p.protocol === 'ccdlab'
        ? `${p.name} does not describe itself (${p.protocol} peer)`
        : `${p.name} has not connected yet, so its description is unknown`);
    }
    return p.describe;
  });

  app.post<{ Params: { name: string }; Body: { line: string } }>('/api/devices/:name/command', {
    config: { role: 'operator' },
    schema: {
      summary: "Send one labwire line to a device; answers the device's reply (an error reply gives 4xx with its code and message)",
      tags: ['devices'],
      params: nameParams,
      body: commandBody,
      'x-responses': { 200: ref('CommandResult'), ...errors, 409: errorRef, 429: errorRef, 502: errorRef, 503: errorRef, 504: errorRef },
    },
  }, async (req) => sendCommand(monitor, { client: req.params.name, line: req.body.line, role: req.auth.role, actor: actorOf(req) }));

  app.get('/api/status', {
    schema: { summary: 'The aggregated lab status', tags: ['devices'], 'x-responses': { 200: ref('LabStatus'), ...errors } },
  }, async () => monitor.status());

  app.get<{ Querystring: { device: string; name: string; from?: string; to?: string; maxPoints: number } }>('/api/history', {
    schema: { summary: 'History of one series; long ranges come back as bins with min/max/mean', tags: ['history'], querystring: historyQuery, 'x-responses': { 200: ref('History'), ...errors, 503: errorRef } },
  }, async (req) => {
    const q = req.query;
    const { from, to } = timeRange(q);
    const archive = requireArchive(monitor);
    try {
      await findSeries(archive, q.device, q.name);
      return await archive.history(q.device, q.name, from, to, q.maxPoints);
    } catch (err) {
      throw archiveFailure(err);
    }
  });

  app.get<{ Querystring: { device: string; name: string; from?: string; to?: string } }>('/api/history.csv', {
    schema: {
      summary: 'Raw samples of one series as CSV (time_iso,t_ms,value), streamed',
      tags: ['history'],
      querystring: csvQuery,
      'x-responses': { 200: { description: 'text/csv', content: 'text/csv' }, ...errors, 503: errorRef },
    },
  }, async (req, reply) => {
    const q = req.query;
    const { from, to } = timeRange(q);
    const archive = requireArchive(monitor);
    try {
      await findSeries(archive, q.device, q.name);
    } catch (err) {
      throw archiveFailure(err);
    }
    const file = `${q.device}.${q.name}`.replace(/[^A-Za-z0-9._-]/g, '_');
    reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${file}.csv"`)
      .header('Cache-Control', 'no-store');
    const log = req.log;
    const source = archive.exportCsv(q.device, q.name, from, to);
    async function* chunks(): AsyncGenerator<string> {
      try {
        yield* source;
      } catch (err) {
        log.error({ err }, 'CSV export failed mid-stream');
        throw err;
      }
    }
    return reply.send(Readable.from(chunks()));
  });

  app.get<{ Querystring: { since?: string; level?: LogLevel; source?: string; limit: number } }>('/api/messages', {
    schema: { summary: 'The message log, oldest first', tags: ['messages'], querystring: messagesQuery, 'x-responses': { 200: { type: 'array', items: ref('LogEntry') }, ...errors } },
  }, async (req) => {
    const q = req.query;
    const since = parseTime(q.since, 'since');
    const min = q.level ? LEVELS.indexOf(q.level) : 0;
    const keep = (m: LogEntry): boolean =>
      (since === undefined || m.t >= since) && LEVELS.indexOf(m.level) >= min && (q.source === undefined || m.source === q.source);
    const recent = monitor.recentMessages().filter(keep);
    let archived: LogEntry[] = [];
    if (monitor.archive) {
      try {
        archived = await monitor.archive.messages({ from: since, minLevel: q.level, source: q.source, limit: q.limit });
      } catch (err) {
        req.log.warn({ err }, 'archive messages query failed; answering from memory');
      }
    }
    // The archive commits in batches: the newest messages may still be only in memory.
    const seen = new Set<string>();
    const all: LogEntry[] = [];
    for (const m of [...archived, ...recent]) {
      const key = `${m.t}\u0000${m.source}\u0000${m.level}\u0000${m.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      all.push(m);
    }
    all.sort((a, b) => a.t - b.t);
    return all.slice(-q.limit);
  });

  app.get('/api/series', {
    schema: { summary: 'Every series in the archive', tags: ['history'], 'x-responses': { 200: { type: 'array', items: ref('Series') }, ...errors, 503: errorRef } },
  }, async () => {
    const archive = requireArchive(monitor);
    try {
      return await archive.listSeries();
    } catch (err) {
      throw archiveFailure(err);
    }
  });

  app.get('/api/health', {
    schema: {
      summary: 'Health of the monitor, its peers, the archive and the live streams',
      tags: ['health'],
      'x-responses': { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok', 'degraded'] } } }, ...errors },
    },
  }, async () => {
    const peers = monitor.peers().map((p) => ({ name: p.name, protocol: p.protocol, connected: p.connected, since: p.since, ...(p.lastError ? { lastError: p.lastError } : {}) }));
    let archive: ReturnType<Archive['stats']> | null = null;
    let archiveError: string | undefined;
    if (monitor.archive) {
      try {
        archive = monitor.archive.stats();
      } catch {
        archiveError = 'the archive did not report its state';
      }
    }
    const degraded = peers.some((p) => !p.connected) || archive?.lastError !== undefined || archive?.state === 'degraded' || archiveError !== undefined;
    return {
      status: degraded ? 'degraded' : 'ok',
      t: Date.now(),
      monitor: { name: monitor.name, readOnly: monitor.readOnly, uptimeMs: Date.now() - ctx.startedAt },
      peers,
      archive: monitor.archive ? { kind: monitor.archive.kind, ...(archive ?? {}), ...(archiveError ? { lastError: archiveError } : {}) } : null,
      streams: { ...ctx.hub.stats(), published: ctx.hub.published },
      ...(ctx.throttle ? { tokens: { ...ctx.throttle.counters, addresses: ctx.throttle.size } } : {}),
    };
  });
}
