/**
 * A HandlerContext for calling one handler of a device definition directly in a unit test: the
 * given cached values, a log that keeps what was written, `publish` that keeps what was reported,
 * and a lab of this device only.
 */
import type { HandlerContext, LabState } from '../daemon/api.js';
import type { WireValue } from '../wire/types.js';

export interface RecordingContext extends HandlerContext {
  readonly logged: Array<{ level: string; message: string }>;
  readonly published: Array<Record<string, WireValue>>;
}

export function handlerContext(values: Record<string, WireValue> = {}, lab?: LabState): RecordingContext {
  const logged: RecordingContext['logged'] = [];
  const published: RecordingContext['published'] = [];
  return {
    values,
    logged,
    published,
    log: (level, message) => void logged.push({ level, message }),
    publish: (v) => void published.push({ ...v }),
    labState: () => Promise.resolve(lab ?? { t: Date.now(), source: 'this daemon only', devices: [{ name: 'test', connected: true, values, units: {} }] }),
  };
}
