/**
 * SECoP UDP discovery (reference §8): answers `{"SECoP":"discover"}` with the node's datagram.
 * SO_REUSEADDR so that several nodes of one host can share the port (broadcasts reach them all).
 * Answers are rate-limited per source address and in total (AnswerLimiter); anything else — other
 * JSON, other nodes' announcements, datagrams over 508 bytes — is never answered.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import { AnswerLimiter, DISCOVERY_LIMITS, type AnswerLimits } from './answer-limiter.js';

export interface DiscoveryInfo {
  port: number;
  equipment_id: string;
  firmware: string;
  description: string;
}

export interface Discovery {
  port: number;
  /** Datagrams received, requests answered, and requests dropped by the rate limit. */
  readonly counts: { datagrams: number; answered: number; limited: number };
  close(): Promise<void>;
}

export interface DiscoveryOptions {
  limits?: AnswerLimits;
  /** The limiter's clock (tests step it). */
  now?: () => number;
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

export async function startDiscovery(host: string, port: number, info: () => DiscoveryInfo, logger: Logger, options: DiscoveryOptions = {}): Promise<Discovery> {
  const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  const limiter = new AnswerLimiter(options.limits ?? DISCOVERY_LIMITS, options.now);
  const counts = { datagrams: 0, answered: 0, limited: 0 };
  let warned = false;
  socket.on('message', (msg, rinfo) => {
    counts.datagrams++;
    if (msg.length > 508) return;
    let req: unknown;
    try {
      req = JSON.parse(msg.toString('utf8'));
    } catch {
      return; // not for us: discovery ignores what it does not understand
    }
    if (typeof req !== 'object' || req === null || (req as Record<string, unknown>).SECoP !== 'discover') return;
    // Port 0 cannot be a real client's: such a source is forged.
    if (rinfo.port === 0) return;
    if (!limiter.allow(rinfo.address)) {
      counts.limited++;
      if (!warned) {
        warned = true;
        logger.warn({ source: rinfo.address }, 'SECoP discovery: requests beyond the rate limit are dropped (said once)');
      }
      return;
    }
    counts.answered++;
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
    counts,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
