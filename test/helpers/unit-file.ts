/**
 * A small reader of systemd unit files and environment files, enough for the deploy tests:
 * sections, repeated keys in order, backslash continuation lines, comments; and systemd's
 * command-line expansion (specifiers, ${VAR} as one word, $VAR split at whitespace).
 */
import fs from 'node:fs';

export type UnitFile = Map<string, Array<{ key: string; value: string }>>;

export function readUnitFile(file: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Array<{ key: string; value: string }> | undefined;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) throw new Error(`${file}:${i + 1}: not key=value inside a section: ${line}`);
    section.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return unit;
}

/** Every value of a key in a section, in order (an empty assignment resets the list, as in systemd). */
export function values(unit: UnitFile, section: string, key: string): string[] {
  const out: string[] = [];
  for (const e of unit.get(section) ?? []) {
    if (e.key !== key) continue;
    if (e.value === '') out.length = 0;
    else out.push(e.value);
  }
  return out;
}

/** Whether a key is assigned at all (CapabilityBoundingSet= with nothing is a real setting). */
export function assigned(unit: UnitFile, section: string, key: string): string | undefined {
  const all = (unit.get(section) ?? []).filter((e) => e.key === key);
  return all.length === 0 ? undefined : all[all.length - 1]!.value;
}

/** KEY=value lines; quotes around a value are removed, as systemd's EnvironmentFile= does. */
export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`${file}: not KEY=value: ${line}`);
    env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return env;
}

/**
 * The argv systemd runs for an ExecStart= line: specifiers (%i, %S, %L, %%) replaced, `${VAR}`
 * one word, `$VAR` split at whitespace into several, an unset variable empty (and a lone `$VAR`
 * then no word at all).
 */
export function expandExecStart(line: string, env: Record<string, string>, specifiers: Record<string, string>): string[] {
  const spec = (w: string): string => w.replace(/%(.)/g, (_, c: string) => {
    if (c === '%') return '%';
    const v = specifiers[c];
    if (v === undefined) throw new Error(`specifier %${c} not known to the test`);
    return v;
  });
  const argv: string[] = [];
  for (const word of line.split(/\s+/).filter(Boolean)) {
    const split = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (split) {
      argv.push(...(env[split[1]!] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    argv.push(spec(word).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, v: string) => env[v] ?? ''));
  }
  return argv;
}
