/**
 * A webhook receiver on 127.0.0.1 (port chosen by the OS) that records the state each alarm
 * notification moved to, as the monitor's generic webhook posts it (docs/alarms.md).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HookRecorder {
  /** The URL to configure as the webhook. */
  url: string;
  /** `transition.to` of every notification received, in order. */
  transitions: string[];
  close(): Promise<void>;
}

export async function startHookRecorder(): Promise<HookRecorder> {
  const transitions: string[] = [];
  const srv = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      transitions.push((JSON.parse(text) as { transition: { to: string } }).transition.to);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/alarms`,
    transitions,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}
