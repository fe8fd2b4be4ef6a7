/**
 * GET /metrics: the monitor's Prometheus exposition (bridges/metrics, docs/metrics.md). It needs
 * the viewer role like the rest of the read API: open while the monitor has no tokens, else a
 * scrape sends `Authorization: Bearer <viewer token>` (Prometheus: `authorization.credentials_file`).
 */
import type { FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE, monitorMetrics } from '../bridges/metrics/index.js';
import type { SecretThrottle } from '../server/index.js';
import type { MonitorView } from '../monitor/types.js';
import type { Hub } from './hub.js';

export async function metricsRoutes(app: FastifyInstance, ctx: { monitor: MonitorView; hub: Hub; throttle?: SecretThrottle }): Promise<void> {
  const registry = monitorMetrics(ctx.monitor, {
    streams: () => ctx.hub.stats(),
    ...(ctx.throttle ? { webRefused: () => ctx.throttle!.counters.refused } : {}),
  });
  app.get('/metrics', {
    config: { role: 'viewer' },
    schema: {
      summary: 'Prometheus metrics (text format 0.0.4): device values, peers, clients, archive, alarms',
      tags: ['health'],
      'x-responses': { 200: { description: 'text/plain; version=0.0.4', content: 'text/plain' } },
    },
  }, async (_req, reply) => {
    const body = await registry.metrics();
    return reply.type(METRICS_CONTENT_TYPE).header('Cache-Control', 'no-store').send(body);
  });
}
