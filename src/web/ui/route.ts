/// <reference lib="dom" />
/**
 * Where the page is, kept in the URL's fragment so that every view can be bookmarked, shared and
 * reloaded: `#/` (overview), `#/devices`, `#/device/<name>`, `#/alarms`, `#/history?…`, `#/log`,
 * `#/console`. A view's own state (the history explorer's series and range, the log's filter)
 * travels in the query part. Device names are percent-encoded as one path segment, so a name is
 * never re-derived by splitting a string on a dot or a slash.
 */
import { useEffect, useState } from 'preact/hooks';

export const VIEWS = ['overview', 'devices', 'device', 'alarms', 'history', 'log', 'console'] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  view: View;
  /** The device of the `device` view. */
  device?: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '').replace(/^\//, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const [first = '', ...rest] = path.split('/');
  if (first === 'device' && rest.length > 0) {
    try {
      return { view: 'device', device: decodeURIComponent(rest.join('/')), params };
    } catch {
      return { view: 'overview', params };
    }
  }
  const view = (VIEWS as readonly string[]).includes(first) && first !== 'device' ? (first as View) : 'overview';
  return { view, params };
}

export function routeHref(view: View, opts: { device?: string; params?: URLSearchParams | Record<string, string> } = {}): string {
  const path = view === 'device' ? `device/${encodeURIComponent(opts.device ?? '')}` : view === 'overview' ? '' : view;
  const params = opts.params instanceof URLSearchParams ? opts.params : new URLSearchParams(opts.params ?? {});
  const query = params.toString();
  return `#/${path}${query ? `?${query}` : ''}`;
}

/** The query each view had when last shown: its tab goes back there (the History tab to the picked series). */
const lastQuery = new Map<View, string>();

/** The current route, remembered as its view's last query. */
function currentRoute(): Route {
  const r = parseRoute(location.hash);
  lastQuery.set(r.view, r.params.toString());
  return r;
}

/** Forgets every view's last query (the person at the page changed). */
export function forgetViews(): void {
  lastQuery.clear();
}

/** The link of a view's tab: the view as it was last shown on this page, or its default. */
export function tabHref(view: View): string {
  return routeHref(view, { params: new URLSearchParams(lastQuery.get(view) ?? '') });
}

const listeners = new Set<() => void>();
let listening = false;
function notify(): void {
  for (const l of listeners) l();
}

/**
 * Goes to a route. `replace` rewrites the current history entry instead of adding one: for state
 * that changes as the user works (a dragged range, a typed filter), so Back leaves the view.
 */
export function navigate(href: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) {
    history.replaceState(history.state, '', href);
    notify();
  } else {
    location.hash = href.replace(/^#/, '');
  }
}

/** The current route, re-rendering on every change (links, Back/Forward, `navigate`). */
export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(currentRoute);
  useEffect(() => {
    if (!listening) {
      listening = true;
      window.addEventListener('hashchange', notify);
    }
    const l = (): void => setRoute(currentRoute());
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return route;
}
