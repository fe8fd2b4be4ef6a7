import { afterEach, describe, expect, it } from 'vitest';
import { registerLinkKind, type LinkKind } from '../links/registry.js';
import { parseLabConfig } from './lab.js';

const lab = (link: string): string => `
simulators:
  - { name: bath, type: julabo }
daemons:
  - { name: chiller, type: julabo, link: "${link}" }
`;

const removals: Array<() => void> = [];
afterEach(() => {
  while (removals.length > 0) removals.pop()!();
});

describe('lab config: daemon links are checked with the link registry', () => {
  it('accepts every registered form, sim: and auto', () => {
    for (const link of ['tcp://127.0.0.1:5000', 'serial:///dev/ttyUSB0?baud=4800', '/dev/ttyUSB0', 'sim:bath', 'auto']) {
      expect(parseLabConfig(lab(link), 'lab.yaml', '/tmp').daemons[0]!.link).toBe(link);
    }
  });

  it('names the daemon, the mistake and the known schemes', () => {
    expect(() => parseLabConfig(lab('udp://h:1'), 'lab.yaml', '/tmp')).toThrow(/daemons\.0\.link.*unknown scheme "udp".*known schemes: tcp, serial/s);
    expect(() => parseLabConfig(lab('tcp://h'), 'lab.yaml', '/tmp')).toThrow(/has no port/);
  });

  it('knows a kind a family registered', () => {
    const kind: LinkKind = {
      scheme: 'testbus',
      example: 'testbus://host:port/address',
      parse: (url) => ({ kind: 'testbus', url }),
      create: () => {
        throw new Error('not opened in this test');
      },
      format: (spec) => String(spec['url']),
    };
    expect(() => parseLabConfig(lab('testbus://h:1/4'), 'lab.yaml', '/tmp')).toThrow(/unknown scheme "testbus"/);
    removals.push(registerLinkKind(kind));
    expect(parseLabConfig(lab('testbus://h:1/4'), 'lab.yaml', '/tmp').daemons[0]!.link).toBe('testbus://h:1/4');
  });
});
