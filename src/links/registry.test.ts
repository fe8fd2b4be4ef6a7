import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLink, describeLinkSpec, formatLinkSpec, knownLinkSchemes, parseLinkUrl, registerLinkKind, type LinkKind } from './registry.js';
import { SerialLink } from './serial.js';
import { TcpLink } from './tcp.js';
import type { Link, LinkSpec, WriteHint } from './types.js';

interface BusSpec extends LinkSpec {
  kind: 'testbus';
  host: string;
  port: number;
  address: number;
}

/** A stand-in for a message link such as gpib://: it records the hints the Exchange passes. */
class RecordingLink extends EventEmitter implements Link {
  readonly description: string;
  isOpen = false;
  readonly hints: Array<WriteHint | undefined> = [];
  constructor(readonly spec: BusSpec) {
    super();
    this.description = `instrument ${spec.address} on ${spec.host}:${spec.port}`;
  }
  async open(): Promise<void> {
    this.isOpen = true;
  }
  async write(_data: Buffer, hint?: WriteHint): Promise<void> {
    this.hints.push(hint);
  }
  async flushInput(): Promise<void> {}
  async close(): Promise<void> {
    this.isOpen = false;
  }
}

const busKind: LinkKind<BusSpec> = {
  scheme: 'testbus',
  example: 'testbus://host:port/address',
  parse(url) {
    const m = /^testbus:\/\/([^:/]+):(\d+)\/(\d+)$/i.exec(url);
    if (!m) throw new Error(`link URL "${url}" is malformed: expected testbus://host:port/address`);
    return { kind: 'testbus', host: m[1]!, port: Number(m[2]), address: Number(m[3]) };
  },
  create: (spec) => new RecordingLink(spec),
  format: (spec) => `testbus://${spec.host}:${spec.port}/${spec.address}`,
  describe: (spec) => `instrument ${spec.address} on ${spec.host}:${spec.port}`,
};

const removals: Array<() => void> = [];
afterEach(() => {
  while (removals.length > 0) removals.pop()!();
});

describe('link registry', () => {
  it('registers tcp and serial like any other kind', () => {
    expect(knownLinkSchemes()).toEqual(expect.arrayContaining(['tcp', 'serial']));
    expect(createLink(parseLinkUrl('tcp://127.0.0.1:5000'))).toBeInstanceOf(TcpLink);
    expect(createLink(parseLinkUrl('/dev/ttyUSB0'))).toBeInstanceOf(SerialLink);
    expect(describeLinkSpec(parseLinkUrl('serial:///dev/ttyS0?baud=4800&bits=7&parity=even'))).toBe('/dev/ttyS0 4800 7E1');
    expect(describeLinkSpec(parseLinkUrl('tcp://h:7'))).toBe('tcp://h:7');
  });

  it('parses, formats and creates a kind a family registered', () => {
    expect(() => parseLinkUrl('testbus://127.0.0.1:7020/14')).toThrow(/unknown scheme "testbus".*known schemes: tcp, serial/);
    removals.push(registerLinkKind(busKind));
    const spec = parseLinkUrl('TESTBUS://127.0.0.1:7020/14');
    expect(spec).toEqual({ kind: 'testbus', host: '127.0.0.1', port: 7020, address: 14 });
    expect(formatLinkSpec(spec)).toBe('testbus://127.0.0.1:7020/14');
    expect(parseLinkUrl(formatLinkSpec(spec))).toEqual(spec);
    expect(describeLinkSpec(spec)).toBe('instrument 14 on 127.0.0.1:7020');
    const link = createLink(spec);
    expect(link).toBeInstanceOf(RecordingLink);
    expect(link.spec).toBe(spec);
    // The kind's own rejections reach the caller unchanged.
    expect(() => parseLinkUrl('testbus://127.0.0.1/14')).toThrow(/malformed: expected testbus:\/\/host:port\/address/);
  });

  it('lists a registered kind among the expected forms and known schemes of every rejection', () => {
    removals.push(registerLinkKind(busKind));
    expect(() => parseLinkUrl('udp://h:1')).toThrow(
      /unknown scheme "udp".*expected tcp:\/\/host:port, serial:\/\/\/dev\/ttyUSB0\?baud=9600, testbus:\/\/host:port\/address or a device path.*known schemes: tcp, serial, testbus/,
    );
    expect(() => parseLinkUrl('')).toThrow(/testbus:\/\/host:port\/address/);
  });

  it('removes a kind again, and then refuses its specs with the kinds it knows', () => {
    const remove = registerLinkKind(busKind);
    const spec = parseLinkUrl('testbus://h:1/2');
    remove();
    expect(knownLinkSchemes()).not.toContain('testbus');
    expect(() => createLink(spec)).toThrow(/cannot open a "testbus" link: no such link kind is registered; known kinds: tcp, serial/);
    expect(() => formatLinkSpec({ kind: 'nope' })).toThrow(/cannot format a "nope" link/);
  });

  it('refuses a second kind for a taken scheme and schemes that are not schemes', () => {
    removals.push(registerLinkKind(busKind));
    expect(registerLinkKind(busKind)).toBeTypeOf('function');
    expect(() => registerLinkKind({ ...busKind })).toThrow(/"testbus" is already registered/);
    expect(() => registerLinkKind({ ...busKind, scheme: 'tcp' })).toThrow(/"tcp" is already registered/);
    expect(() => registerLinkKind({ ...busKind, scheme: 'c' })).toThrow(/not valid/);
    expect(() => registerLinkKind({ ...busKind, scheme: 'Bus' })).toThrow(/not valid/);
  });
});
