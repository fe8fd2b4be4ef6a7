/**
 * One reading of all of a peer's values: `get_status format=json` from a labwire daemon or
 * monitor, or the `status k=v ...` line a CCDLab daemon answers with instead.
 */
import { LabwireError, type Reply, type StatusDoc } from '../wire/index.js';
import type { ConditionValue } from './condition.js';
import { expectReply, isRecord, parseJsonBody } from './replies.js';
import { flatten } from './values.js';

export interface Snapshot {
  values: Record<string, ConditionValue>;
  /** Daemon time of the snapshot and of each value's refresh. */
  t: number;
  ts: Record<string, number>;
  /** A labwire peer (status_json) rather than a CCDLab one (`status k=v`): updates can be pushed. */
  labwire: boolean;
  /** The status document, when the peer sent a labwire one. */
  doc?: StatusDoc;
}

/** Reads a snapshot with `request` (which rejects on an `error ...` reply). */
export async function readSnapshot(request: (line: string) => Promise<Reply>): Promise<Snapshot> {
  const reply = await request('get_status format=json');
  const name = reply.command.name;
  if (name === 'status') {
    return { values: Object.assign(Object.create(null), reply.command.kwargs) as Record<string, ConditionValue>, t: Date.now(), ts: {}, labwire: false };
  }
  expectReply(reply, 'status_json', 'get_status');
  const doc = parseJsonBody(reply, 'get_status');
  if (!isRecord(doc)) throw new LabwireError('ProtocolError', 'status_json reply is not a JSON object', 'get_status');
  if (isRecord(doc.values)) {
    const values = flatten(doc.values);
    const t = typeof doc.t === 'number' ? doc.t : Date.now();
    const ts: Record<string, number> = {};
    if (isRecord(doc.ts)) for (const [k, v] of Object.entries(doc.ts)) if (typeof v === 'number') ts[k] = v;
    const statusDoc: StatusDoc = {
      name: typeof doc.name === 'string' ? doc.name : '',
      t,
      values: { ...values },
      units: isRecord(doc.units) ? (doc.units as Record<string, string>) : {},
      ts,
    };
    return { values, t, ts, labwire: true, doc: statusDoc };
  }
  // A monitor's nested document (CCDLab's: `{"nconnected":2,"cryo-con":{...}}`): no pushes to follow.
  return { values: flatten(doc), t: Date.now(), ts: {}, labwire: false };
}
