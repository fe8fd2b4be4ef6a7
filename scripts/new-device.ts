/**
 * `npm run new-device <name> [--scpi] [--bus]`: writes a device family skeleton under
 * src/devices/<name>/ and its line in the registry (src/devices/index.ts). The skeleton is a small
 * but real SCPI instrument on TCP with its simulator (`--bus`: on GPIB behind the prologix bus,
 * with a model for the adapter simulator) and a conformance test that passes against it
 * (docs/adding-a-device.md; decision 0018). `--root <dir>` writes into another checkout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'new-device');

/**
 * Files of a family in the order a reader meets them, each with its template folder (`.tmpl` is
 * dropped): a bus instrument shares codec and driver with the TCP one and has a model instead of
 * a simulator.
 */
const FILES = {
  scpi: [['codec.ts', 'scpi'], ['driver.ts', 'scpi'], ['device.ts', 'scpi'], ['simulator.ts', 'scpi'], ['index.ts', 'scpi'], ['README.md', 'scpi'], ['conformance.test.ts', 'scpi']],
  bus: [['codec.ts', 'scpi'], ['driver.ts', 'scpi'], ['device.ts', 'bus'], ['model.ts', 'bus'], ['index.ts', 'bus'], ['README.md', 'bus'], ['conformance.test.ts', 'bus']],
} as const;

export class NewDeviceError extends Error {
  constructor(readonly code: 'BadName' | 'Exists' | 'BadArguments' | 'NoRegistry', message: string) {
    super(message);
    this.name = 'NewDeviceError';
  }
}

export interface NewDeviceOptions {
  name: string;
  /** The checkout to write into (its src/devices/ and registry). */
  root: string;
  /** A GPIB instrument behind the Prologix bus instead of one on its own TCP link. */
  bus?: boolean;
}

export interface NewDeviceResult {
  /** Written files, relative to root. */
  files: string[];
  /** The two lines added to the registry. */
  registryLines: string[];
}

/** Names that are folders or words of src/devices/ already, whatever the registry says. */
const RESERVED = new Set(['kits', 'index', 'testing', 'sim', 'test', 'device', 'devices']);

/** A family's name is its registry key, its folder and the stem of its identifiers. */
export function checkName(name: string): void {
  if (!/^[a-z][a-z0-9]*$/.test(name)) {
    throw new NewDeviceError('BadName', `"${name}" is not a device name: use lower-case letters and digits, starting with a letter (e.g. keithley2000)`);
  }
  if (name.length < 3 || name.length > 32) throw new NewDeviceError('BadName', `"${name}" is not a device name: use 3 to 32 characters`);
  if (RESERVED.has(name)) throw new NewDeviceError('BadName', `"${name}" is reserved in src/devices/; choose the instrument's model name`);
}

function fill(template: string, name: string): string {
  const pascal = name[0]!.toUpperCase() + name.slice(1);
  return template.replaceAll('__NAME__', name.toUpperCase()).replaceAll('__Name__', pascal).replaceAll('__name__', name);
}

/** Adds the import and the entry for `name`; refuses a registry whose shape it does not know. */
export function addRegistryLine(registry: string, name: string): { text: string; lines: string[] } {
  const importLine = `import { ${name}Family } from './${name}/device.js';`;
  const entryLine = `  ${name}: ${name}Family,`;
  const lines = registry.split('\n');
  const lastImport = lines.reduce((at, line, i) => (/^import \{ \w+Family \} from '\.\/\w+\/device\.js';$/.test(line) ? i : at), -1);
  const open = lines.findIndex((l) => /^export const deviceFamilies\b.*= \{$/.test(l));
  const close = open < 0 ? -1 : lines.findIndex((l, i) => i > open && l === '};');
  if (lastImport < 0 || close < 0) {
    throw new NewDeviceError('NoRegistry', 'src/devices/index.ts has no `import { xFamily } from ...` lines or no `deviceFamilies = { ... };` block; add the two lines by hand');
  }
  if (lines.some((l) => new RegExp(`^\\s+${name}:`).test(l))) throw new NewDeviceError('Exists', `the registry lists "${name}" already`);
  lines.splice(close, 0, entryLine);
  lines.splice(lastImport + 1, 0, importLine);
  return { text: lines.join('\n'), lines: [importLine, entryLine] };
}

export function newDevice(options: NewDeviceOptions): NewDeviceResult {
  const { name, root } = options;
  checkName(name);
  const devices = path.join(root, 'src', 'devices');
  const registryPath = path.join(devices, 'index.ts');
  if (!fs.existsSync(registryPath)) throw new NewDeviceError('NoRegistry', `${registryPath} does not exist: run from a labwire checkout or pass --root`);
  const folder = path.join(devices, name);
  if (fs.existsSync(folder)) throw new NewDeviceError('Exists', `src/devices/${name}/ exists already; choose another name or remove the folder`);
  // Checked before anything is written, so a refusal leaves the tree as it was.
  const registry = addRegistryLine(fs.readFileSync(registryPath, 'utf8'), name);

  fs.mkdirSync(folder);
  const files: string[] = [];
  for (const [file, kind] of FILES[options.bus ? 'bus' : 'scpi']) {
    const text = fill(fs.readFileSync(path.join(TEMPLATES, kind, `${file}.tmpl`), 'utf8'), name);
    fs.writeFileSync(path.join(folder, file), text);
    files.push(path.join('src', 'devices', name, file));
  }
  fs.writeFileSync(registryPath, registry.text);
  return { files, registryLines: registry.lines };
}

export function parseArgs(argv: readonly string[]): NewDeviceOptions {
  let name: string | undefined;
  let root = process.cwd();
  let bus = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--scpi') continue;
    else if (a === '--bus') bus = true;
    else if (a === '--root') {
      const dir = argv[++i];
      if (dir === undefined) throw new NewDeviceError('BadArguments', '--root needs a directory');
      root = path.resolve(dir);
    } else if (a.startsWith('-')) throw new NewDeviceError('BadArguments', `unknown option ${a}; usage: npm run new-device <name> [--scpi] [--bus] [--root <dir>]`);
    else if (name === undefined) name = a;
    else throw new NewDeviceError('BadArguments', `one name only, got "${name}" and "${a}"`);
  }
  if (name === undefined) throw new NewDeviceError('BadArguments', 'usage: npm run new-device <name> [--scpi] [--bus] [--root <dir>]');
  return { name, root, bus };
}

function main(): void {
  try {
    const options = parseArgs(process.argv.slice(2));
    const result = newDevice(options);
    const list = (lines: readonly string[]): string => lines.map((l) => `  ${l.trim()}\n`).join('');
    process.stdout.write(`wrote\n${list(result.files)}registry (src/devices/index.ts):\n${list(result.registryLines)}`);
    process.stdout.write(`next: npx vitest run src/devices/${options.name}/conformance.test.ts, then docs/adding-a-device.md\n`);
  } catch (err) {
    if (!(err instanceof NewDeviceError)) throw err;
    process.stderr.write(`new-device: ${err.message}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
