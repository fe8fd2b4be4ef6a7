/**
 * The registry of link kinds, keyed by URL scheme. tcp:// and serial:// are registered here the
 * same way a family or kit registers its own (gpib://host:port/addr for an instrument behind a bus
 * daemon), so the runner, the CLI, the lab file and config validation know every kind without a
 * closed list. A kit registers its kind when its module loads; devices/index.ts imports the
 * families, so anything that resolves a device type also knows the kinds they bring.
 */
import { serialLinkKind } from './serial.js';
import { tcpLinkKind } from './tcp.js';
import type { Link, LinkSpec, SerialSettings } from './types.js';

export interface CreateLinkOptions {
  /** TCP (and kinds that connect over TCP): give up connecting after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
}

export interface LinkParseContext {
  /** Serial settings a URL leaves out: the device family's manual settings. Other kinds ignore them. */
  serialDefaults: Partial<SerialSettings>;
}

/** One kind of link: how its URL reads and writes, and how to make the Link. */
export interface LinkKind<S extends LinkSpec = LinkSpec> {
  /** The URL scheme, lower case; also the `kind` of every spec this kind parses. */
  scheme: string;
  /** The URL form shown in error messages, e.g. `tcp://host:port`. */
  example: string;
  /**
   * Parses a URL whose scheme is this kind's (in any case). Throws an Error that quotes the URL,
   * says what is wrong and what was expected.
   */
  parse(url: string, context: LinkParseContext): S;
  /** Text without a scheme that names a link of this kind (a serial device path), else undefined. */
  parseBare?(text: string, context: LinkParseContext): S | undefined;
  /** How bare text of this kind looks, for error messages: `a device path such as /dev/ttyUSB0 or COM3`. */
  bareExample?: string;
  /** A closed Link for the spec. */
  create(spec: S, options: CreateLinkOptions): Link;
  /** The canonical URL: `parse(format(s))` gives `s` back. */
  format(spec: S): string;
  /** Short form for people, e.g. `/dev/ttyUSB0 4800 7E1`. Default: the canonical URL. */
  describe?(spec: S): string;
}

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const kinds = new Map<string, LinkKind>();

/**
 * Adds a link kind. Registering the same kind object again is harmless (a module evaluated twice);
 * a different kind for a taken scheme is an error, since two families cannot both own `gpib://`.
 * Returns a function that removes the kind again (for tests).
 */
export function registerLinkKind<S extends LinkSpec>(kind: LinkKind<S>): () => void {
  if (!SCHEME.test(kind.scheme) || kind.scheme.length < 2) {
    throw new Error(`link kind scheme "${kind.scheme}" is not valid: expected lower-case letters, digits, + . - (at least two characters, so "C:" stays a Windows path)`);
  }
  // The registry hands a kind only specs whose `kind` is its scheme, which its own parse made.
  const erased = kind as unknown as LinkKind;
  const existing = kinds.get(kind.scheme);
  if (existing !== undefined && existing !== erased) {
    throw new Error(`link scheme "${kind.scheme}" is already registered by another link kind`);
  }
  kinds.set(kind.scheme, erased);
  return () => {
    if (kinds.get(kind.scheme) === erased) kinds.delete(kind.scheme);
  };
}

/** Schemes in registration order: `tcp, serial, …`. */
export function knownLinkSchemes(): string[] {
  return [...kinds.keys()];
}

function expectedForms(): string {
  const forms = [...kinds.values()].map((k) => k.example);
  const bare = [...kinds.values()].flatMap((k) => (k.bareExample !== undefined ? [k.bareExample] : []));
  const all = [...forms, ...bare];
  if (all.length <= 1) return `expected ${all.join('')}`;
  return `expected ${all.slice(0, -1).join(', ')} or ${all[all.length - 1]!}`;
}

function kindOf(spec: LinkSpec, what: string): LinkKind {
  const kind = kinds.get(spec.kind);
  if (kind === undefined) {
    throw new Error(`cannot ${what} a "${spec.kind}" link: no such link kind is registered; known kinds: ${knownLinkSchemes().join(', ')}`);
  }
  return kind;
}

/**
 * Parses a link URL (any registered scheme) or bare text a kind claims, such as a device path.
 * Serial settings missing from the URL come from `serialDefaults` (typically the device family's
 * manual settings), else 9600 8N1 without flow control.
 */
export function parseLinkUrl(url: string, serialDefaults: Partial<SerialSettings> = {}): LinkSpec {
  const text = url.trim();
  if (text === '') throw new Error(`link URL is empty: ${expectedForms()}`);
  const context: LinkParseContext = { serialDefaults };

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  // "C:" would look like a scheme; Windows ports are COMn, so a one-letter scheme is not one.
  if (scheme && scheme[1] !== undefined && scheme[1].length > 1) {
    const kind = kinds.get(scheme[1].toLowerCase());
    if (kind !== undefined) return kind.parse(text, context);
    // `host:5000` is a forgotten scheme, not a scheme called "host".
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) || !/^[^:]*:\d+$/.test(text)) {
      throw new Error(`unknown scheme "${scheme[1]}" in link URL "${text}": ${expectedForms()} (known schemes: ${knownLinkSchemes().join(', ')})`);
    }
  }
  for (const kind of kinds.values()) {
    const spec = kind.parseBare?.(text, context);
    if (spec !== undefined) return spec;
  }
  if (/^[^/:]+:\d+$/.test(text) && kinds.has('tcp')) {
    throw new Error(`link URL "${text}" has no scheme: expected tcp://${text} for a TCP link`);
  }
  throw new Error(`link URL "${text}" is neither a URL nor a device path: ${expectedForms()}`);
}

/** The canonical URL of a spec; `parseLinkUrl(formatLinkSpec(s))` gives `s` back. */
export function formatLinkSpec(spec: LinkSpec): string {
  return kindOf(spec, 'format').format(spec);
}

/** The short form for people: the kind's own, else the canonical URL. */
export function describeLinkSpec(spec: LinkSpec): string {
  const kind = kindOf(spec, 'describe');
  return kind.describe?.(spec) ?? kind.format(spec);
}

/** A closed Link for the spec; call `open()` (or hand a factory to an Exchange). */
export function createLink(spec: LinkSpec, options: CreateLinkOptions = {}): Link {
  return kindOf(spec, 'open').create(spec, options);
}

registerLinkKind(tcpLinkKind);
registerLinkKind(serialLinkKind);
