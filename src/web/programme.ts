/**
 * A device's setpoint programme for the page and scripts (docs/programmes.md): its status and the
 * loaded profile in one read, so that a viewer can follow a running programme. Loading, starting,
 * pausing and stopping go through the device command path (`POST /api/devices/:name/command` with
 * `programme_load …`), where the daemon validates every point against its limits.
 */
import type { FastifyInstance } from 'fastify';
import type { MonitorView, PeerValue } from '../monitor/types.js';
import { parseDecimal } from '../wire/format.js';
import { actorOf } from './auth.js';
import { sendCommand } from './commands.js';
import { HttpError } from './errors.js';
import { errorRef, nameParams } from './schemas.js';

export interface ProfileView {
  param: string;
  loops: number;
  /** Programme clock seconds of one cycle (holds stop the clock and are not counted). */
  cycleS: number;
  /** One cycle's vertices: clock seconds since the cycle's start, value, and whether a hold waits there. */
  points: Array<{ t: number; value: number; hold: boolean }>;
}

export interface ProgrammeView {
  /** `programme_status` as JSON: state, param, progress, elapsed_s, total_s, cycle, loops, target, … */
  status: Record<string, PeerValue>;
  /** Null when no programme is loaded. */
  profile: ProfileView | null;
}

/** The reply's words typed: decimals as numbers, `nan` as null (the device's describe does not cover these keys). */
function typedStatus(r: Record<string, PeerValue>): Record<string, PeerValue> {
  const out: Record<string, PeerValue> = {};
  for (const [k, v] of Object.entries(r)) out[k] = typeof v === 'string' ? (v === 'nan' ? null : (parseDecimal(v) ?? v)) : v;
  return out;
}

function numbers(v: PeerValue | undefined): number[] {
  const text = v === null || v === undefined ? '' : String(v).trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

/** The profile from `programme_profile`'s parallel lists. */
export function profileFromReply(r: Record<string, PeerValue>): ProfileView {
  const t = numbers(r.t_s);
  const values = numbers(r.values);
  const holds = numbers(r.holds);
  const finite = (xs: number[]): boolean => xs.every((x) => Number.isFinite(x));
  if (t.length !== values.length || holds.length !== t.length || !finite(t) || !finite(values)) {
    throw new HttpError(502, 'ProtocolError', 'the daemon sent a programme profile whose lists do not match');
  }
  return {
    param: String(r.param ?? ''),
    loops: Number(r.loops ?? 1),
    cycleS: Number(r.cycle_s ?? 0),
    points: t.map((x, i) => ({ t: x, value: values[i]!, hold: holds[i] === 1 })),
  };
}

export async function programmeRoutes(app: FastifyInstance, ctx: { monitor: MonitorView }): Promise<void> {
  const { monitor } = ctx;
  app.get<{ Params: { name: string } }>('/api/devices/:name/programme', {
    schema: {
      summary: "A device's setpoint programme: programme_status and the loaded profile (one cycle) for a plot",
      tags: ['devices'],
      params: nameParams,
      'x-responses': {
        200: {
          type: 'object',
          properties: {
            status: { type: 'object', description: 'state (none, loaded, running, paused, finished, stopped), param, progress, elapsed_s, total_s, cycle, loops, target, applied, phase, next, next_in_s' },
            profile: { type: ['object', 'null'], description: '{param, loops, cycleS, points: [{t, value, hold}]}' },
          },
        },
        400: errorRef,
        401: errorRef,
        404: errorRef,
        503: errorRef,
      },
    },
  }, async (req): Promise<ProgrammeView> => {
    const peer = monitor.peer(req.params.name);
    if (peer && peer.protocol !== 'labwire') {
      throw new HttpError(404, 'NoProgramme', `${peer.name} is a ${peer.protocol} peer: setpoint programmes run in labwire daemons only`);
    }
    const base = { client: req.params.name, role: req.auth.role, actor: actorOf(req), readRole: 'viewer' as const };
    const status = typedStatus((await sendCommand(monitor, { ...base, line: 'programme_status' })).results);
    if (status.state === undefined || status.state === 'none') return { status, profile: null };
    const profile = profileFromReply((await sendCommand(monitor, { ...base, line: 'programme_profile' })).results);
    return { status, profile };
  });
}
