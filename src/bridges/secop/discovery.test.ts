import { describe, expect, it } from 'vitest';
import { announcement } from './discovery.js';

describe('SECoP discovery datagram', () => {
  it('stays within 508 bytes by shortening the description', () => {
    const buf = announcement({ port: 10767, equipment_id: 'lab', firmware: 'labwire', description: 'x'.repeat(2000) });
    expect(buf.length).toBeLessThanOrEqual(508);
    expect(JSON.parse(buf.toString())).toMatchObject({ SECoP: 'node', port: 10767, equipment_id: 'lab' });
  });
});
