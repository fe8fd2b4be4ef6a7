/**
 * Checks the names a condition reads against what the peer says it has (`describe`), before a
 * wait: a misspelt `temprature<0` would otherwise wait out its whole timeout and report "not met"
 * (issue 15, defect 12). On a daemon the names are its parameters; on a monitor they are
 * `<device>.<param>` (and `<device>` alone, its connected flag), checked against each device's own
 * `describe` through `send`. What cannot be checked (a CCDLab peer, a device without describe, one
 * that is not connected, a lower monitor's `room1/…` names) passes: the wait goes on as before.
 */
import type { DescribeDoc } from '../wire/index.js';
import type { Condition } from './condition.js';

/** What the check needs of a LabwireClient. */
export interface NameSource {
  getId(): Promise<Record<string, string>>;
  describe(device?: string): Promise<DescribeDoc>;
  request(line: string): Promise<{ command: { kwargs: Record<string, string> } }>;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The candidate closest to `name`, if it is close enough to be a likely typo (a third of its length, at least 2 edits). */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: { name: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d <= limit && (best === undefined || d < best.d)) best = { name: c, d };
  }
  return best?.name;
}

/** "unknown parameter temprature of julabo; did you mean temperature?" (or the list of names when none is close). */
export function unknownNameMessage(kind: 'parameter' | 'device', name: string, of: string | undefined, known: readonly string[]): string {
  const where = of === undefined ? '' : ` of ${of}`;
  const guess = closestName(name, known);
  const hint = guess !== undefined ? `did you mean ${guess}?` : `${kind === 'device' ? 'devices' : 'parameters'}: ${known.join(', ') || 'none'}`;
  return `unknown ${kind} ${name}${where}; ${hint}`;
}

async function describeOrUndefined(source: NameSource, device?: string): Promise<DescribeDoc | undefined> {
  try {
    return await source.describe(device);
  } catch {
    return undefined;
  }
}

/**
 * The problems with the condition's names, one sentence each; empty when every name is known or
 * cannot be checked. Only a labwire peer is asked for `describe` (a CCDLab daemon never answers
 * requests it does not know, which would upset the pairing of later replies).
 */
export async function unknownConditionNames(source: NameSource, condition: Condition): Promise<string[]> {
  const id = await source.getId();
  if (!id.protocol?.startsWith('labwire/')) return [];
  return id.type === 'monitor' ? checkOnMonitor(source, condition.names) : checkOnDaemon(source, condition.names);
}

async function checkOnDaemon(source: NameSource, names: readonly string[]): Promise<string[]> {
  const doc = await describeOrUndefined(source);
  if (!doc) return [];
  const known = Object.keys(doc.params);
  return names.filter((n) => !known.includes(n)).map((n) => unknownNameMessage('parameter', n, doc.name || undefined, known));
}

async function checkOnMonitor(source: NameSource, names: readonly string[]): Promise<string[]> {
  const reply = (await source.request('clients')).command.kwargs;
  const words = (text: string | undefined): string[] => (text ?? '').split(' ').filter((w) => w !== '');
  const devices = words(reply.names);
  // Only labwire peers are asked for describe: through send, a CCDLab daemon would hand `describe`
  // to its instrument. A monitor that does not say (an older one) has none asked.
  const protocols = words(reply.protocols);
  const labwire = new Set(protocols.length === devices.length ? devices.filter((_, i) => protocols[i] === 'labwire') : []);
  // The monitor's own fields (nconnected, archive.…) are not any device's.
  const own = new Set(Object.keys((await source.request('get_status')).command.kwargs).filter((k) => !devices.some((d) => k === d || k.startsWith(`${d}.`))));
  const problems: string[] = [];
  const described = new Map<string, Promise<DescribeDoc | undefined>>();
  for (const name of names) {
    if (own.has(name) || devices.includes(name) || name.includes('/')) continue;
    // The longest device name that prefixes it: a device may have a dot in its name.
    const device = devices.filter((d) => name.startsWith(`${d}.`)).sort((a, b) => b.length - a.length)[0];
    if (device === undefined) {
      const head = name.split('.')[0]!;
      problems.push(unknownNameMessage('device', head, undefined, devices));
      continue;
    }
    if (!labwire.has(device)) continue;
    if (!described.has(device)) described.set(device, describeOrUndefined(source, device));
    const doc = await described.get(device);
    if (!doc) continue;
    const param = name.slice(device.length + 1);
    const known = Object.keys(doc.params);
    if (!known.includes(param)) problems.push(unknownNameMessage('parameter', param, device, known));
  }
  return problems;
}
