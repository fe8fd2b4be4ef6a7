/** `--metrics host:port` and `metrics:` in the lab file: no dependencies, so the config schema can use it. */
import { isIP } from 'node:net';

export interface MetricsAddress {
  host: string;
  port: number;
}

export const METRICS_DEFAULT_HOST = '127.0.0.1';

/**
 * `host:port`, `:port` or `port` (host 127.0.0.1), `[v6]:port`; throws an Error whose message says
 * what was wrong and what is expected. The host must be an IP address or a plain host name.
 */
export function parseMetricsAddress(text: string, what = '--metrics'): MetricsAddress {
  const t = text.trim();
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]*):)?(\d{1,5})$/.exec(t);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? (m[2] || METRICS_DEFAULT_HOST)) : '';
  const hostOk = m !== null && (isIP(host) !== 0 || (m[1] === undefined && /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)));
  if (!m || !Number.isInteger(port) || port > 65535 || !hostOk || (m[1] !== undefined && isIP(host) !== 6)) {
    throw new Error(`${what} "${text}" is not an address to listen on: give host:port, e.g. 127.0.0.1:9464 (or :9464 for 127.0.0.1, [::1]:9464 for IPv6)`);
  }
  return { host, port };
}

