/**
 * The page: the bundled UI (scripts/build-ui.mjs writes it to dist/web/public) served as static
 * files, with a strict Content-Security-Policy — the page loads nothing from anywhere else.
 * The build writes each file also as `.br` and `.gz`: a browser that accepts brotli or gzip gets
 * those bytes (with `Content-Encoding` and `Vary: Accept-Encoding`), nothing is compressed per
 * request. Source maps are not served (a stray `.map` in the folder gets no route).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

export const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Where the bundled UI is: `public/` next to this module once built (dist/web/public), or the
 * repository's dist/web/public when this module runs from source (tests, tsx).
 */
export function defaultUiDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'public'), path.resolve(here, '../../dist/web/public')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0]!;
}

export async function staticRoutes(app: FastifyInstance, ctx: { uiDir: string }): Promise<void> {
  if (!fs.existsSync(path.join(ctx.uiDir, 'index.html'))) {
    app.log.warn(`web UI not found in ${ctx.uiDir}: run "npm run build" to bundle it; the API works without it`);
    app.get('/', { config: { role: 'none' } }, async (_req, reply) =>
      reply.code(503).type('text/plain; charset=utf-8').send('The labwire web page is not built. Run "npm run build"; the JSON API is under /api/.\n'));
    return;
  }
  await app.register(fastifyStatic, {
    root: ctx.uiDir,
    prefix: '/',
    // One route per file found at start: anything else falls through to the JSON 404.
    wildcard: false,
    // The compressed copies are sent in place of their file, never under their own name.
    preCompressed: true,
    globIgnore: ['**/*.map', '**/*.br', '**/*.gz'],
    // A list: with preCompressed, @fastify/static finds the index of / only in a list.
    index: ['index.html'],
    dotfiles: 'deny',
    cacheControl: false,
    setHeaders: (reply) => {
      reply.header('Cache-Control', 'no-cache');
    },
  });
}
