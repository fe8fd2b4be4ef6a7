/**
 * Every package `npm ci` installs runs on the Node.js the README promises (issue 15, defect 15):
 * the lowest version our own `engines.node` admits must satisfy each locked package's
 * `engines.node`, so a Node 20 user sees no EBADENGINE warning. content-disposition@3 and
 * cookie@2 (Node ≥ 22) are pinned to their Node 20 majors by `overrides` in package.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  link?: boolean;
}

describe('engines', () => {
  const pkg = read('package.json') as { engines: { node: string } };
  const lock = read('package-lock.json') as { packages: Record<string, LockEntry> };
  const lowest = semver.minVersion(pkg.engines.node)!.version;

  it('our engines.node says Node 20, as the README does', () => {
    expect(semver.major(lowest)).toBe(20);
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toMatch(new RegExp(`Node\\.js 20\\.${semver.minor(lowest)}\\b`));
  });

  it('every locked package admits the lowest Node our engines.node admits', () => {
    const refusing = Object.entries(lock.packages)
      .filter(([where, e]) => where !== '' && !e.link && e.engines !== undefined && !Array.isArray(e.engines) && e.engines.node !== undefined)
      .filter(([, e]) => !semver.satisfies(lowest, (e.engines as { node: string }).node))
      .map(([where, e]) => `${where}@${e.version}: engines.node ${(e.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });

  it('the pinned content-disposition (downloads of @fastify/static) and cookie (responses of inject) work here', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-engines-'));
    fs.writeFileSync(path.join(dir, 'frame one.fits'), 'SIMPLE  =                    T');
    const app = Fastify();
    try {
      await app.register(fastifyStatic, { root: dir, serve: false });
      app.get('/download', (_req, reply) => reply.download('frame one.fits'));
      app.get('/login', (_req, reply) => reply.header('set-cookie', 'session=abc123; Path=/; HttpOnly').send('ok'));
      app.get('/echo-cookie', (req, reply) => reply.send({ cookie: req.headers.cookie ?? null }));
      const file = await app.inject('/download');
      expect(file.statusCode).toBe(200);
      expect(file.headers['content-disposition']).toBe('attachment; filename="frame one.fits"');
      const login = await app.inject('/login');
      expect(login.cookies).toEqual([expect.objectContaining({ name: 'session', value: 'abc123', path: '/', httpOnly: true })]);
      // Request cookies are what inject serialises with the pinned `cookie` (stringifySetCookie).
      const echo = await app.inject({ url: '/echo-cookie', cookies: { session: 'abc', note: 'a b;c' } });
      expect(echo.statusCode).toBe(200);
      expect(echo.json()).toEqual({ cookie: 'session=abc; note=a%20b%3Bc' });
    } finally {
      await app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
