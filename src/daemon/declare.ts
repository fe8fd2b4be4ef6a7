/**
 * Builders for parameter declarations (part of the device-definition API, importable by device
 * families). A builder's write handler receives the value already typed (a number for float and
 * int, a boolean, one of the enum's members, a string), and whether a parameter is writable is
 * decided by one thing only: whether a write handler was given.
 *
 *   const p = paramsFor<CryoconDriver>();
 *   p.float('loop 1 setpoint', { unit: 'K', write: (driver, kelvin) => driver.setSetpoint(1, kelvin) })
 *   vector(['A', 'B'], (ch) => ({ [`ch${ch}.temperature`]: p.float(`input ${ch} temperature`, { unit: 'K' }) }))
 */
import { LabwireError, type ValueType, type WireValue } from '../wire/types.js';
import type { ParamDecl, ReadonlyParamDecl, TargetDecl, WritableParamDecl, WriteHandler } from './api.js';

/** What every builder takes besides the description. */
export interface ParamOptions {
  unit?: string;
  /** Class limits (numbers only); site config may only tighten them. */
  min?: number;
  max?: number;
  /** Archive hint: ignore changes smaller than this. */
  deadband?: number;
  /** A key value: shown on the page's overview (2–4 per device: what says how it is doing). */
  key?: boolean;
  target?: TargetDecl;
  /** Display group in describe (a page folds by it); defaults to the name's prefix before the first '.'. */
  group?: string;
}

type ReadOnly = ParamOptions & { write?: undefined };
type Writable<D, V extends WireValue> = ParamOptions & { write: WriteHandler<D, V> };

export interface ParamBuilder<D, V extends WireValue> {
  (description: string, options?: ReadOnly): ReadonlyParamDecl;
  (description: string, options: Writable<D, V>): WritableParamDecl<D>;
}

export interface EnumBuilder<D> {
  <T extends string>(values: readonly T[], description: string, options?: ReadOnly): ReadonlyParamDecl;
  <T extends string>(values: readonly T[], description: string, options: Writable<D, T>): WritableParamDecl<D>;
}

export interface ParamBuilders<D> {
  float: ParamBuilder<D, number>;
  int: ParamBuilder<D, number>;
  bool: ParamBuilder<D, boolean>;
  text: ParamBuilder<D, string>;
  /** An enum; `set` accepts the members in any case and the handler gets the member as declared. */
  choice: EnumBuilder<D>;
}

/**
 * A value a builder's write handler refused before calling the family's handler. The builder does
 * not know the parameter's name; resolveDevice puts it in front (`loop1.type must be one of …`).
 */
export class ValueRejected extends LabwireError {
  constructor(message: string) {
    super('WrongType', message);
  }
}

/** The value as the handler's type promises it, or undefined when it is not one. */
type Accept = (v: WireValue) => WireValue | undefined;

function declare<D>(type: ValueType, description: string, options: ParamOptions & { write?: WriteHandler<D, never> }, accept: Accept, values?: readonly string[]): ParamDecl<D> {
  const { write, ...rest } = options;
  const decl = { type, description, ...(values ? { values } : {}), ...dropUndefined(rest) };
  if (!write) return decl;
  const typed = write as WriteHandler<D, WireValue>;
  return {
    ...decl,
    // Written out so that describe and plain-object readers see what the handler already says.
    readonly: false,
    // The daemon coerces by the declared type before this runs; the check keeps the promise the
    // handler's parameter type makes even for a caller that skipped that step.
    write: (driver, value, ctx) => {
      const v = accept(value);
      if (v === undefined) return Promise.reject(new ValueRejected(`must be ${values ? `one of ${values.join(', ')}` : `a ${type}`}, not ${String(value)}`));
      return typed(driver, v, ctx);
    },
  };
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Builders whose write handlers receive the family's driver type. */
export function paramsFor<D>(): ParamBuilders<D> {
  const when = (ok: (v: WireValue) => boolean): Accept => (v) => (ok(v) ? v : undefined);
  return {
    float: ((description: string, options: ParamOptions = {}) => declare<D>('float', description, options, when((v) => typeof v === 'number'))) as ParamBuilder<D, number>,
    int: ((description: string, options: ParamOptions = {}) =>
      declare<D>('int', description, options, when((v) => typeof v === 'number' && Number.isInteger(v)))) as ParamBuilder<D, number>,
    bool: ((description: string, options: ParamOptions = {}) => declare<D>('bool', description, options, when((v) => typeof v === 'boolean'))) as ParamBuilder<D, boolean>,
    text: ((description: string, options: ParamOptions = {}) => declare<D>('string', description, options, when((v) => typeof v === 'string'))) as ParamBuilder<D, string>,
    choice: ((values: readonly string[], description: string, options: ParamOptions = {}) =>
      declare<D>('enum', description, options, (v) => values.find((m) => m.toLowerCase() === String(v).toLowerCase()), values)) as EnumBuilder<D>,
  };
}

/**
 * One block of declarations per member (channels, loops, outputs), merged in member order. Two
 * members declaring the same name is a mistake in the block and throws.
 */
export function vector<K extends string | number, V>(members: readonly K[], block: (member: K, index: number) => Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  members.forEach((member, i) => {
    for (const [name, decl] of Object.entries(block(member, i))) {
      if (Object.hasOwn(out, name)) throw new Error(`vector(): "${name}" is declared by more than one member (at ${String(member)}); put the member in the name`);
      out[name] = decl;
    }
  });
  return out;
}

/** 1, 2, …, n: the members of a vector counted from one (Arbin channels). */
export function numbered(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
