/**
 * CCDLab's HTTP endpoints, kept for its users and scripts, without its bugs: `/monitor/status`
 * (JSON), `/monitor/plot/<client>/<plot>` (an SVG image drawn from the archive; an unknown plot is
 * 404, not 500) and `/monitor/command?string=<line>` (real status codes and results, not always
 * `{}`; `exit` is refused over HTTP; GET only reads, state changes need POST or a Bearer token).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HistoryResult, LogLevel } from '../archive/types.js';
import { ArchiveQueryError } from '../archive/types.js';
import type { MonitorView, ResolvedPlot, SeriesRef } from '../monitor/types.js';
import { lineBody, parseLine } from '../wire/tokenize.js';
import type { Command } from '../wire/types.js';
import { actorOf } from './auth.js';
import { sendCommand } from './commands.js';
import { HttpError, badRequest } from './errors.js';
import { classifyLine } from './replies.js';
import { errorRef } from './schemas.js';
import { renderSvgPlot, type SvgPlotSpec, type SvgSeries } from './svg-plot.js';

const MESSAGE_LEVELS: Record<string, LogLevel> = { message: 'info', info: 'info', warning: 'warning', error: 'error', success: 'success', debug: 'debug' };

type XY = Array<[number, number | null]>;

/** Time/value pairs of a history, with a break where bins are missing (a gap stays a gap). */
function timeSeries(h: HistoryResult): XY {
  const out: XY = [];
  let prev: number | undefined;
  for (const p of h.points) {
    if (h.binMs > 0 && prev !== undefined && p.t - prev > 2.5 * h.binMs) out.push([prev + h.binMs, null]);
    const v = p.v !== undefined ? p.v : (p.mean ?? null);
    out.push([p.t, v]);
    prev = p.t;
  }
  return out;
}

/** y against x where each y sample is paired with the x value holding at its time. */
function pairByTime(x: XY, y: XY): XY {
  const out: XY = [];
  let i = 0;
  let xv: number | null = null;
  for (const [t, v] of y) {
    while (i < x.length && x[i]![0] <= t) xv = x[i++]![1];
    if (xv !== null) out.push([xv, v]);
  }
  return out;
}

export async function plotSpec(monitor: MonitorView, plot: ResolvedPlot, windowMs: number, now = Date.now()): Promise<SvgPlotSpec> {
  const width = plot.width ?? 800;
  const height = plot.height ?? 300;
  // Labels as configured; what is read comes from the monitor's resolved series (a name may hold dots).
  const [xName = 'time', ...yNames] = plot.values;
  const xTime = plot.x === null;
  const spec: SvgPlotSpec = {
    title: plot.name,
    xlabel: plot.xlabel ?? xName,
    width,
    height,
    xTime,
    series: [],
  };
  if (plot.ylabel !== undefined) spec.ylabel = plot.ylabel;
  if (plot.xscale !== undefined) spec.xscale = plot.xscale;
  if (plot.yscale !== undefined) spec.yscale = plot.yscale;
  const archive = monitor.archive;
  if (!archive) {
    spec.note = 'no archive: history is not kept';
    spec.series = yNames.map((label) => ({ label, points: [] }));
    return spec;
  }
  const from = now - windowMs;
  const maxPoints = Math.max(50, Math.min(2000, Math.round(width)));
  const load = async (ref: SeriesRef): Promise<XY> => {
    try {
      return timeSeries(await archive.history(ref.device, ref.name, from, now, maxPoints));
    } catch (err) {
      // A series with no samples yet is an empty line, not an error.
      if (err instanceof ArchiveQueryError) return [];
      throw err;
    }
  };
  const xData = plot.x === null ? undefined : await load(plot.x);
  const series: SvgSeries[] = [];
  for (const [i, ref] of plot.series.entries()) {
    const y = await load(ref);
    series.push({ label: yNames[i] ?? `${ref.device} ${ref.name}`, points: xData ? pairByTime(xData, y) : y });
  }
  spec.series = series;
  return spec;
}

export async function ccdlabRoutes(app: FastifyInstance, ctx: { monitor: MonitorView }): Promise<void> {
  const { monitor } = ctx;

  app.get('/monitor/status', {
    schema: {
      summary: "CCDLab's status: {clients: configuration incl. plots, status: {nconnected, <client>: {values} or {}}}",
      tags: ['ccdlab'],
      'x-responses': { 200: { type: 'object', properties: { clients: { type: 'object' }, status: { type: 'object' }, archive: { type: 'object', description: 'present while the archive is degraded: {state, spooled, text}' } } }, 401: errorRef, 403: errorRef },
    },
  }, async () => {
    const clients: Record<string, unknown> = {};
    const status: Record<string, unknown> = { nconnected: monitor.status().nconnected };
    for (const p of monitor.peers()) {
      const plots: Record<string, ResolvedPlot> = {};
      for (const pl of monitor.plots(p.name)) plots[pl.id] = pl;
      clients[p.name] = { name: p.name, protocol: p.protocol, host: p.host, port: p.port, description: p.description ?? '', connected: p.connected, plots };
      status[p.name] = p.connected ? p.values : {};
    }
    // While the archive spools (decision 0022) the document says so; otherwise it is CCDLab's.
    const archive = monitor.status().archive;
    return archive ? { clients, status, archive } : { clients, status };
  });

  app.get<{ Params: { client: string; plot: string }; Querystring: { minutes: number } }>('/monitor/plot/:client/:plot', {
    schema: {
      summary: 'A configured plot as an SVG image, drawn from the archive (default: the last hour)',
      tags: ['ccdlab'],
      params: { type: 'object', required: ['client', 'plot'], properties: { client: { type: 'string', maxLength: 200 }, plot: { type: 'string', maxLength: 200 } } },
      querystring: { type: 'object', properties: { minutes: { type: 'number', exclusiveMinimum: 0, maximum: 5_256_000, default: 60, description: 'how far back the plot reaches' } } },
      'x-responses': { 200: { description: 'image/svg+xml', content: 'image/svg+xml' }, 401: errorRef, 404: errorRef },
    },
  }, async (req, reply) => {
    const { client, plot: plotId } = req.params;
    if (!monitor.peer(client)) throw new HttpError(404, 'NoSuchDevice', `no device named "${client}"`);
    const plot = monitor.plots(client).find((p) => p.id === plotId);
    if (!plot) {
      const ids = monitor.plots(client).map((p) => p.id);
      throw new HttpError(404, 'NoSuchPlot', `${client} has no plot "${plotId}"; configured: ${ids.join(', ') || 'none'}`);
    }
    let spec: SvgPlotSpec;
    try {
      spec = await plotSpec(monitor, plot, req.query.minutes * 60_000);
    } catch (err) {
      req.log.error({ err }, 'plot history query failed');
      throw new HttpError(500, 'ArchiveError', 'the archive could not answer; see the monitor log');
    }
    return reply
      .type('image/svg+xml; charset=utf-8')
      .header('Cache-Control', 'no-store, no-cache, must-revalidate, max-age=0')
      .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(renderSvgPlot(spec));
  });

  /**
   * GET is what CCDLab's scripts and links use, and what a browser sends for an <img> or a link
   * without Origin or Sec-Fetch-Site (older browsers, some privacy settings): so GET only reads.
   * A line that changes something needs POST (whose cross-site use browsers mark with Origin), or a
   * Bearer token, which no other site's page can attach.
   */
  const run = async (req: FastifyRequest, text: string | undefined): Promise<Record<string, unknown>> => {
    const line = (text ?? '').trim();
    if (line === '') throw badRequest('give the command as ?string=<line>, e.g. ?string=send chiller get_status');
    let cmd: Command;
    try {
      cmd = parseLine(line);
    } catch (err) {
      throw badRequest(`the line cannot be read: ${(err as Error).message}`);
    }
    const name = cmd.name;
    const viaGet = req.method === 'GET' && req.auth.via !== 'bearer';
    const getRefused = (what: string): HttpError =>
      new HttpError(405, 'MethodNotAllowed', `GET /monitor/command only reads; ${what} changes state: send the same ?string= with POST, or GET with "Authorization: Bearer <token>"`);
    if (name === 'send') {
      const client = cmd.args[0];
      const rest = client === undefined ? '' : lineBody(line, 2);
      if (client === undefined || rest === '') throw badRequest('usage: send <client> <line>');
      const peer = monitor.peer(client);
      // A read-only monitor refuses writes whatever the method (403 ReadOnly from sendCommand).
      if (viaGet && peer && !monitor.readOnly && classifyLine(rest, peer.describe, peer.protocol) !== 'read') {
        throw getRefused(`"${rest.split(/\s/, 1)[0]}" on ${client}`);
      }
      const result = await sendCommand(monitor, { client, line: rest, role: req.auth.role, actor: actorOf(req) });
      return { ok: true, client, ...result };
    }
    const level = name === null ? undefined : MESSAGE_LEVELS[name];
    if (level !== undefined) {
      const body = lineBody(line);
      if (body === '') throw badRequest(`usage: ${name} <text>`);
      if (viaGet) throw getRefused('adding to the message log');
      const receipt = await monitor.message(req.auth.via === 'anonymous' ? 'web' : `web:${req.auth.name}`, level, body.slice(0, 4000));
      return { ok: true, level, ...(!receipt.stored && receipt.reason !== undefined ? { stored: false, note: receipt.reason } : {}) };
    }
    if (name === 'exit') throw new HttpError(403, 'Forbidden', 'exit is not accepted over HTTP: stop the monitor where it runs (SIGINT/SIGTERM)');
    if (name === 'broadcast' || name === 'send_all' || name === 'reset_plots' || name === 'set') {
      throw new HttpError(400, 'NotSupported', `"${name}" is a CCDLab monitor command that labwire does not offer over HTTP`);
    }
    throw new HttpError(400, 'NoSuchCommand', 'unknown command; use "send <client> <line>" or "info <text>"');
  };

  const summary = 'CCDLab command: "send <client> <line>" (answers the device reply) or "info|warning|error|success|debug|message <text>" (adds to the log)';
  const querystring = { type: 'object', properties: { string: { type: 'string', maxLength: 65536, description: 'the command line' } } };
  const responses = { 200: { type: 'object' }, 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 405: errorRef, 502: errorRef, 503: errorRef };

  app.get<{ Querystring: { string?: string } }>('/monitor/command', {
    config: { role: 'operator' },
    schema: { summary: `${summary}. GET only reads unless it carries a Bearer token (405 otherwise)`, tags: ['ccdlab'], querystring, 'x-responses': responses },
  }, async (req) => run(req, req.query.string));

  app.post<{ Querystring: { string?: string }; Body: { string?: string } | string | undefined }>('/monitor/command', {
    config: { role: 'operator' },
    schema: {
      summary: `${summary}; the line in ?string= or in a JSON body {"string": "..."}`,
      tags: ['ccdlab'],
      querystring,
      'x-responses': responses,
    },
  }, async (req) => {
    const body = req.body;
    const fromBody = typeof body === 'object' && body !== null && typeof body.string === 'string' ? body.string : undefined;
    return run(req, req.query.string ?? fromBody);
  });
}
