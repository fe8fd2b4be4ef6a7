/**
 * An in-process exchange for the Cryo-con tests (the raw clients are in src/testing/).
 * Test-only; nothing imports it at runtime.
 */
import type { ExchangeLike, RequestOptions } from '../../links/types.js';
import { LinkError } from '../../links/types.js';
import type { CryoconSimulator } from './simulator.js';

/**
 * An ExchangeLike that hands each request line to the simulator in-process (no pacing): the driver
 * and the device definition are the subject. Records every line it was given.
 */
export function simExchange(sim: CryoconSimulator): ExchangeLike & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    isUp: true,
    async request(data: Buffer | string, opts?: RequestOptions) {
      const line = data.toString().replace(/\n$/, '');
      lines.push(line);
      const reply = sim.respond(line);
      if (opts?.expectReply === false) return undefined;
      if (reply === undefined) throw new LinkError('Timeout', `no reply to "${line}"`);
      const buf = Buffer.from(reply, 'latin1');
      let accepted: boolean;
      try {
        accepted = opts?.validate ? opts.validate(buf) : true;
      } catch (err) {
        throw new LinkError('CommunicationFailed', `unexpected reply "${reply}" to "${line}": ${(err as Error).message}`);
      }
      if (!accepted) throw new LinkError('CommunicationFailed', `unexpected reply "${reply}" to "${line}"`);
      return buf;
    },
  };
}
