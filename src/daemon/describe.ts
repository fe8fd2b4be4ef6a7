/**
 * The `describe` document of a daemon: every parameter with its effective limits, whether `set`
 * may change it and its target, and every command with its arguments, as this device resolved them.
 */
import type { DescribeDoc } from '../wire/types.js';
import { isWritable, type ValueDecl } from './api.js';
import type { ResolvedDevice } from './resolved-device.js';

export type ValueDoc = DescribeDoc['commands'][string]['args'][string];

export function valueDescription(d: ValueDecl): ValueDoc {
  return {
    type: d.type,
    description: d.description,
    ...(d.unit ? { unit: d.unit } : {}),
    ...(d.min !== undefined ? { min: d.min } : {}),
    ...(d.max !== undefined ? { max: d.max } : {}),
    ...(d.values ? { values: d.values } : {}),
    ...(d.optional ? { optional: true } : {}),
  };
}

export function describeDevice(device: ResolvedDevice, daemon: { name: string; version: string; readOnly: boolean }): DescribeDoc {
  const params: DescribeDoc['params'] = {};
  for (const [name, d] of Object.entries(device.allParams)) {
    const lim = device.limits.get(name);
    const target = device.targets.find((t) => t.param === name);
    params[name] = {
      ...valueDescription(d),
      ...(lim?.min ? { min: lim.min.value } : {}),
      ...(lim?.max ? { max: lim.max.value } : {}),
      readonly: !isWritable(d),
      ...(d.deadband !== undefined ? { deadband: d.deadband } : {}),
      ...(d.group ? { group: d.group } : {}),
      ...(d.key ? { key: true as const } : {}),
      ...(target ? { target: { of: target.decl.of, tolerance: target.tolerance, settleMs: target.settleMs } } : {}),
    };
  }
  const commands: DescribeDoc['commands'] = {};
  for (const [name, c] of Object.entries(device.commands)) {
    const args: Record<string, ValueDoc> = {};
    for (const [a, d] of Object.entries(c.args ?? {})) args[a] = valueDescription(d);
    commands[name] = { description: c.description, write: c.write, args, ...(c.binary ? { binary: true as const } : {}) };
  }
  return {
    name: daemon.name,
    type: device.type,
    title: device.title,
    protocol: 'labwire/1',
    version: daemon.version,
    readOnly: daemon.readOnly,
    params,
    commands,
  };
}
