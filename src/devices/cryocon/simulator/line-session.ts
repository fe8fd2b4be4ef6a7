/**
 * The Cryo-con on the wire: LF-terminated lines of at most 255 characters (a longer one answers
 * `NACK`), one request at a time at the hardware's pace for all clients together, replies that
 * take the serial line's character time on a pseudo-terminal, and corrupted replies on demand.
 */
import type { SimClient, SimSession } from '../../../links/sim-host.js';
import { LineSession, charTimeMs, type RequestPacer } from '../../kits/sim/index.js';
import { MAX_LINE_CHARS, NACK, splitOutsideQuotes } from '../codec.js';

export type ReplyCorruption = 'garble' | 'dropField' | 'truncate';

export interface CryoconWire {
  pacer: RequestPacer;
  deaf(): boolean;
  byteTiming(): boolean;
  baud(): number;
  latencyMs(): number;
  /** The reply to a line as it goes on the wire; undefined: the line holds only set commands. */
  respond(line: string): string | undefined;
  /** An overlong line arrived: it is answered NACK, counted as a reply. */
  overlong(): void;
  /** A request arrived (undefined: overlong); `dropped`: lost because it came too early. */
  arrived(line: string | undefined, dropped: boolean): void;
}

export function openCryoconSession(client: SimClient, wire: CryoconWire): SimSession {
  const serial = client.kind === 'pty';
  const enqueue = (session: LineSession, line: string | undefined): void => {
    const accepted = wire.pacer.submit(() => {
      if (session.closed) return;
      if (line === undefined) wire.overlong();
      const reply = line === undefined ? NACK : wire.respond(line);
      if (reply !== undefined) session.reply(reply);
    });
    wire.arrived(line, !accepted);
  };
  return new LineSession(client, {
    terminators: '\n',
    replyTerminator: '\n',
    stripTrailingCr: true,
    // The 255 characters include the LF.
    maxLineChars: MAX_LINE_CHARS - 1,
    deaf: () => wire.deaf(),
    timing: {
      latencyMs: () => wire.latencyMs(),
      charTimeMs: () => (serial && wire.byteTiming() ? charTimeMs(wire.baud()) : 0),
      granularity: 'reply',
    },
    onLine: (line, session) => enqueue(session, line),
    onOverflow: (session) => enqueue(session, undefined),
  });
}

/** A reply as a noisy or broken line would deliver it. */
export function corruptReply(reply: string, kind: ReplyCorruption): string {
  const fields = splitOutsideQuotes(reply);
  switch (kind) {
    case 'garble':
      // Line noise: wrong bits and a character no Cryo-con sends.
      return `#${[...reply].reverse().join('')}\x7f?`;
    case 'dropField':
      if (fields.length > 1) fields.splice(Math.floor(fields.length / 2), 1);
      else fields[0] = '';
      return fields.join(';');
    case 'truncate':
      return reply.slice(0, Math.max(1, Math.floor(reply.length / 2)));
  }
}
