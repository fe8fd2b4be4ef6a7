import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLabConfig } from './lab.js';

const lab = (mqtt: string, daemon = 'chiller'): string =>
  ['simulators:', '  - { name: bath, type: julabo }', 'daemons:', `  - { name: ${daemon}, type: julabo, link: "sim:bath" }`, 'mqtt:', ...mqtt.split('\n').map((l) => `  ${l}`), ''].join('\n');
const parse = (text: string) => parseLabConfig(text, '/labs/a/lab.yaml', '/labs/a');

describe('the lab file’s mqtt section', () => {
  it('has defaults and resolves the password file against the lab file', () => {
    const c = parse(lab('url: mqtt://127.0.0.1:1883\nusername: bridge\npasswordFile: secrets/pw\nusers: { alice: operator }'));
    expect(c.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:1883', prefix: 'labwire', protocolVersion: 5, queue: 10000, discovery: false, users: { alice: 'operator' } });
    expect(c.mqtt!.passwordFile).toBe(path.resolve('/labs/a', 'secrets/pw'));
  });

  it('refuses a password in the URL, a wildcard in the prefix, an unknown role, and a device called bridge', () => {
    expect(() => parse(lab('url: mqtt://u:secret@127.0.0.1:1883'))).toThrow(/password in the URL/);
    expect(() => parse(lab('url: mqtt://127.0.0.1:1883\nprefix: lab/+'))).toThrow(/topic levels/);
    expect(() => parse(lab('url: mqtt://127.0.0.1:1883\nusers: { alice: root }'))).toThrow(/users/);
    expect(() => parse(lab('url: mqtt://127.0.0.1:1883', 'bridge'))).toThrow(/named "bridge"/);
    expect(() => parse(lab('url: http://127.0.0.1:1883'))).toThrow(/mqtt:\/\/host:port/);
  });
});
