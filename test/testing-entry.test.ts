/**
 * labwire/testing as a family author's test imports it: by the package name, from the build
 * (dist/testing through "exports"), with its types; and never from production code, so
 * `labwire daemon` does not load vitest.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function node(args: string[], cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

function requireBuild(): void {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'testing', 'index.js'))) throw new Error('dist/testing/index.js is missing: run `npm run build` first');
}

/** Uses the entry the way a test does: the helpers must work, not only exist. */
const USE_ENTRY = `
import { deviceConformance, eventually, fakeClock, kv, MemoryLink, RawClient } from 'labwire/testing';
const clock = fakeClock(1000);
clock.tick(250);
let tries = 0;
const waited = await eventually(() => { if (++tries < 3) throw new Error('not yet'); return tries; }, 5000, 1);
const link = new MemoryLink((line, l) => l.replyAfter(0, line.toUpperCase() + '\\n'));
await link.open();
const reply = new Promise((resolve) => link.once('data', (d) => resolve(d.toString())));
await link.write(Buffer.from('idn?\\n'));
console.log(JSON.stringify({
  now: clock.now(), waited, reply: await reply, kv: kv('status a=1 b="x y"'),
  suite: typeof deviceConformance, client: typeof RawClient.connect,
}));
await link.close();
`;

describe('labwire/testing', () => {
  it('imports by the package name from the build and works', async () => {
    requireBuild();
    const r = await node(['--input-type=module', '-e', USE_ENTRY], ROOT);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ now: 1250, waited: 3, reply: 'IDN?\n', kv: { a: '1', b: 'x y' }, suite: 'function', client: 'function' });
  }, 60_000);

  it('type-checks in a project that depends on labwire, through the types of "exports"', async () => {
    requireBuild();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-consumer-'));
    try {
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'labwire'));
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
      fs.writeFileSync(
        path.join(dir, 'check.ts'),
        [
          "import { deviceConformance, eventually, type ConformanceSubject, type LateReplySubject } from 'labwire/testing';",
          'const n: Promise<number> = eventually(() => 1);',
          'const late: LateReplySubject | undefined = undefined;',
          'export const checks = [n, late, deviceConformance] as const;',
          'export type S = ConformanceSubject<never>;',
          // Must fail to compile if the types are `any`: eventually returns what the check returns.
          '// @ts-expect-error a string is no number',
          "const wrong: Promise<number> = eventually(() => 'text');",
          'export { wrong };',
        ].join('\n'),
      );
      fs.writeFileSync(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
          files: ['check.ts'],
        }),
      );
      const r = await node([path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
      expect(r.out + r.err).toBe('');
      expect(r.code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('is imported by no production module (only tests and test helpers)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        const rel = path.relative(ROOT, p);
        if (entry.isDirectory()) {
          if (rel !== path.join('src', 'testing') && entry.name !== 'test-helpers') walk(p);
        } else if (/\.tsx?$/.test(entry.name) && !/\.test\.tsx?$|test-helpers\.ts$|-e2e\.ts$/.test(entry.name)) {
          const text = fs.readFileSync(p, 'utf8');
          if (/from\s+['"](?:\.\.?\/)+(?:[\w-]+\/)*testing\/|from\s+['"]labwire\/testing['"]|from\s+['"]vitest['"]/.test(text)) offenders.push(rel);
        }
      }
    };
    walk(path.join(ROOT, 'src'));
    // The walk saw the tree (a wrong root would pass with no files).
    expect(fs.existsSync(path.join(ROOT, 'src', 'daemon', 'runner.ts'))).toBe(true);
    expect(offenders).toEqual([]);
  });
});
