import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LinkSpec, SerialLinkSpec } from './types.js';
import { formatLinkSpec, parseLinkUrl } from './registry.js';
import { describeSerialSettings } from './url.js';

const serial = (path: string, over: Partial<SerialLinkSpec> = {}): LinkSpec => ({
  kind: 'serial',
  path,
  baudRate: 9600,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
  ...over,
});

describe('parseLinkUrl: accepted forms', () => {
  const cases: [string, LinkSpec][] = [
    ['tcp://127.0.0.1:5000', { kind: 'tcp', host: '127.0.0.1', port: 5000 }],
    ['tcp://cryocon.lab:5000/', { kind: 'tcp', host: 'cryocon.lab', port: 5000 }],
    ['TCP://Host:1', { kind: 'tcp', host: 'Host', port: 1 }],
    ['tcp://[::1]:65535', { kind: 'tcp', host: '::1', port: 65535 }],
    ['tcp://[fe80::1%eth0]:5000', { kind: 'tcp', host: 'fe80::1%eth0', port: 5000 }],
    ['  tcp://h:7  ', { kind: 'tcp', host: 'h', port: 7 }],
    ['serial:///dev/ttyUSB0', serial('/dev/ttyUSB0')],
    [
      'serial:///dev/ttyUSB0?baud=4800&bits=7&parity=even&stop=1&rtscts=1',
      serial('/dev/ttyUSB0', { baudRate: 4800, dataBits: 7, parity: 'even', rtscts: true }),
    ],
    ['serial:///dev/ttyS1?baudRate=19200&dataBits=7&stopBits=2&parity=o', serial('/dev/ttyS1', { baudRate: 19200, dataBits: 7, stopBits: 2, parity: 'odd' })],
    ['serial:///dev/ttyS1?parity=E&rtscts=true', serial('/dev/ttyS1', { parity: 'even', rtscts: true })],
    ['serial:///dev/ttyS1?parity=n&rtscts=false', serial('/dev/ttyS1')],
    ['serial:///dev/ttyS1?parity=mark&stop=1.5', serial('/dev/ttyS1', { parity: 'mark', stopBits: 1.5 })],
    ['serial:///dev/ttyS1?parity=space&rtscts=0', serial('/dev/ttyS1', { parity: 'space' })],
    ['serial:///dev/ttyS1?BAUD=1200', serial('/dev/ttyS1', { baudRate: 1200 })],
    ['serial:///dev/serial/by-id/usb-FTDI%20Cable-if00', serial('/dev/serial/by-id/usb-FTDI Cable-if00')],
    ['serial://./sim-pty?baud=4800', serial('./sim-pty', { baudRate: 4800 })],
    ['serial://COM3?baud=4800', serial('COM3', { baudRate: 4800 })],
    ['serial:///COM12', serial('COM12')],
    ['/dev/ttyUSB0', serial('/dev/ttyUSB0')],
    ['COM3', serial('COM3')],
    ['./pty-link', serial('./pty-link')],
  ];
  it.each(cases)('%s', (url, expected) => {
    expect(parseLinkUrl(url)).toEqual(expected);
  });

  it('takes missing serial settings from the defaults, URL settings win', () => {
    const julabo = { baudRate: 4800, dataBits: 7, parity: 'even', stopBits: 1, rtscts: true } as const;
    expect(parseLinkUrl('/dev/ttyUSB0', julabo)).toEqual(serial('/dev/ttyUSB0', julabo));
    expect(parseLinkUrl('serial:///dev/ttyUSB0?baud=9600', julabo)).toEqual(serial('/dev/ttyUSB0', { ...julabo, baudRate: 9600 }));
    expect(parseLinkUrl('serial:///dev/ttyUSB0?bits=8&parity=none', { baudRate: 4800 })).toEqual(serial('/dev/ttyUSB0', { baudRate: 4800 }));
    expect(parseLinkUrl('/dev/x', { baudRate: undefined })).toEqual(serial('/dev/x'));
  });
});

describe('parseLinkUrl: rejections say what is wrong and what is expected', () => {
  const cases: [string, RegExp][] = [
    ['', /link URL is empty: expected tcp:\/\/host:port/],
    ['   ', /empty/],
    ['tcp://host', /link URL "tcp:\/\/host" has no port: expected tcp:\/\/host:port/],
    ['tcp://host:', /has no port: expected tcp:\/\/host:port/],
    ['tcp://:5000', /has no host: expected tcp:\/\/host:port/],
    ['tcp://host:http', /port "http", which is not a number/],
    ['tcp://host:0', /port 0, out of range: expected a port 1…65535/],
    ['tcp://host:70000', /port 70000, out of range/],
    ['tcp://host:5000/path', /unexpected "\/path" after the port: expected tcp:\/\/host:port/],
    ['tcp://host:5000?x=1', /unexpected "\?x=1" after the port/],
    ['tcp://user@host:5000', /unexpected user information/],
    ['tcp://[::1:5000', /malformed|unexpected/],
    ['tcp:host:5000', /malformed: expected tcp:\/\/host:port/],
    ['udp://host:5000', /unknown scheme "udp" in link URL "udp:\/\/host:5000": expected tcp:\/\/host:port, serial:\/\/\/dev\/ttyUSB0/],
    ['http://host', /unknown scheme "http"/],
    ['localhost:5000', /has no scheme: expected tcp:\/\/localhost:5000/],
    ['ttyUSB0', /neither a URL nor a device path: expected/],
    ['serial://', /has no device path: expected serial:\/\/\/dev\/ttyUSB0/],
    ['serial:///', /has no device path/],
    ['serial:///?baud=4800', /has no device path/],
    ['serial://dev/ttyUSB0', /"dev\/ttyUSB0", which is neither absolute nor relative.*three slashes/],
    ['serial:/dev/ttyUSB0', /malformed: expected serial:\/\/\/dev\/ttyUSB0/],
    ['serial:///dev/x?parity=x', /unknown parity "x" in link URL "serial:\/\/\/dev\/x\?parity=x": expected none, even, odd, mark or space/],
    ['serial:///dev/x?baud=fast', /bad baud rate "fast".*expected a positive whole number/],
    ['serial:///dev/x?baud=0', /bad baud rate "0"/],
    ['serial:///dev/x?baud=-9600', /bad baud rate/],
    ['serial:///dev/x?baud=96.5', /bad baud rate/],
    ['serial:///dev/x?bits=9', /bad data bits "9".*expected 5, 6, 7 or 8/],
    ['serial:///dev/x?stop=3', /bad stop bits "3".*expected 1, 1.5 or 2/],
    ['serial:///dev/x?rtscts=maybe', /bad rtscts "maybe".*expected 1, 0, true or false/],
    ['serial:///dev/x?speed=4800', /unknown setting "speed" in link URL .*: expected baud, bits, parity, stop, rtscts/],
    ['serial:///dev/x?baud=4800&baudRate=9600', /setting "baudRate" given twice/],
    ['serial:///dev/x?baud', /setting "baud" has no value/],
    ['serial:///dev/x?baud=', /setting "baud" has no value/],
    ['serial:///dev/x#frag', /has a fragment/],
    ['serial:///dev/%zz', /badly escaped device path/],
  ];
  it.each(cases)('%j', (url, message) => {
    expect(() => parseLinkUrl(url)).toThrow(message);
  });
});

describe('formatLinkSpec', () => {
  it('writes canonical URLs', () => {
    expect(formatLinkSpec({ kind: 'tcp', host: '10.0.0.5', port: 5000 })).toBe('tcp://10.0.0.5:5000');
    expect(formatLinkSpec({ kind: 'tcp', host: '::1', port: 5000 })).toBe('tcp://[::1]:5000');
    expect(formatLinkSpec(serial('/dev/ttyUSB0', { baudRate: 4800, dataBits: 7, parity: 'even', rtscts: true }))).toBe(
      'serial:///dev/ttyUSB0?baud=4800&bits=7&parity=even&stop=1&rtscts=1',
    );
    expect(formatLinkSpec(serial('COM3'))).toBe('serial://COM3?baud=9600&bits=8&parity=none&stop=1&rtscts=0');
  });

  it('round-trips through parseLinkUrl', () => {
    const hostChars = fc.constantFrom(...'abcxyz019.-'.split(''));
    const tcp = fc.record({
      kind: fc.constant('tcp' as const),
      host: fc.oneof(
        fc.string({ unit: hostChars, minLength: 1, maxLength: 12 }).filter((h) => !h.includes(':')),
        fc.ipV6(),
        fc.ipV4(),
      ),
      port: fc.integer({ min: 1, max: 65535 }),
    });
    const pathChars = fc.constantFrom(...'abcXYZ019_-./ %?#&+='.split(''));
    const serialSpec = fc.record({
      kind: fc.constant('serial' as const),
      path: fc.oneof(
        fc.string({ unit: pathChars, minLength: 1, maxLength: 20 }).map((p) => `/dev/${p}`),
        fc.string({ unit: pathChars, minLength: 1, maxLength: 20 }).map((p) => `./${p}`),
        fc.integer({ min: 1, max: 256 }).map((n) => `COM${n}`),
      ),
      baudRate: fc.integer({ min: 1, max: 4_000_000 }),
      dataBits: fc.constantFrom(5 as const, 6 as const, 7 as const, 8 as const),
      parity: fc.constantFrom('none' as const, 'even' as const, 'odd' as const, 'mark' as const, 'space' as const),
      stopBits: fc.constantFrom(1 as const, 1.5 as const, 2 as const),
      rtscts: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.oneof(tcp, serialSpec), (spec: LinkSpec) => {
        expect(parseLinkUrl(formatLinkSpec(spec))).toEqual(spec);
      }),
      { numRuns: 300 },
    );
  });

  it('describes serial settings the way manuals write them', () => {
    expect(describeSerialSettings({ baudRate: 4800, dataBits: 7, parity: 'even', stopBits: 1, rtscts: true })).toBe('4800 7E1 RTS/CTS');
    expect(describeSerialSettings({ baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 2, rtscts: false })).toBe('9600 8N2');
  });
});
