/// <reference lib="dom" />
/**
 * The page's tabs: every view one click away (route.ts keeps where the page is in the URL
 * fragment). The Alarms tab counts what needs a person; a device's own view belongs to Devices.
 */
import { h, type ComponentChild } from 'preact';
import type { AlarmState } from '../../monitor/types.js';
import { needsAttention } from './alarms.js';
import { tabHref, type View } from './route.js';

export interface Tab {
  view: Exclude<View, 'device'>;
  label: string;
}

export const TABS: readonly Tab[] = [
  { view: 'overview', label: 'Overview' },
  { view: 'devices', label: 'Devices' },
  { view: 'alarms', label: 'Alarms' },
  { view: 'history', label: 'History' },
  { view: 'log', label: 'Log' },
  { view: 'console', label: 'Console' },
];

/** The tab a view is shown under. */
export function tabOf(view: View): Tab['view'] {
  return view === 'device' ? 'devices' : view;
}

export function viewLabel(view: View): string {
  return TABS.find((t) => t.view === tabOf(view))?.label ?? '';
}

export function Nav(props: { view: View; alarms: AlarmState[] }): ComponentChild {
  const current = tabOf(props.view);
  const active = props.alarms.filter(needsAttention).length;
  return h('nav', { class: 'tabs', 'aria-label': 'Views' },
    TABS.map((t) =>
      h('a', { key: t.view, href: tabHref(t.view), class: `tab${t.view === current ? ' current' : ''}`, 'aria-current': t.view === current ? 'page' : undefined, 'data-testid': `nav-${t.view}` }, [
        t.label,
        t.view === 'alarms' && active > 0 ? h('span', { class: 'count', 'data-testid': 'nav-alarms-count', title: `${active} alarm${active === 1 ? '' : 's'} raised or acknowledged` }, String(active)) : null,
      ]),
    ));
}
