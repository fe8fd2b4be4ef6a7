/**
 * SECoP modules derived from a labwire `describe` (no per-family code). The mapping, documented in
 * docs/facilities.md and decision 0027:
 * - parameters without a dot belong to the device module `<device>`; `<group>.<name>` parameters
 *   (Cryo-con `loop1.setpoint`, `chA.temperature`) to the module `<device>_<group>`;
 * - a parameter that declares `target` becomes the module's `target`, the parameter it drives its
 *   `value`, and the module is Drivable; without one, a module with exactly one settable number
 *   has it as `target` (Writable); `value` is then the first read-only number (else that target,
 *   else the first parameter); anything else is Readable;
 * - every other parameter keeps its name with SECoP's `_` prefix for custom accessibles;
 * - device commands go on the device module; labwire's standard `hw_connected`, `state` and
 *   `state_text` become each module's `status`.
 */
import type { DescribeDoc, ParamDescription, ValueDescription } from '../../wire/index.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** SECoP status codes (reference §7). */
export const STATUS = { DISABLED: 0, IDLE: 100, WARN: 200, BUSY: 300, RAMPING: 370, STABILIZING: 380, ERROR: 400 } as const;

const STANDARD = new Set(['hw_connected', 'state', 'state_text']);
/** Predefined SECoP names that keep no `_` prefix. */
const PREDEFINED = new Set(['value', 'status', 'target', 'pollinterval', 'ramp', 'setpoint', 'time_to_target', 'mode', 'stop', 'go', 'hold', 'shutdown', 'reset', 'clear_errors']);

export interface SecopParam {
  /** SECoP accessible name. */
  name: string;
  /** The labwire parameter behind it. */
  labwire: string;
  desc: ParamDescription;
  readonly: boolean;
}

export interface SecopCommand {
  name: string;
  labwire: string;
  args: Array<[string, ValueDescription]>;
  description: string;
}

export interface SecopModule {
  name: string;
  device: string;
  className: 'Readable' | 'Writable' | 'Drivable';
  /** labwire name of the value and, for Drivable, the target parameter. */
  valueParam: string;
  targetParam?: string;
  description: string;
  params: Map<string, SecopParam>;
  commands: Map<string, SecopCommand>;
}

/** A SECoP identifier: letters, digits and `_`, not starting with a digit, at most 63 characters. */
export function identifier(text: string): string {
  let s = text.replace(/[^A-Za-z0-9_]/g, '_');
  if (/^[0-9]/.test(s)) s = `_${s}`;
  return s.slice(0, 63) || '_';
}

function custom(name: string): string {
  const id = identifier(name);
  return PREDEFINED.has(id) || id.startsWith('_') ? id : `_${id}`;
}

function isNumber(d: ValueDescription): boolean {
  return d.type === 'float' || d.type === 'int';
}

/**
 * The modules of one daemon's device. `deviceName` is the name the node knows the device by: the
 * monitor's client name under `labwire up` (`chiller`, or `room1/cryo` for a lower monitor's
 * device, whose modules are then `room1_cryo`, `room1_cryo_loop1` …), else the describe's name.
 */
export function modulesOf(doc: DescribeDoc, deviceName: string = doc.name): SecopModule[] {
  const device = identifier(deviceName);
  const groups = new Map<string, Array<[string, ParamDescription]>>([['', []]]);
  for (const [name, desc] of Object.entries(doc.params)) {
    if (STANDARD.has(name)) continue;
    const dot = name.indexOf('.');
    const group = dot > 0 ? name.slice(0, dot) : '';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push([name, desc]);
  }
  const modules: SecopModule[] = [];
  for (const [group, entries] of groups) {
    const moduleName = group === '' ? device : identifier(`${deviceName}_${group}`);
    const local = (p: string): string => (group === '' ? p : p.slice(group.length + 1));
    const declared = entries.find(([, d]) => d.target !== undefined && !d.readonly);
    // Without a declared target, one settable number is a plain target (Writable: no completion contract).
    const settable = entries.filter(([, d]) => !d.readonly && d.type === 'float');
    const target = declared ?? (settable.length === 1 ? settable[0] : undefined);
    let valueParam: string;
    if (declared) valueParam = declared[1].target!.of;
    else valueParam = (entries.find(([, d]) => d.readonly && isNumber(d)) ?? target ?? entries.find(([, d]) => d.readonly) ?? entries[0] ?? ['hw_connected'])[0];
    const params = new Map<string, SecopParam>();
    const valueDesc = doc.params[valueParam];
    if (valueDesc) params.set('value', { name: 'value', labwire: valueParam, desc: valueDesc, readonly: true });
    if (target) params.set('target', { name: 'target', labwire: target[0], desc: target[1], readonly: false });
    for (const [name, desc] of entries) {
      // A settable value stays settable under its own name too (value is read-only in SECoP).
      if ((name === valueParam && desc.readonly) || name === target?.[0]) continue;
      let id = custom(local(name));
      while (params.has(id)) id = `_${id}`;
      params.set(id, { name: id, labwire: name, desc, readonly: desc.readonly });
    }
    const commands = new Map<string, SecopCommand>();
    if (group === '') {
      for (const [name, c] of Object.entries(doc.commands)) {
        if (c.binary) continue; // a binary reply has no SECoP form
        commands.set(custom(name), { name: custom(name), labwire: name, args: Object.entries(c.args), description: c.description });
      }
    }
    const what = group === '' ? doc.title : `${group} of ${deviceName} (${doc.title})`;
    modules.push({
      name: moduleName,
      device: deviceName,
      className: declared ? 'Drivable' : target ? 'Writable' : 'Readable',
      valueParam,
      ...(target ? { targetParam: target[0] } : {}),
      description: what,
      params,
      commands,
    });
  }
  return modules;
}

/** SECoP datainfo of a labwire value. */
export function datainfo(d: ValueDescription): { [k: string]: Json } {
  switch (d.type) {
    case 'float':
      return { type: 'double', ...(d.unit ? { unit: d.unit } : {}), ...(d.min !== undefined ? { min: d.min } : {}), ...(d.max !== undefined ? { max: d.max } : {}) };
    case 'int':
      return { type: 'int', min: d.min ?? -(2 ** 31), max: d.max ?? 2 ** 31 - 1, ...(d.unit ? { unit: d.unit } : {}) };
    case 'bool':
      return { type: 'bool' };
    case 'enum':
      return { type: 'enum', members: Object.fromEntries((d.values ?? []).map((v, i) => [identifier(v), i])) };
    case 'string':
      return { type: 'string' };
  }
}

export const STATUS_DATAINFO: { [k: string]: Json } = {
  type: 'tuple',
  members: [{ type: 'enum', members: { DISABLED: 0, IDLE: 100, WARN: 200, BUSY: 300, RAMPING: 370, STABILIZING: 380, ERROR: 400 } }, { type: 'string' }],
};

function commandInfo(c: SecopCommand): { [k: string]: Json } {
  const required = c.args.filter(([, a]) => !a.optional);
  if (c.args.length === 0) return { type: 'command' };
  if (c.args.length === 1) return { type: 'command', argument: datainfo(c.args[0]![1]) };
  return {
    type: 'command',
    argument: {
      type: 'struct',
      members: Object.fromEntries(c.args.map(([n, a]) => [n, datainfo(a)])),
      ...(required.length < c.args.length ? { optional: c.args.filter(([, a]) => a.optional).map(([n]) => n) } : {}),
    },
  };
}

/** The `describing` structure report of the node. */
export function describeNode(equipmentId: string, description: string, modules: SecopModule[]): { [k: string]: Json } {
  const mods: { [k: string]: Json } = {};
  for (const m of modules) {
    const accessibles: { [k: string]: Json } = {};
    for (const p of m.params.values()) {
      // Writable parameters and commands answer `check` (validated by the node, nothing applied).
      accessibles[p.name] = { description: p.desc.description, datainfo: datainfo(p.desc), readonly: p.readonly, ...(p.readonly ? {} : { checkable: true }) };
      if (p.name === 'value') {
        accessibles.status = { description: `labwire state of ${m.device} (${m.valueParam})`, datainfo: STATUS_DATAINFO, readonly: true };
      }
    }
    if (!accessibles.status) accessibles.status = { description: `labwire state of ${m.device}`, datainfo: STATUS_DATAINFO, readonly: true };
    for (const c of m.commands.values()) accessibles[c.name] = { description: c.description, datainfo: commandInfo(c), checkable: true };
    const classes = m.className === 'Drivable' ? ['Drivable', 'Writable', 'Readable'] : m.className === 'Writable' ? ['Writable', 'Readable'] : ['Readable'];
    mods[m.name] = { description: m.description, interface_classes: classes, accessibles, implementor: 'labwire' };
  }
  return { equipment_id: equipmentId, description, firmware: 'labwire', timeout: 10, modules: mods };
}

export type CacheValue = string | number | boolean | null;

/** A labwire value as SECoP puts it on the wire (enums as their member's index). */
export function toSecop(v: CacheValue | undefined, d: ValueDescription): Json {
  if (v === undefined || v === null) return null;
  if (d.type === 'enum') {
    const i = (d.values ?? []).indexOf(String(v));
    return i >= 0 ? i : null;
  }
  if (d.type === 'bool') return v === true || v === 'true' || v === '1' || v === 1;
  if (d.type === 'float' || d.type === 'int') return typeof v === 'number' ? (Number.isFinite(v) ? v : null) : Number(v);
  return String(v);
}

/** A SECoP JSON value as a labwire value, or an error text saying why it does not fit. */
export function fromSecop(v: unknown, d: ValueDescription): { ok: true; value: string | number | boolean } | { ok: false; message: string } {
  const want = datainfo(d).type;
  switch (d.type) {
    case 'float':
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: v };
      break;
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return { ok: true, value: v };
      break;
    case 'bool':
      if (typeof v === 'boolean') return { ok: true, value: v };
      if (v === 0 || v === 1) return { ok: true, value: v === 1 };
      break;
    case 'enum': {
      const members = d.values ?? [];
      if (typeof v === 'number' && Number.isInteger(v) && members[v] !== undefined) return { ok: true, value: members[v] };
      // Names are accepted too (MUST-accept is integers; names help people typing by hand).
      if (typeof v === 'string' && members.includes(v)) return { ok: true, value: v };
      return { ok: false, message: `expected one of ${members.map((m, i) => `${i} (${m})`).join(', ')}, got ${JSON.stringify(v)}` };
    }
    case 'string':
      if (typeof v === 'string') return { ok: true, value: v };
      break;
  }
  return { ok: false, message: `expected a JSON ${want}, got ${JSON.stringify(v)?.slice(0, 80)}` };
}
