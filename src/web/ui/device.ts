/// <reference lib="dom" />
/** One device: connection, state, live values with units, its plots, its images, its programme and its forms. */
import { h, type ComponentChild } from 'preact';
import { memo } from 'preact/compat';
import type { DeviceView } from '../views.js';
import { CommandForm, ParamForm } from './forms.js';
import { fmtClock, fmtValue, slug } from './format.js';
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
 * Rows shown before the rest fold away: a CCD controller reports some 200 values (every module's
 * inventory, rails, buffers), which would push its images and plots a screen's length down.
 */
export const SHOWN_VALUES = 24;

function valueRows(d: DeviceView, id: string, names: readonly string[]): ComponentChild[] {
  return names.map((k) =>
    h('tr', { title: d.describe?.params[k]?.description }, [
      h('th', { scope: 'row' }, k),
      h('td', { class: 'v', 'data-testid': `value-${id}-${slug(k)}` }, fmtValue(d.values[k])),
      h('td', { class: 'u' }, d.units[k] ?? ''),
      h('td', { class: 't muted' }, d.ts[k] ? fmtClock(d.ts[k]) : ''),
    ]),
  );
}

/** The first values in a table, the rest (when there are many) in a folded one below it. */
function valueTables(d: DeviceView, id: string, names: readonly string[]): ComponentChild[] {
  const shown = names.length > SHOWN_VALUES + 4 ? names.slice(0, SHOWN_VALUES) : names;
  const folded = names.slice(shown.length);
  const table = (rows: readonly string[], label: string): ComponentChild => h('table', { class: 'values', 'aria-label': label }, [h('tbody', null, valueRows(d, id, rows))]);
  return [
    table(shown, `${d.name} values`),
    folded.length
      ? h('details', { class: 'more-values', 'data-testid': `more-values-${id}` }, [
          h('summary', null, `${folded.length} more values`),
          table(folded, `${d.name} more values`),
        ])
      : null,
  ];
}

/** Re-rendered only when its device changed: live updates replace just that device's object. */
export const DeviceCard = memo(DeviceCardView);

function DeviceCardView(props: { d: DeviceView; canWrite: boolean; readOnly: boolean }): ComponentChild {
  const { d } = props;
  const id = slug(d.name);
  const params = d.describe ? Object.keys(d.describe.params) : [];
  const names = [...params, ...Object.keys(d.values).filter((k) => !params.includes(k))].filter((k) => !HEADER_PARAMS.has(k));
  const writable = d.describe ? Object.entries(d.describe.params).filter(([, p]) => !p.readonly) : [];
  // A command answering with bytes has no form: its answer cannot be shown as a reply line (the images panel downloads files).
  const commands = d.describe ? Object.entries(d.describe.commands).filter(([, c]) => !c.binary) : [];
  const showForms = props.canWrite && !props.readOnly && !d.describe?.readOnly;
  const firstUnit = (plotValues: string[]): string | undefined => plotValues.slice(1).map((v) => d.units[v]).find((u) => u !== undefined);
  return h('article', { class: `card${d.connected ? '' : ' down'}${isImageSource(d) ? ' imaging' : ''}`, id: `dev-${id}`, 'aria-labelledby': `dev-${id}-title`, 'data-testid': `device-${id}` }, [
    h('header', { class: 'card-head' }, [
      h('h2', { id: `dev-${id}-title` }, d.name),
      h('span', { class: `conn ${d.connected ? 'on' : 'off'}`, 'data-testid': `conn-${id}` }, d.connected ? 'connected' : 'disconnected'),
      d.state ? h('span', { class: `state ${stateClass(d.state)}`, 'data-testid': `state-${id}` }, d.state) : null,
    ]),
    h('p', { class: 'sub' }, [
      d.stateText ? h('span', { 'data-testid': `state-text-${id}` }, d.stateText) : null,
      d.describe ? h('span', { class: 'muted' }, ` ${d.describe.title}`) : d.description ? h('span', { class: 'muted' }, ` ${d.description}`) : null,
      !d.connected && d.lastError ? h('span', { class: 'err' }, ` ${d.lastError}`) : null,
    ]),
    ...valueTables(d, id, names),
    // A camera's card leads with its frame: what its users look at first.
    isImageSource(d) ? h(ImagesPanel, { device: d.name, connected: d.connected, values: d.values }) : null,
    d.plots.length ? h('div', { class: 'plots' }, d.plots.map((p) => h(LivePlot, { key: p.id, device: d.name, plot: p, unit: firstUnit(p.values) }))) : null,
    d.protocol === 'labwire' && d.describe && programmableParams(d.describe).length > 0
      ? h(ProgrammePanel, { device: d.name, connected: d.connected, describe: d.describe, units: d.units, canWrite: showForms })
      : null,
    showForms && writable.length
      ? h('section', { class: 'forms', 'aria-label': `${d.name} settings` }, [
          h('h3', null, 'Settings'),
          ...writable.map(([name, p]) => h(ParamForm, { key: name, device: d.name, name, d: p, current: d.values[name] })),
        ])
      : null,
    showForms && commands.length
      ? h('section', { class: 'forms cmds', 'aria-label': `${d.name} commands` }, [
          h('h3', null, 'Commands'),
          h('div', { class: 'cmd-list' }, commands.map(([name, c]) => h(CommandForm, { key: name, device: d.name, name, cmd: c }))),
        ])
      : null,
  ]);
}
