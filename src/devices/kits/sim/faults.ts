/**
 * The fault switches of a simulator: the standard set (`linkDrop`, `garble`, `silence`, the same
 * names on every family) plus a family's own, one `set(name, on)` for all of them, and one-shot
 * garbling of the next n replies. A link drop closes the TCP clients through the SimHost.
 */
import { STANDARD_FAULTS, type StandardFault } from '../../../daemon/api.js';

export { STANDARD_FAULTS, type StandardFault };

export interface SimFaultsOptions<F extends string> {
  /** The family's own faults, in the order `active` lists them (after the standard ones). */
  extra?: readonly F[];
  /** Old names still accepted (`silent` → `silence`). */
  aliases?: Readonly<Record<string, StandardFault | NoInfer<F>>>;
  /** Called after a switch changes, e.g. to stop a unit on an alarm. */
  onChange?: (fault: StandardFault | NoInfer<F>, active: boolean) => void;
  /** Closes every TCP client (SimHost.dropTcpClients). */
  dropClients?: () => void;
  /** The family's name in error messages (`the Julabo simulator`). */
  what?: string;
}

export class SimFaults<F extends string = never> {
  private readonly on = new Set<StandardFault | F>();
  private readonly names: readonly (StandardFault | F)[];
  private garbleLeft = 0;

  constructor(private readonly options: SimFaultsOptions<F> = {}) {
    this.names = [...STANDARD_FAULTS, ...(options.extra ?? [])];
  }

  /** The canonical name of a fault or alias; undefined if the simulator has no such fault. */
  resolve(name: string): StandardFault | F | undefined {
    const canonical = this.options.aliases?.[name] ?? name;
    return (this.names as readonly string[]).includes(canonical) ? (canonical as StandardFault | F) : undefined;
  }

  set(name: StandardFault | F | string, active: boolean): void {
    const fault = this.resolve(name);
    if (fault === undefined) {
      throw new Error(`unknown fault ${JSON.stringify(name)} for ${this.options.what ?? 'this simulator'}; it has ${this.names.join(', ')}`);
    }
    if (active) this.on.add(fault);
    else this.on.delete(fault);
    if (active && fault === 'linkDrop') this.options.dropClients?.();
    this.options.onChange?.(fault, active);
  }

  has(name: StandardFault | F): boolean {
    return this.on.has(name);
  }

  /** Active faults in declared order, standard ones first. */
  get active(): (StandardFault | F)[] {
    return this.names.filter((n) => this.on.has(n));
  }

  /** New TCP clients are refused (a pulled cable). */
  get refusing(): boolean {
    return this.on.has('linkDrop');
  }

  /** The unit hears nothing: a pulled cable or silence. */
  get deaf(): boolean {
    return this.on.has('linkDrop') || this.on.has('silence');
  }

  /** The next n replies arrive garbled, whatever the `garble` switch says. */
  garbleNext(n = 1): void {
    this.garbleLeft += Math.max(0, n);
  }

  /** Whether this reply is to be garbled; consumes one of garbleNext's. */
  takeGarble(): boolean {
    if (this.garbleLeft > 0) {
      this.garbleLeft--;
      return true;
    }
    return this.on.has('garble');
  }
}

/** Line noise on a text reply: reversed, with characters no instrument sends. */
export function garbleText(reply: string, tail = '?\x7f'): string {
  return `#${[...reply].reverse().join('')}${tail}`;
}
