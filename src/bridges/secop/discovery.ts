/**
 * SECoP UDP discovery (reference §8): answers `{"SECoP":"discover"}` with the node's datagram.
 * SO_REUSEADDR so that several nodes of one host can share the port (broadcasts reach them all).
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';

export interface DiscoveryInfo {
  port: number;
  equipment_id: string;
  firmware: string;
  description: string;
}

export interface Discovery {
  port: number;
  close(): Promise<void>;
}

/** Datagrams are kept within 508 bytes: the description is shortened to fit. */
export function announcement(info: DiscoveryInfo): Buffer {
  let description = info.description;
  for (;;) {
    const buf = Buffer.from(JSON.stringify({ SECoP: 'node', port: info.port, equipment_id: info.equipment_id, firmware: info.firmware, description }));
    if (buf.length <= 508 || description.length === 0) return buf;
    description = description.slice(0, Math.max(0, description.length - (buf.length - 508) - 1));
  }
}

export async function startDiscovery(host: string, port: number, info: () => DiscoveryInfo, logger: Logger): Promise<Discovery> {
  const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  socket.on('message', (msg, rinfo) => {
    if (msg.length > 508) return;
    let req: unknown;
    try {
      req = JSON.parse(msg.toString('utf8'));
    } catch {
      return; // not for us: discovery ignores what it does not understand
    }
    if (typeof req !== 'object' || req === null || (req as Record<string, unknown>).SECoP !== 'discover') return;
    socket.send(announcement(info()), rinfo.port, rinfo.address);
  });
  socket.on('error', (err) => logger.warn({ err }, 'SECoP discovery socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  if (!host.startsWith('127.') && host !== '::1') socket.setBroadcast(true);
  return {
    port: socket.address().port,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
