/**
 * The two things the monitor needs from a peer connection that LabwireClient does not offer in
 * public yet:
 *  - writing a line that gets no reply (`id name=monitor type=monitor`; a CCDLab peer's commands,
 *    which CCDLab daemons never answer), without a request slot that would pair with the next reply;
 *  - a request that resolves with the peer's reply line as sent, an `error ...` reply included,
 *    so that `send` can hand back the device's own line.
 * Both go through the client's live LineConnection. This is the one place that reaches past the
 * client's public API; it checks what it finds, and monitor tests fail loudly if the client
 * changes. The clean fix is a public `LabwireClient.notify(line)` and `requestLine(line)`.
 */
import type { LabwireClient } from '../client/index.js';
import { LineConnection } from '../wire/connection.js';

/** The client's current connection, or null while it is disconnected. */
export function liveConnection(client: LabwireClient): LineConnection | null {
  const conn = (client as unknown as { conn?: unknown }).conn;
  return conn instanceof LineConnection && !conn.closed ? conn : null;
}
