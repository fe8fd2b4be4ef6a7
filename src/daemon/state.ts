/**
 * The derived `state` and `state_text` of a device (the completion contract of DESIGN.md §3), as a
 * pure function of what the daemon knows at one instant. The runner calls it whenever an input
 * changes and applies the result; the table of cases is unit-tested without a device.
 *
 * Precedence: no link → error; a device error → error; reading after a connect → busy; a command
 * or set in progress → busy; a target away from its value → ramping; within tolerance but not yet
 * for the settle time → stabilizing; a device warning (or idle text) → the override; a failing
 * poll group → warn; else idle.
 */
import type { DeviceState, StateOverride } from './api.js';
import type { WireValue } from '../wire/types.js';
import type { ResolvedTarget } from './resolved-device.js';

export interface TargetProgress {
  target: ResolvedTarget;
  /** Since when the value has been within tolerance, if it has. */
  withinSince: number | undefined;
}

export interface StateInput {
  now: number;
  hwConnected: boolean;
  /** Why the link is down (shown when it is). */
  linkReason: string;
  values: Readonly<Record<string, WireValue>>;
  /** What the device itself reports; only consulted while the link is up. */
  override: StateOverride | undefined;
  /** Poll groups not read since the link came up. */
  unreadGroups: number;
  /** Commands and sets in progress, and what the latest one does. */
  busyCount: number;
  busyText: string;
  targets: readonly TargetProgress[];
  /** Unit of each parameter, for the text. */
  units: Readonly<Record<string, string | undefined>>;
  /** Poll groups whose latest read failed, with the message, oldest first. */
  pollErrors: ReadonlyArray<readonly [string, string]>;
}

export interface DerivedState {
  state: DeviceState;
  text: string;
  /** The new `withinSince` of each target, in the order of StateInput.targets. */
  withinSince: Array<number | undefined>;
  /** When stabilizing ends, if it does: derive again then. */
  recheckAt: number | undefined;
}

export function deriveState(input: StateInput): DerivedState {
  const withinSince = input.targets.map((t) => t.withinSince);
  const result = (state: DeviceState, text: string, recheckAt?: number): DerivedState => ({ state, text, withinSince, recheckAt });
  if (!input.hwConnected) return result('error', `no link to the device: ${input.linkReason || 'down'}`);
  const override = input.override;
  if (override && override.state === 'error') return result(override.state, override.text);
  if (input.unreadGroups > 0) return result('busy', 'reading the device after connecting');
  if (input.busyCount > 0) return result('busy', input.busyText);

  let recheckAt: number | undefined;
  let settling: string | undefined;
  for (const [i, { target: t }] of input.targets.entries()) {
    const target = input.values[t.param];
    const actual = input.values[t.decl.of];
    if (typeof target !== 'number' || typeof actual !== 'number' || Number.isNaN(actual)) continue;
    if (t.decl.activeWhen && !t.decl.activeWhen(input.values)) {
      withinSince[i] = undefined;
      continue;
    }
    const unit = input.units[t.decl.of] ?? '';
    if (Math.abs(actual - target) > t.tolerance) {
      withinSince[i] = undefined;
      // The first target away from its value names the state; later ones keep their progress.
      return result('ramping', squeeze(`${t.decl.of} ${actual} ${unit} → ${t.param} ${target} ${unit}`), recheckAt);
    }
    const since = withinSince[i] ?? input.now;
    withinSince[i] = since;
    const due = since + t.settleMs;
    if (input.now < due) {
      settling = squeeze(`${t.decl.of} within ${t.tolerance} ${unit} of ${target} ${unit}; settling ${Math.ceil((due - input.now) / 1000)} s more`);
      recheckAt = recheckAt === undefined ? due : Math.min(recheckAt, due);
    }
  }
  if (settling !== undefined) return result('stabilizing', settling, recheckAt);
  if (override) return result(override.state, override.text);
  const firstError = input.pollErrors[0];
  if (firstError) return result('warn', `polling ${firstError[0]} failed: ${firstError[1]}`);
  return result('idle', 'idle');
}

function squeeze(text: string): string {
  return text.replace(/ {2}/g, ' ');
}
