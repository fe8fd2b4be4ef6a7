import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, parseYamlConfig } from './yaml.js';

const schema = z.object({
  simulators: z.array(z.object({ name: z.string(), listen: z.string().regex(/^[^:]*:\d+$/, 'expected host:port') }).strict()),
});

describe('parseYamlConfig', () => {
  it('returns the validated data', () => {
    expect(parseYamlConfig('simulators:\n  - name: a\n    listen: 127.0.0.1:5000\n', 'sims.yaml', schema)).toEqual({
      simulators: [{ name: 'a', listen: '127.0.0.1:5000' }],
    });
  });

  it('names file, line, path and what is expected', () => {
    const text = 'simulators:\n  - name: a\n    listen: nowhere\n  - name: b\n    listen: 127.0.0.1:1\n    colour: red\n';
    let err: unknown;
    try {
      parseYamlConfig(text, 'sims.yaml', schema);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems[0]).toBe('3:13: simulators.0.listen: expected host:port');
    expect(problems[1]).toMatch(/^4:5: simulators\.1: Unrecognized key.*colour/);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(() => parseYamlConfig('simulators: [\n  - a\n', 'bad.yaml', schema)).toThrow(/^bad\.yaml: (\d+ problems:\n {2})?\d+:\d+: /);
  });
});
