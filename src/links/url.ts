/**
 * The URL grammars of the two built-in link kinds (the registry in registry.ts dispatches on the
 * scheme and knows kinds that families add):
 *
 *   tcp://192.168.1.20:5000            tcp://[fe80::1]:5000
 *   serial:///dev/ttyUSB0?baud=4800&bits=7&parity=even&stop=1&rtscts=1
 *   /dev/ttyUSB0   COM3                (serial, settings from the device's defaults)
 *
 * Every rejection says what is wrong and what was expected, because the person reading it is
 * usually editing a config file with an instrument manual open, not reading this code.
 */
import type { Parity, SerialLinkSpec, SerialSettings, TcpLinkSpec } from './types.js';

export type { SerialLinkSpec, SerialSettings, TcpLinkSpec };

export const DEFAULT_SERIAL_SETTINGS: Readonly<SerialSettings> = Object.freeze({
  baudRate: 9600,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
});

const SERIAL_KEYS = 'baud, bits, parity, stop, rtscts (or baudRate, dataBits, stopBits)';

type SerialKey = 'baudRate' | 'dataBits' | 'parity' | 'stopBits' | 'rtscts';

const QUERY_KEYS: Readonly<Record<string, SerialKey>> = {
  baud: 'baudRate',
  baudrate: 'baudRate',
  bits: 'dataBits',
  databits: 'dataBits',
  parity: 'parity',
  stop: 'stopBits',
  stopbits: 'stopBits',
  rtscts: 'rtscts',
};

const PARITIES: Readonly<Record<string, Parity>> = {
  none: 'none', n: 'none',
  even: 'even', e: 'even',
  odd: 'odd', o: 'odd',
  mark: 'mark', m: 'mark',
  space: 'space', s: 'space',
};

const BOOLEANS: Readonly<Record<string, boolean>> = { '1': true, true: true, '0': false, false: false };

const WINDOWS_PORT = /^(?:\\\\\.\\)?COM\d+$/i;

/** Parses `tcp://host:port` (IPv6 in brackets). */
export function parseTcpUrl(url: string): TcpLinkSpec {
  if (!/^tcp:\/\//i.test(url)) throw new Error(`link URL "${url}" is malformed: expected tcp://host:port`);
  const rest = url.slice('tcp://'.length);
  const m = /^(\[[^\]]*\]|[^:/?#[\]@]*)(?::([^/?#]*))?(.*)$/.exec(rest);
  if (!m) throw new Error(`link URL "${url}" is malformed: expected tcp://host:port`);
  const [, rawHost = '', rawPort, tail = ''] = m;
  if (tail !== '' && tail !== '/') {
    const what = rest.includes('@') ? 'user information' : `"${tail}" after the port`;
    throw new Error(`link URL "${url}" has unexpected ${what}: expected tcp://host:port`);
  }
  let host = rawHost;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!host.includes(':')) throw new Error(`link URL "${url}" has "${rawHost}", which is not an IPv6 address: expected tcp://[ipv6]:port`);
  }
  if (host === '') throw new Error(`link URL "${url}" has no host: expected tcp://host:port`);
  if (rawPort === undefined || rawPort === '') throw new Error(`link URL "${url}" has no port: expected tcp://host:port`);
  if (!/^\d+$/.test(rawPort)) throw new Error(`link URL "${url}" has port "${rawPort}", which is not a number: expected tcp://host:port with a port 1…65535`);
  const port = Number(rawPort);
  if (port < 1 || port > 65535) throw new Error(`link URL "${url}" has port ${rawPort}, out of range: expected a port 1…65535`);
  return { kind: 'tcp', host, port };
}

/** Parses `serial:///dev/ttyUSB0?baud=…`; settings the URL leaves out come from `defaults`, else 9600 8N1. */
export function parseSerialUrl(url: string, defaults: Partial<SerialSettings>): SerialLinkSpec {
  if (!/^serial:\/\//i.test(url)) {
    throw new Error(`link URL "${url}" is malformed: expected serial:///dev/ttyUSB0?baud=9600 (three slashes before an absolute path)`);
  }
  const afterScheme = url.slice('serial://'.length);
  const hashAt = afterScheme.indexOf('#');
  if (hashAt >= 0) throw new Error(`link URL "${url}" has a fragment "${afterScheme.slice(hashAt)}": expected serial:///dev/ttyUSB0?baud=9600`);
  const queryAt = afterScheme.indexOf('?');
  const rawPath = queryAt >= 0 ? afterScheme.slice(0, queryAt) : afterScheme;
  const query = queryAt >= 0 ? afterScheme.slice(queryAt + 1) : '';

  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw new Error(`link URL "${url}" has a badly escaped device path "${rawPath}": expected %XX escapes only`);
  }
  // serial:///COM3 and serial://COM3 both name the Windows port COM3.
  if (path.startsWith('/') && WINDOWS_PORT.test(path.slice(1))) path = path.slice(1);
  if (path === '' || path === '/') {
    throw new Error(`link URL "${url}" has no device path: expected serial:///dev/ttyUSB0?baud=9600`);
  }
  if (!isDevicePath(path)) {
    throw new Error(
      `link URL "${url}" has device path "${path}", which is neither absolute nor relative to "./": expected serial:///dev/ttyUSB0 (three slashes), serial://./ttyX or serial://COM3`,
    );
  }

  const settings = settingsWith(defaults);
  const seen = new Set<SerialKey>();
  for (const part of query === '' ? [] : query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq >= 0 ? part.slice(0, eq) : part;
    const value = eq >= 0 ? decodeQueryValue(part.slice(eq + 1), url) : '';
    const key = QUERY_KEYS[rawKey.toLowerCase()];
    if (key === undefined) throw new Error(`unknown setting "${rawKey}" in link URL "${url}": expected ${SERIAL_KEYS}`);
    if (seen.has(key)) throw new Error(`setting "${rawKey}" given twice in link URL "${url}"`);
    seen.add(key);
    if (value === '') throw new Error(`setting "${rawKey}" has no value in link URL "${url}": expected ${rawKey}=<value>`);
    applySetting(settings, key, value, url);
  }
  return { kind: 'serial', path, ...settings };
}

function decodeQueryValue(value: string, url: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' ')).trim();
  } catch {
    throw new Error(`link URL "${url}" has a badly escaped value "${value}"`);
  }
}

function applySetting(settings: SerialSettings, key: SerialKey, value: string, url: string): void {
  switch (key) {
    case 'baudRate': {
      const baud = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(baud) || baud <= 0) {
        throw new Error(`bad baud rate "${value}" in link URL "${url}": expected a positive whole number such as 4800 or 9600`);
      }
      settings.baudRate = baud;
      return;
    }
    case 'dataBits': {
      if (!/^[5-8]$/.test(value)) throw new Error(`bad data bits "${value}" in link URL "${url}": expected 5, 6, 7 or 8`);
      settings.dataBits = Number(value) as SerialSettings['dataBits'];
      return;
    }
    case 'parity': {
      const parity = PARITIES[value.toLowerCase()];
      if (parity === undefined) throw new Error(`unknown parity "${value}" in link URL "${url}": expected none, even, odd, mark or space`);
      settings.parity = parity;
      return;
    }
    case 'stopBits': {
      if (value !== '1' && value !== '1.5' && value !== '2') throw new Error(`bad stop bits "${value}" in link URL "${url}": expected 1, 1.5 or 2`);
      settings.stopBits = Number(value) as SerialSettings['stopBits'];
      return;
    }
    case 'rtscts': {
      const flag = BOOLEANS[value.toLowerCase()];
      if (flag === undefined) throw new Error(`bad rtscts "${value}" in link URL "${url}": expected 1, 0, true or false`);
      settings.rtscts = flag;
      return;
    }
  }
}

/** A bare serial device path (`/dev/ttyUSB0`, `./pty`, `COM3`) with the defaults' settings, or undefined. */
export function parseSerialPath(text: string, defaults: Partial<SerialSettings>): SerialLinkSpec | undefined {
  return isDevicePath(text) ? { kind: 'serial', path: text, ...settingsWith(defaults) } : undefined;
}

function isDevicePath(path: string): boolean {
  return path.startsWith('/') || path.startsWith('./') || path.startsWith('../') || WINDOWS_PORT.test(path);
}

function settingsWith(defaults: Partial<SerialSettings>): SerialSettings {
  const s: SerialSettings = { ...DEFAULT_SERIAL_SETTINGS };
  // Only defined values override: `{ baudRate: undefined }` from a spread config means "not set".
  if (defaults.baudRate !== undefined) s.baudRate = defaults.baudRate;
  if (defaults.dataBits !== undefined) s.dataBits = defaults.dataBits;
  if (defaults.parity !== undefined) s.parity = defaults.parity;
  if (defaults.stopBits !== undefined) s.stopBits = defaults.stopBits;
  if (defaults.rtscts !== undefined) s.rtscts = defaults.rtscts;
  return s;
}

export function formatTcpUrl(spec: TcpLinkSpec): string {
  const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  return `tcp://${host}:${spec.port}`;
}

export function formatSerialUrl(spec: SerialLinkSpec): string {
  const path = spec.path.replace(/[%?#&\s]/g, (c) => encodeURIComponent(c));
  const query = `baud=${spec.baudRate}&bits=${spec.dataBits}&parity=${spec.parity}&stop=${spec.stopBits}&rtscts=${spec.rtscts ? 1 : 0}`;
  return `serial://${path}?${query}`;
}

/** Short human form of serial settings: `4800 7E1`, with ` RTS/CTS` when hardware flow control is on. */
export function describeSerialSettings(s: SerialSettings): string {
  const parity = s.parity.charAt(0).toUpperCase();
  return `${s.baudRate} ${s.dataBits}${parity}${s.stopBits}${s.rtscts ? ' RTS/CTS' : ''}`;
}
