/**
 * Checks a `set` or a device command against this device's declarations before anything reaches
 * the device: names, read-only parameters, types, limits and arguments. All-or-nothing: one bad
 * pair refuses the whole `set`.
 */
import { LabwireError, type WireValue } from '../wire/types.js';
import { isWritable, type ValueDecl, type WritableParamDecl } from './api.js';
import type { ResolvedDevice } from './resolved-device.js';
import { checkRange, coerce, combineLimits } from './values.js';

export function validateSet(device: ResolvedDevice, entries: ReadonlyArray<[string, string]>): Array<[string, WireValue, WritableParamDecl]> {
  if (entries.length === 0) throw new LabwireError('ProtocolError', 'set needs at least one name=value pair, e.g. set setpoint=12.5', 'set');
  return entries.map(([name, text]) => {
    const decl = Object.hasOwn(device.allParams, name) ? device.allParams[name] : undefined;
    if (!decl) throw new LabwireError('NoSuchParameter', `no parameter "${name}"; parameters: ${Object.keys(device.allParams).join(', ')}`, 'set');
    if (!isWritable(decl)) throw new LabwireError('ReadOnly', `${name} is read-only`, 'set');
    const value = coerce(name, decl, text, 'set');
    checkRange(name, value, device.limits.get(name) ?? {}, decl.unit, 'set');
    return [name, value, decl];
  });
}

/** Positional arguments fill the declared arguments in order; keyword arguments name them. */
export function validateArgs(
  device: ResolvedDevice,
  name: string,
  decls: Readonly<Record<string, ValueDecl>>,
  args: readonly string[],
  kwargs: Readonly<Record<string, string>>,
): Record<string, WireValue> {
  const argDecls = Object.entries(decls);
  const names = argDecls.map(([a]) => a).join(', ') || 'none';
  if (args.length > argDecls.length) {
    throw new LabwireError('ProtocolError', `${name} takes ${argDecls.length} argument(s) (${names}), got ${args.length}`, name);
  }
  const raw: Record<string, string> = {};
  args.forEach((a, i) => (raw[argDecls[i]![0]] = a));
  for (const [k, v] of Object.entries(kwargs)) {
    if (!Object.hasOwn(decls, k)) throw new LabwireError('ProtocolError', `${name} has no argument "${k}"; arguments: ${names}`, name);
    raw[k] = v;
  }
  const typed: Record<string, WireValue> = {};
  for (const [a, d] of argDecls) {
    const text = raw[a];
    if (text === undefined) {
      if (!d.optional) throw new LabwireError('ProtocolError', `${name} needs argument "${a}" (${d.description})`, name);
      continue;
    }
    typed[a] = coerce(a, d, text, name);
    checkRange(a, typed[a], combineLimits([{ min: d.min, max: d.max, source: device.type }]), d.unit, name);
  }
  return typed;
}
