/**
 * The OpenAPI 3 document at `/api/openapi.json`, derived from the schemas of the routes as they
 * are registered (request schemas fastify enforces, response schemas from `x-responses`), so the
 * document cannot drift from the code.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { components } from './schemas.js';

interface RouteDoc {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  role: string;
}

type JsonSchema = { type?: unknown; properties?: Record<string, Record<string, unknown>>; required?: string[]; [k: string]: unknown };

const DOC_PREFIXES = ['/api/', '/monitor/'];

/** Records every documented route; call before any route is registered. */
export function collectRoutes(app: FastifyInstance): RouteDoc[] {
  const routes: RouteDoc[] = [];
  app.addHook('onRoute', (r: RouteOptions) => {
    if (!DOC_PREFIXES.some((p) => r.url.startsWith(p))) return;
    const methods = (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== 'HEAD');
    const schema = (r.schema ?? {}) as Record<string, unknown>;
    if (schema.hide === true) return;
    const role = (r.config as { role?: string } | undefined)?.role ?? (r.url === '/api/openapi.json' ? 'none' : 'viewer');
    for (const method of methods) routes.push({ method: method.toLowerCase(), url: r.url, schema, role });
  });
  return routes;
}

function parameters(schema: unknown, where: 'query' | 'path'): unknown[] {
  const s = schema as JsonSchema | undefined;
  if (!s?.properties) return [];
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return { name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

function responses(x: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const map = (x ?? { 200: {} }) as Record<string, Record<string, unknown>>;
  for (const [status, schema] of Object.entries(map)) {
    if (typeof schema.content === 'string') {
      out[status] = { description: String(schema.description ?? ''), content: { [schema.content]: { schema: { type: 'string' } } } };
      continue;
    }
    const description = status === '200' ? 'OK' : status.startsWith('4') || status.startsWith('5') ? 'error as {code, message}' : '';
    out[status] = { description, content: { 'application/json': { schema } } };
  }
  return out;
}

export function buildOpenApi(routes: RouteDoc[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema;
    const op: Record<string, unknown> = {
      summary: s.summary ?? '',
      ...(s.description ? { description: s.description } : {}),
      tags: s.tags ?? [],
      operationId: `${r.method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters: [...parameters(s.params, 'path'), ...parameters(s.querystring, 'query')],
      responses: responses(s['x-responses']),
      'x-role': r.role,
    };
    if (r.role !== 'none') op.security = [{ bearer: [] }, { session: [] }];
    if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: s.body } } };
    (paths[path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description: 'labwire monitor HTTP API. Errors are JSON {code, message} with real status codes. Roles: viewer reads, operator sends commands, admin may send exit. Without tokens, requests are anonymous with the configured anonymous role.',
    },
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a token from the token file' },
        session: { type: 'apiKey', in: 'cookie', name: 'labwire_session', description: 'set by POST /api/login' },
      },
    },
  };
}
