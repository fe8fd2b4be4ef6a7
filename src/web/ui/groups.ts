/**
 * How a device card sorts its parameters into groups: the group a parameter declares in
 * `describe`, else the prefix of its name before the first '.' (labwire's naming convention:
 * `chA.temperature`, `loop1.setpoint`). A parameter without either stays ungrouped, on top.
 * The group is only a display key: the full name is what the card sends and shows in titles.
 * Pure, so the page's grouping and filtering are unit-tested without a browser.
 */
import type { ParamDescription } from '../../wire/types.js';

export interface ParamGroup {
  name: string;
  /** Full parameter names, in describe's (status) order. */
  members: string[];
}

export interface Grouped {
  ungrouped: string[];
  groups: ParamGroup[];
}

export function groupOf(name: string, d: ParamDescription | undefined): string | null {
  if (d?.group) return d.group;
  const dot = name.indexOf('.');
  return dot > 0 && dot < name.length - 1 ? name.slice(0, dot) : null;
}

/** Groups in order of their first member; a group of one stays a group (a lone `loop2.x` is still loop 2's). */
export function groupParams(names: readonly string[], params: Readonly<Record<string, ParamDescription>> | undefined): Grouped {
  const ungrouped: string[] = [];
  const byName = new Map<string, ParamGroup>();
  for (const n of names) {
    const g = groupOf(n, params?.[n]);
    if (g === null) {
      ungrouped.push(n);
      continue;
    }
    let group = byName.get(g);
    if (!group) {
      group = { name: g, members: [] };
      byName.set(g, group);
    }
    group.members.push(n);
  }
  return { ungrouped, groups: [...byName.values()] };
}

/** The name shown inside its group: `temperature` under `chA` for `chA.temperature`. */
export function shortName(name: string, group: string): string {
  return name.startsWith(`${group}.`) ? name.slice(group.length + 1) : name;
}

/**
 * Whether a parameter passes the card's filter: every word of the filter occurs in its full name
 * (case-insensitive), so `loop1 set` finds `loop1.setpoint` and `temp` every temperature.
 */
export function matchesFilter(name: string, filter: string): boolean {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const n = name.toLowerCase();
  return words.every((w) => n.includes(w));
}
