/** Module derivation from describe documents (the live families are covered in node.test.ts). */
import { describe, expect, it } from 'vitest';
import type { DescribeDoc } from '../../wire/index.js';
import { describeNode, modulesOf } from './modules.js';

const doc = (params: DescribeDoc['params']): DescribeDoc => ({
  name: 'psu-1', type: 'x', title: 'a supply', protocol: 'labwire/1', version: 't', readOnly: false,
  params: { hw_connected: { type: 'bool', description: '', readonly: true }, ...params },
  commands: { output_on: { description: 'on', write: true, args: {} }, snap: { description: 'bytes', write: false, args: {}, binary: true } },
});

describe('modulesOf', () => {
  it('one settable number without a declared target is a Writable target', () => {
    const [m] = modulesOf(doc({
      voltage: { type: 'float', unit: 'V', min: 0, max: 30, description: 'set voltage', readonly: false },
      measured: { type: 'float', unit: 'V', description: 'read back', readonly: true },
      mode: { type: 'enum', values: ['cv', 'cc'], description: '', readonly: false },
    }));
    expect(m!.name).toBe('psu_1');
    expect(m!.className).toBe('Writable');
    expect(m!.params.get('target')!.labwire).toBe('voltage');
    expect(m!.params.get('value')!.labwire).toBe('measured');
    expect(m!.params.get('mode')!.labwire).toBe('mode'); // predefined name: no _ prefix
    expect([...m!.commands.keys()]).toEqual(['_output_on']); // a binary command has no SECoP form
    const d = describeNode('lab', 'x', [m!]) as { modules: Record<string, { interface_classes: string[] }> };
    expect(d.modules.psu_1!.interface_classes).toEqual(['Writable', 'Readable']);
  });

  it('two settable numbers and no declared target: Readable, both custom parameters', () => {
    const [m] = modulesOf(doc({
      frequency: { type: 'float', description: '', readonly: false },
      amplitude: { type: 'float', description: '', readonly: false },
    }));
    expect(m!.className).toBe('Readable');
    expect(m!.params.has('_amplitude')).toBe(true);
    expect(m!.params.get('_frequency')!.readonly).toBe(false);
    expect(m!.params.get('value')!.labwire).toBe('frequency');
  });
});
