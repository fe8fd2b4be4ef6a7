/**
 * `npm run new-device`: the generator refuses what it cannot write, and what it writes is a family
 * that type-checks with its registry line and passes the conformance suite against its own
 * simulator. It writes into a temporary copy of the tree, so the real registry never changes while
 * other tests read it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRegistryLine, checkName, newDevice, parseArgs } from '../scripts/new-device.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NAME = 'gentest';
/** The same instrument on GPIB behind the prologix bus (`--bus`). */
const BUS_NAME = 'gentestbus';

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // The child vitest must not think it is one of this run's workers.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    const child = spawn(command, args, { cwd, env: { ...env, CI: '1', NO_COLOR: '1', LABWIRE_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** A checkout with src/ and the configs of this one, and this one's node_modules. */
function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-newdev-'));
  fs.cpSync(path.join(ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json', 'vitest.config.ts']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(dir, 'node_modules'));
  return dir;
}

describe('new-device refuses what it cannot write', () => {
  it.each([
    ['Keithley2000', /lower-case letters and digits/],
    ['2000', /starting with a letter/],
    ['my-meter', /lower-case letters and digits/],
    ['ab', /3 to 32 characters/],
    ['kits', /reserved/],
  ])('the name %s', (name, message) => {
    expect(() => checkName(name)).toThrow(message);
  });

  it('an existing family folder, and leaves the registry alone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-newdev-'));
    try {
      fs.mkdirSync(path.join(dir, 'src', 'devices', 'julabo'), { recursive: true });
      const registry = fs.readFileSync(path.join(ROOT, 'src', 'devices', 'index.ts'), 'utf8');
      fs.writeFileSync(path.join(dir, 'src', 'devices', 'index.ts'), registry);
      expect(() => newDevice({ name: 'julabo', root: dir })).toThrow('src/devices/julabo/ exists already');
      expect(fs.readFileSync(path.join(dir, 'src', 'devices', 'index.ts'), 'utf8')).toBe(registry);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a name the registry lists already, and a registry it cannot read', () => {
    const registry = fs.readFileSync(path.join(ROOT, 'src', 'devices', 'index.ts'), 'utf8');
    expect(() => addRegistryLine(registry, 'cryocon')).toThrow('the registry lists "cryocon" already');
    expect(() => addRegistryLine('export const x = 1;\n', 'meter')).toThrow(/add the two lines by hand/);
    const { text, lines } = addRegistryLine(registry, 'meter');
    expect(lines).toEqual(["import { meterFamily } from './meter/device.js';", '  meter: meterFamily,']);
    expect(text.split('\n').filter((l) => !registry.split('\n').includes(l))).toEqual(lines);
  });

  it('bad arguments', () => {
    expect(() => parseArgs([])).toThrow(/usage: npm run new-device <name>/);
    expect(() => parseArgs(['a1b', 'c2d'])).toThrow(/one name only/);
    expect(() => parseArgs(['a1b', '--gpib'])).toThrow(/unknown option --gpib/);
    expect(() => parseArgs(['a1b', '--root'])).toThrow(/--root needs a directory/);
    expect(parseArgs(['meter', '--scpi', '--root', '/tmp'])).toEqual({ name: 'meter', root: '/tmp', bus: false });
    expect(parseArgs(['meter', '--bus'])).toMatchObject({ name: 'meter', bus: true });
  });
});

describe('the generated family', () => {
  let dir: string;
  let generated: { code: number | null; out: string };
  let generatedBus: { code: number | null; out: string };

  beforeAll(async () => {
    dir = copyTree();
    const script = path.join(ROOT, 'scripts', 'new-device.ts');
    generated = await run(process.execPath, ['--import', 'tsx', script, NAME, '--scpi', '--root', dir], ROOT, 60_000);
    generatedBus = await run(process.execPath, ['--import', 'tsx', script, BUS_NAME, '--bus', '--root', dir], ROOT, 60_000);
  }, 120_000);

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the family folder and the registry line, and refuses a second run', async () => {
    expect(generated.out).toContain(`src/devices/${NAME}/device.ts`);
    expect(generated.code).toBe(0);
    for (const f of ['codec.ts', 'driver.ts', 'device.ts', 'simulator.ts', 'index.ts', 'README.md', 'conformance.test.ts']) {
      expect(fs.existsSync(path.join(dir, 'src', 'devices', NAME, f)), f).toBe(true);
    }
    expect(generatedBus.code).toBe(0);
    for (const f of ['codec.ts', 'driver.ts', 'device.ts', 'model.ts', 'index.ts', 'README.md', 'conformance.test.ts']) {
      expect(fs.existsSync(path.join(dir, 'src', 'devices', BUS_NAME, f)), `${BUS_NAME}/${f}`).toBe(true);
    }
    expect(fs.existsSync(path.join(dir, 'src', 'devices', BUS_NAME, 'simulator.ts'))).toBe(false);
    const registry = fs.readFileSync(path.join(dir, 'src', 'devices', 'index.ts'), 'utf8');
    expect(registry).toContain(`  ${NAME}: ${NAME}Family,`);
    expect(registry).toContain(`  ${BUS_NAME}: ${BUS_NAME}Family,`);
    const again = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'new-device.ts'), NAME, '--root', dir], ROOT, 60_000);
    expect(again.code).toBe(1);
    expect(again.out).toContain(`new-device: src/devices/${NAME}/ exists already`);
  }, 90_000);

  it('type-checks with the registry', async () => {
    fs.writeFileSync(
      path.join(dir, 'tsconfig.generated.json'),
      JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: true }, include: [`src/devices/${NAME}`, `src/devices/${BUS_NAME}`, 'src/devices/index.ts'] }),
    );
    const tsc = await run(process.execPath, [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.generated.json'], dir, 180_000);
    expect(tsc.out).toBe('');
    expect(tsc.code).toBe(0);
  }, 200_000);

  it('passes the conformance suite against its own simulator (the bus one: through adapter and bus daemon)', async () => {
    const files = [`src/devices/${NAME}/conformance.test.ts`, `src/devices/${BUS_NAME}/conformance.test.ts`];
    const vitest = await run(process.execPath, [path.join(dir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files], dir, 240_000);
    expect(vitest.out).toMatch(/Test Files\s+2 passed \(2\)/);
    // 7 each; the bus family skips the delaying proxy (the bus pairs every reply with its request).
    expect(vitest.out).toMatch(/Tests\s+13 passed \| 1 skipped \(14\)/);
    expect(vitest.code).toBe(0);
  }, 260_000);
});
