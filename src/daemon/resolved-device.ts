/**
 * A device definition applied to its options: the parameters, commands and poll plan of this
 * instrument (an M32 has inputs A and B, an Arbin with channels=4 has four channels), the
 * effective limits with site limits on top, and the targets with their tuning. Everything the
 * daemon derives (describe, status, validation, polling, state) reads this, never the raw definition.
 */
import {
  STATES,
  checkDeclarations,
  parseOptions,
  type AnyDeviceDefinition,
  type DeviceDefinition,
  type CommandDecl,
  type Limits,
  type ParamDecl,
  type PollGroup,
  type StateOverride,
  type TargetDecl,
} from './api.js';
import { LabwireError, type WireValue } from '../wire/types.js';
import { ValueRejected } from './declare.js';
import { checkSiteLimits, combineLimits, type EffectiveLimits } from './values.js';

/** The parameters every daemon has, first in `status` (as in CCDLab). */
export const STANDARD_PARAMS: Readonly<Record<string, ParamDecl>> = {
  hw_connected: { type: 'bool', description: 'the daemon has a working link to the device' },
  state: {
    type: 'enum',
    description: 'SECoP-style state: idle, busy, ramping, stabilizing, warn, error, disabled',
    values: STATES,
  },
  state_text: { type: 'string', description: 'what the state means right now, for people' },
};

/** A target parameter with the tolerance and settle time in force for this device. */
export interface ResolvedTarget {
  param: string;
  decl: TargetDecl;
  tolerance: number;
  settleMs: number;
}

export interface ResolvedDevice {
  type: string;
  title: string;
  /** The options as the definition's schema parsed them. */
  options: unknown;
  /** The device's own parameters in status order (without the standard ones). */
  params: Readonly<Record<string, ParamDecl>>;
  /** Standard parameters first, then the device's: what `status` lists. */
  allParams: Readonly<Record<string, ParamDecl>>;
  commands: Readonly<Record<string, CommandDecl>>;
  poll: readonly PollGroup[];
  /** Class, model and site limits combined, per device parameter. */
  limits: ReadonlyMap<string, EffectiveLimits>;
  targets: readonly ResolvedTarget[];
  stateOverride: (values: Readonly<Record<string, WireValue>>) => StateOverride | undefined;
}

export interface ResolveInput {
  /** Device options as given in config or on the command line. */
  options?: unknown;
  /** Site limits per parameter; may only tighten the hardware's. */
  siteLimits?: Record<string, { min?: number; max?: number }>;
  /** Names the device in option errors, e.g. `cryocon device "cryostat"`. */
  label?: string;
}

function fromOptions<T>(value: T | ((options: unknown) => T), options: unknown): T {
  return typeof value === 'function' ? (value as (options: unknown) => T)(options) : value;
}

/** Puts each parameter's name into the refusals of builder-made write handlers. */
function named(params: Record<string, ParamDecl>): Record<string, ParamDecl> {
  const out: Record<string, ParamDecl> = {};
  for (const [name, decl] of Object.entries(params)) {
    const write = decl.write;
    out[name] = !write
      ? decl
      : {
          ...decl,
          write: (driver, value, ctx) =>
            write(driver, value, ctx).catch((err: unknown) => {
              throw err instanceof ValueRejected ? new LabwireError('WrongType', `${name} ${err.message}`) : err;
            }),
        };
  }
  return out;
}

export function resolveDevice<O, D>(definition: DeviceDefinition<O, D>, input: ResolveInput = {}): ResolvedDevice {
  // Erased like the registry's families: the driver and options only go back to this definition.
  const def = definition as unknown as AnyDeviceDefinition;
  const options = parseOptions(def.options, input.options, input.label ?? `${def.type} device`);
  const params = named(fromOptions(def.params, options));
  checkDeclarations(def.type, params);
  const commands = fromOptions(def.commands, options);
  const poll = fromOptions(def.poll, options);

  const limits = new Map<string, EffectiveLimits>();
  const model: Record<string, Limits> = def.limits?.(options) ?? {};
  for (const [name, decl] of Object.entries(params)) {
    const layers: Limits[] = [{ min: decl.min, max: decl.max, source: def.type }];
    if (model[name]) layers.push(model[name]);
    const site = input.siteLimits?.[name];
    if (site) {
      checkSiteLimits(name, { ...site, source: 'site' }, combineLimits(layers), decl.unit);
      layers.push({ ...site, source: 'site' });
    }
    limits.set(name, combineLimits(layers));
  }
  for (const name of Object.keys(input.siteLimits ?? {})) {
    if (!Object.hasOwn(params, name)) throw new Error(`site limits name unknown parameter "${name}" of ${def.type}; parameters: ${Object.keys(params).join(', ')}`);
  }

  const tuning = def.targetTuning?.(options) ?? {};
  const targets: ResolvedTarget[] = [];
  for (const [name, decl] of Object.entries(params)) {
    if (!decl.target) continue;
    targets.push({
      param: name,
      decl: decl.target,
      tolerance: tuning[name]?.tolerance ?? decl.target.tolerance,
      settleMs: tuning[name]?.settleMs ?? decl.target.settleMs,
    });
  }

  const override = def.stateOverride;
  return {
    type: def.type,
    title: def.title,
    options,
    params,
    allParams: { ...STANDARD_PARAMS, ...params },
    commands,
    poll,
    limits,
    targets,
    stateOverride: override ? (values) => override(values, options) : () => undefined,
  };
}
