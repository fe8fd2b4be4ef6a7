/**
 * Alarms on the web (docs/alarms.md): the state of every configured alarm, the archived history,
 * and acknowledgement by an operator — the same engine, who-and-when and notifications as `ack`
 * on the monitor's port. Live changes reach the page as `alarm` events on the streams.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { ALARM_CSV_HEADER, alarmCsvRow } from '../archive/csv.js';
import type { AlarmEntry, AlarmHistoryQuery } from '../archive/types.js';
import type { MonitorView } from '../monitor/types.js';
import { LabwireError } from '../wire/types.js';
import { parseTime, requireArchive } from './api.js';
import { actorOf } from './auth.js';
import { HttpError, badRequest, fromLabwireError } from './errors.js';
import { errorRef, ref } from './schemas.js';

const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef };

const historyQuery = {
  type: 'object',
  properties: {
    from: { type: 'string', maxLength: 40, description: 'only transitions at or after this time (unix ms or ISO 8601)' },
    to: { type: 'string', maxLength: 40, description: 'only transitions at or before this time (unix ms or ISO 8601)' },
    id: { type: 'string', maxLength: 200, description: 'only this alarm' },
    limit: { type: 'integer', minimum: 1, maximum: 10000, default: 200 },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200, description: 'the alarm id from the lab config' } },
} as const;

export async function alarmRoutes(app: FastifyInstance, ctx: { monitor: MonitorView }): Promise<void> {
  const { monitor } = ctx;

  app.get('/api/alarms', {
    schema: { summary: 'Every configured alarm with its state (ok, pending, raised, acknowledged, cleared)', tags: ['alarms'], 'x-responses': { 200: { type: 'array', items: ref('Alarm') }, ...errors } },
  }, async () => monitor.alarms?.() ?? []);

  type HistoryQuerystring = { from?: string; to?: string; id?: string; limit: number };

  /** The archived transitions a query asks for, newest first; HTTP errors for bad input or no archive. */
  async function history(q: HistoryQuerystring, log: FastifyBaseLogger): Promise<AlarmEntry[]> {
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    if (from !== undefined && to !== undefined && from > to) throw badRequest('from is after to: give the earlier time as from');
    const archive = requireArchive(monitor);
    if (!archive.alarmHistory) throw new HttpError(503, 'NoAlarmHistory', `the ${archive.kind} archive keeps no alarm history`);
    const query: AlarmHistoryQuery = { limit: q.limit };
    if (from !== undefined) query.from = from;
    if (to !== undefined) query.to = to;
    if (q.id !== undefined) query.id = q.id;
    try {
      return await archive.alarmHistory(query);
    } catch (err) {
      log.error({ err }, 'alarm history query failed');
      throw new HttpError(500, 'ArchiveError', 'the archive could not answer; see the monitor log');
    }
  }

  app.get<{ Querystring: HistoryQuerystring }>('/api/alarms/history', {
    schema: { summary: 'Archived alarm transitions (raised, acknowledged, cleared), newest first', tags: ['alarms'], querystring: historyQuery, 'x-responses': { 200: { type: 'array', items: ref('AlarmEntry') }, ...errors, 503: errorRef } },
  }, async (req) => history(req.query, req.log));

  app.get<{ Querystring: HistoryQuerystring }>('/api/alarms/history.csv', {
    schema: {
      summary: 'Archived alarm transitions as CSV, oldest first (time_iso,t_ms,alarm,from,to,severity,value,who,message)',
      tags: ['alarms'],
      querystring: historyQuery,
      'x-responses': { 200: { description: 'text/csv', content: 'text/csv' }, ...errors, 503: errorRef },
    },
  }, async (req, reply) => {
    const rows = await history(req.query, req.log);
    reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="alarms${req.query.id ? `-${req.query.id.replace(/[^A-Za-z0-9._-]/g, '_')}` : ''}.csv"`)
      .header('Cache-Control', 'no-store');
    return ALARM_CSV_HEADER + rows.reverse().map(alarmCsvRow).join('');
  });

  app.post<{ Params: { id: string } }>('/api/alarms/:id/ack', {
    config: { role: 'operator' },
    schema: {
      summary: 'Acknowledge a raised alarm (who and when are recorded, logged, archived and sent to the hooks)',
      tags: ['alarms'],
      params: idParams,
      'x-responses': { 200: ref('Alarm'), ...errors, 409: errorRef },
    },
  }, async (req) => {
    if (!monitor.acknowledge) throw new HttpError(404, 'NoSuchAlarm', 'this monitor has no alarms');
    try {
      return monitor.acknowledge(req.params.id, actorOf(req));
    } catch (err) {
      if (err instanceof LabwireError && err.code === 'NoSuchParameter') throw new HttpError(404, 'NoSuchAlarm', err.message);
      // Not raised (ok, pending, already acknowledged, cleared): a conflict with the alarm's state.
      if (err instanceof LabwireError && err.code === 'ProtocolError') throw new HttpError(409, 'NotRaised', err.message);
      if (err instanceof LabwireError) throw fromLabwireError(err);
      throw err;
    }
  });
}

