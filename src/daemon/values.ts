/**
 * Turning wire strings into typed values and checking them against limits, with messages a
 * person can act on. One implementation serves `set` parameters and command arguments.
 */
import { LabwireError, type WireValue } from '../wire/types.js';
import { parseBoolWord, parseDecimal } from '../wire/format.js';
import type { Limits, ValueDecl } from './api.js';

/** Converts one wire string by the declared type; WrongType with the expected form otherwise. */
export function coerce(name: string, decl: ValueDecl, raw: string, command: string): WireValue {
  const wrong = (expected: string): LabwireError =>
    new LabwireError('WrongType', `${name} "${raw}" is not ${expected}`, command);
  switch (decl.type) {
    case 'float': {
      const v = parseDecimal(raw);
      if (v === undefined) throw wrong('a number');
      return v;
    }
    case 'int': {
      const v = parseDecimal(raw);
      if (v === undefined || !Number.isInteger(v)) throw wrong('a whole number');
      return v;
    }
    case 'bool': {
      const b = parseBoolWord(raw);
      if (b === undefined) throw wrong('a boolean (1/0, true/false, on/off)');
      return b;
    }
    case 'enum': {
      const values = decl.values ?? [];
      const hit = values.find((v) => v.toLowerCase() === raw.trim().toLowerCase());
      if (hit === undefined) throw wrong(`one of ${values.join(', ')}`);
      return hit;
    }
    case 'string':
      return raw;
  }
}


/**
 * Intersects limits; later entries may only tighten. Returns the effective bounds, each with the
 * source that set it, for messages such as "above the FL1703 limit of 40 °C".
 */
export interface EffectiveLimits {
  min?: { value: number; source: string };
  max?: { value: number; source: string };
}

export function combineLimits(layers: Limits[]): EffectiveLimits {
  const out: EffectiveLimits = {};
  for (const l of layers) {
    if (l.min !== undefined && (out.min === undefined || l.min > out.min.value)) out.min = { value: l.min, source: l.source };
    if (l.max !== undefined && (out.max === undefined || l.max < out.max.value)) out.max = { value: l.max, source: l.source };
  }
  return out;
}

/**
 * Site limits may only tighten the class and model limits; a site limit outside them is a
 * configuration error (it would promise a range the hardware cannot do).
 */
export function checkSiteLimits(param: string, site: Limits, hardware: EffectiveLimits, unit?: string): void {
  const u = unit ? ` ${unit}` : '';
  if (site.min !== undefined && hardware.min !== undefined && site.min < hardware.min.value) {
    throw new Error(`site limit min ${site.min}${u} for ${param} is below the ${hardware.min.source} limit of ${hardware.min.value}${u}; site limits may only tighten`);
  }
  if (site.max !== undefined && hardware.max !== undefined && site.max > hardware.max.value) {
    throw new Error(`site limit max ${site.max}${u} for ${param} is above the ${hardware.max.source} limit of ${hardware.max.value}${u}; site limits may only tighten`);
  }
  if (site.min !== undefined && site.max !== undefined && site.min > site.max) {
    throw new Error(`site limits for ${param} are empty: min ${site.min} is above max ${site.max}`);
  }
}

export function checkRange(name: string, value: WireValue, limits: EffectiveLimits, unit: string | undefined, command: string): void {
  if (typeof value !== 'number') return;
  const u = unit ? ` ${unit}` : '';
  if (limits.min !== undefined && value < limits.min.value) {
    throw new LabwireError('RangeError', `${name} ${value}${u} is below the ${limits.min.source} limit of ${limits.min.value}${u}`, command);
  }
  if (limits.max !== undefined && value > limits.max.value) {
    throw new LabwireError('RangeError', `${name} ${value}${u} is above the ${limits.max.source} limit of ${limits.max.value}${u}`, command);
  }
}
