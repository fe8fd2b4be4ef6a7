/**
 * Whether a shown value is current. A value is only as good as the path it came by: when the
 * page's stream from the monitor is down, every value on it is the last one seen; when the
 * monitor has lost the device, that device's values are. Age alone says nothing (a daemon pushes a
 * parameter when it changes, so a steady setpoint is old and right), so it is not used here.
 * The overview and the cards both mark values with `freshnessClass` and explain with
 * `freshnessTitle`, so the two never disagree.
 */
export type Freshness = 'live' | 'offline' | 'disconnected';

export function freshness(online: boolean, connected: boolean): Freshness {
  if (!online) return 'offline';
  return connected ? 'live' : 'disconnected';
}

/** CSS class of a value or card (style.css greys and strikes through what is not live). */
export function freshnessClass(f: Freshness): string {
  return f === 'live' ? '' : `stale stale-${f}`;
}

export function freshnessTitle(f: Freshness, lastSeen: string | undefined): string | undefined {
  const at = lastSeen ? ` (last value at ${lastSeen})` : '';
  if (f === 'offline') return `not live: the page has lost the monitor${at}`;
  if (f === 'disconnected') return `not live: the monitor has lost this device${at}`;
  return undefined;
}
