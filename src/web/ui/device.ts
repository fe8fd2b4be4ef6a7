/// <reference lib="dom" />
/**
 * One device: connection, state, live values with units (marked when not live), its plots, its
 * images, its programme and its forms. A large device's parameters fold into groups (a channel,
 * a loop: groups.ts) with a filter box over values and settings.
 */
import { h, type ComponentChild } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import type { DeviceView } from '../views.js';
import { CommandForm, ParamForm } from './forms.js';
import { fmtClock, fmtValue, slug } from './format.js';
import { freshness, freshnessClass, freshnessTitle, type Freshness } from './freshness.js';
import { groupOf, groupParams, matchesFilter, shortName, type ParamGroup } from './groups.js';
import { live } from './live.js';
import { ImagesPanel, isImageSource } from './images.js';
import { LivePlot } from './plot.js';
import { ProgrammePanel, programmableParams } from './programme.js';

const HEADER_PARAMS = new Set(['state', 'state_text']);

export function stateClass(state: string | null): string {
  switch (state) {
    case 'idle':
      return 'st-idle';
    case 'busy':
    case 'ramping':
    case 'stabilizing':
      return 'st-busy';
    case 'warn':
      return 'st-warn';
    case 'error':
      return 'st-error';
    default:
      return 'st-other';
  }
}

/**
 * Ungrouped rows shown before the rest fold away: a CCD controller reports some 200 values (every
 * module's inventory, rails, buffers), which would push its images and plots a screen's length down.
 */
export const SHOWN_VALUES = 24;

/** From this many values on, the card offers a filter box. */
const FILTER_FROM = 16;

/**
 * Whether the page still hears the monitor. Only a change of it re-renders a card (the card is
 * memoised per device, and every device's update would re-render all of them otherwise).
 */
function useOnline(): boolean {
  const [online, setOnline] = useState(live.state.online);
  useEffect(() => {
    setOnline(live.state.online);
    return live.subscribe(() => setOnline(live.state.online));
  }, []);
  return online;
}

interface CardContext {
  d: DeviceView;
  id: string;
  fresh: Freshness;
}

function valueRows(c: CardContext, names: readonly string[], group: string | null): ComponentChild[] {
  const { d, id, fresh } = c;
  const stale = freshnessClass(fresh);
  return names.map((k) =>
    h('tr', { title: group ? `${k}: ${d.describe?.params[k]?.description ?? ''}` : d.describe?.params[k]?.description }, [
      h('th', { scope: 'row' }, group ? shortName(k, group) : k),
      h(
        'td',
        { class: `v${stale ? ` ${stale}` : ''}`, 'data-testid': `value-${id}-${slug(k)}`, 'data-fresh': fresh, title: freshnessTitle(fresh, d.ts[k] ? fmtClock(d.ts[k]) : undefined) },
        fmtValue(d.values[k]),
      ),
      h('td', { class: 'u' }, d.units[k] ?? ''),
      h('td', { class: 't muted' }, d.ts[k] ? fmtClock(d.ts[k]) : ''),
    ]),
  );
}

function table(c: CardContext, rows: readonly string[], label: string, group: string | null): ComponentChild {
  return h('table', { class: 'values', 'aria-label': label }, [h('tbody', null, valueRows(c, rows, group))]);
}

/** The ungrouped values in a table; when there are many (and no filter), the rest in a folded one below it. */
function topTables(c: CardContext, names: readonly string[], filtering: boolean): ComponentChild[] {
  if (names.length === 0) return [];
  const shown = !filtering && names.length > SHOWN_VALUES + 4 ? names.slice(0, SHOWN_VALUES) : names;
  const folded = names.slice(shown.length);
  return [
    table(c, shown, `${c.d.name} values`, null),
    folded.length
      ? h('details', { class: 'more-values', 'data-testid': `more-values-${c.id}` }, [h('summary', null, `${folded.length} more values`), table(c, folded, `${c.d.name} more values`, null)])
      : null,
  ];
}

interface Settings {
  show: boolean;
  writable: ReadonlySet<string>;
}

function settingForms(c: CardContext, names: readonly string[], group: string | null): ComponentChild[] {
  const params = c.d.describe?.params ?? {};
  return names.map((n) => h(ParamForm, { key: n, device: c.d.name, name: n, d: params[n]!, current: c.d.values[n], label: group ? shortName(n, group) : n, fresh: c.fresh, lastSeen: c.d.ts[n] ? fmtClock(c.d.ts[n]) : undefined }));
}

/** How many of a group's first values its folded line shows: a channel's temperature, a loop's setpoint and temperature. */
const GLANCE = 2;

/** The group's first values, on its folded line: what a glance at a folded channel should tell. */
function glance(c: CardContext, group: ParamGroup): ComponentChild[] {
  const stale = freshnessClass(c.fresh);
  return group.members
    .filter((n) => c.d.values[n] !== undefined && c.d.values[n] !== null && c.d.values[n] !== '')
    .slice(0, GLANCE)
    .map((n) => h('span', { class: `glance${stale ? ` ${stale}` : ''}`, title: n }, [h('span', { class: 'muted' }, `${shortName(n, group.name)} `), h('b', { class: 'v' }, fmtValue(c.d.values[n])), c.d.units[n] ? ` ${c.d.units[n]}` : '']));
}

/**
 * One group (a channel, a loop, an output): its values, then its settings as one compact row
 * each. Folded unless opened, or unless a filter matches something in it.
 */
function GroupFold(props: { c: CardContext; group: ParamGroup; settings: Settings; filter: string; open: boolean; onToggle: (open: boolean) => void }): ComponentChild {
  const { c, group, settings, filter } = props;
  const gid = `${c.id}-${slug(group.name)}`;
  const values = filter ? group.members.filter((n) => matchesFilter(n, filter)) : group.members;
  const forms = settings.show ? values.filter((n) => settings.writable.has(n)) : [];
  if (filter && values.length === 0) return null;
  const count = `${values.length}${filter ? ` of ${group.members.length}` : ''} value${group.members.length === 1 ? '' : 's'}${forms.length ? ` · ${forms.length} setting${forms.length === 1 ? '' : 's'}` : ''}`;
  return h('details', { class: 'vgroup', open: props.open || filter !== '', 'data-testid': `group-${gid}`, onToggle: (e: Event) => {
      // While a filter opens the groups it matches, their toggles are its, not the user's.
      if (filter === '') props.onToggle((e.currentTarget as HTMLDetailsElement).open);
    } }, [
    h('summary', null, [h('span', { class: 'gname' }, group.name), ...glance(c, group), h('span', { class: 'gcount muted' }, count)]),
    table(c, values, `${c.d.name} ${group.name} values`, group.name),
    forms.length ? h('div', { class: 'gforms', role: 'group', 'aria-label': `${group.name} settings` }, settingForms(c, forms, group.name)) : null,
  ]);
}

/** Re-rendered only when its device changed (or the page's link to the monitor): live updates replace just that device's object. */
export const DeviceCard = memo(DeviceCardView);

function DeviceCardView(props: { d: DeviceView; canWrite: boolean; readOnly: boolean }): ComponentChild {
  const { d } = props;
  const id = slug(d.name);
  const online = useOnline();
  const [filter, setFilter] = useState('');
  const [openGroups, setOpenGroups] = useState<ReadonlySet<string>>(() => new Set());
  const fresh = freshness(online, d.connected);
  const c: CardContext = { d, id, fresh };
  const params = d.describe ? Object.keys(d.describe.params) : [];
  const names = [...params, ...Object.keys(d.values).filter((k) => !params.includes(k))].filter((k) => !HEADER_PARAMS.has(k));
  const writable = d.describe ? Object.entries(d.describe.params).filter(([, p]) => !p.readonly).map(([n]) => n) : [];
  // A command answering with bytes has no form: its answer cannot be shown as a reply line (the images panel downloads files).
  const commands = d.describe ? Object.entries(d.describe.commands).filter(([, c]) => !c.binary) : [];
  const showForms = props.canWrite && !props.readOnly && !d.describe?.readOnly;
  const grouped = groupParams(names, d.describe?.params);
  const settings: Settings = { show: showForms, writable: new Set(writable) };
  const f = filter.trim();
  const top = f ? grouped.ungrouped.filter((n) => matchesFilter(n, f)) : grouped.ungrouped;
  // A writable parameter the device does not report in its values still gets its form.
  const topSettings = writable.filter((n) => groupOf(n, d.describe?.params[n]) === null && (!f || matchesFilter(n, f)));
  const nothing = f !== '' && top.length === 0 && grouped.groups.every((g) => !g.members.some((n) => matchesFilter(n, f)));
  const toggle = (group: string, open: boolean): void =>
    setOpenGroups((s) => {
      if (s.has(group) === open) return s;
      const next = new Set(s);
      if (open) next.add(group);
      else next.delete(group);
      return next;
    });
  const conn = !online ? 'offline' : d.connected ? 'connected' : 'disconnected';
  const connTitle = !online ? `the page has lost the monitor: the values are the last ones seen${d.connected ? '' : ', and the device was disconnected then'}` : undefined;
  return h('article', { class: `card${d.connected ? '' : ' down'}${isImageSource(d) ? ' imaging' : ''}`, id: `dev-${id}`, 'aria-labelledby': `dev-${id}-title`, 'data-testid': `device-${id}`, 'data-fresh': fresh }, [
    h('header', { class: 'card-head' }, [
      h('h2', { id: `dev-${id}-title` }, d.name),
      h('span', { class: `conn ${online && d.connected ? 'on' : 'off'}${online ? '' : ' unknown'}`, 'data-testid': `conn-${id}`, title: connTitle }, conn),
      d.state ? h('span', { class: `state ${stateClass(d.state)}${fresh === 'live' ? '' : ' stale'}`, 'data-testid': `state-${id}` }, d.state) : null,
    ]),
    h('p', { class: 'sub' }, [
      d.stateText ? h('span', { 'data-testid': `state-text-${id}` }, d.stateText) : null,
      d.describe ? h('span', { class: 'muted' }, ` ${d.describe.title}`) : d.description ? h('span', { class: 'muted' }, ` ${d.description}`) : null,
      !d.connected && d.lastError ? h('span', { class: 'err' }, ` ${d.lastError}`) : null,
    ]),
    fresh !== 'live'
      ? h('p', { class: 'stale-note', role: 'status', 'data-testid': `stale-${id}` }, fresh === 'offline' ? 'Not live: the page has lost the monitor; these are the last values seen.' : 'Not live: the monitor has lost this device; these are its last values.')
      : null,
    names.length >= FILTER_FROM || grouped.groups.length > 0
      ? h('div', { class: 'vfilter' }, [
          h('input', {
            type: 'search',
            value: filter,
            placeholder: `filter ${names.length} values by name`,
            'aria-label': `Filter ${d.name} values and settings`,
            'data-testid': `filter-${id}`,
            onInput: (e: Event) => setFilter((e.target as HTMLInputElement).value),
          }),
          nothing ? h('span', { class: 'muted', 'data-testid': `filter-none-${id}` }, 'nothing matches') : null,
        ])
      : null,
    ...topTables(c, top, f !== ''),
    grouped.groups.length
      ? h('div', { class: 'vgroups' }, grouped.groups.map((g) => h(GroupFold, { key: g.name, c, group: g, settings, filter: f, open: openGroups.has(g.name), onToggle: (o: boolean) => toggle(g.name, o) })))
      : null,
    // A camera's card leads with its frame: what its users look at first.
    isImageSource(d) ? h(ImagesPanel, { device: d.name, connected: d.connected, values: d.values }) : null,
    d.plots.length ? h('div', { class: 'plots' }, d.plots.map((p) => h(LivePlot, { key: p.id, device: d.name, plot: p }))) : null,
    d.protocol === 'labwire' && d.describe && programmableParams(d.describe).length > 0
      ? h(ProgrammePanel, { device: d.name, connected: d.connected, fresh, describe: d.describe, units: d.units, canWrite: showForms })
      : null,
    showForms && topSettings.length
      ? h('section', { class: 'forms', 'aria-label': `${d.name} settings` }, [h('h3', null, 'Settings'), ...settingForms(c, topSettings, null)])
      : null,
    showForms && commands.length
      ? h('section', { class: 'forms cmds', 'aria-label': `${d.name} commands` }, [
          h('h3', null, 'Commands'),
          h('div', { class: 'cmd-list' }, commands.map(([name, cmd]) => h(CommandForm, { key: name, device: d.name, name, cmd }))),
        ])
      : null,
  ]);
}
