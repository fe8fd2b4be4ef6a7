/** `labwire secop` argument handling, in-process (the node itself is tested in node.test.ts). */
import { describe, expect, it } from 'vitest';
import { cliInProcess } from '../../../test/helpers/cli-in-process.js';

describe('labwire secop', () => {
  it('refuses to listen beyond loopback without --trusted, in one line', async () => {
    const r = await cliInProcess('secop', '--listen', '0.0.0.0:0', '127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SECoP has no authentication.*--trusted/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('says when a daemon address is not host:port', async () => {
    const r = await cliInProcess('secop', 'nonsense');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not host:port/);
  });

  it('is listed in the help', async () => {
    const r = await cliInProcess('secop', '--help');
    expect(r.stdout).toMatch(/--trusted/);
    expect(r.stdout).toMatch(/LABWIRE_TOKEN/);
  });
});
