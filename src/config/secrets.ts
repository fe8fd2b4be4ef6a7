/**
 * The secrets a lab file names — token files, password files and `${VAR}` references — checked
 * before anything starts, so that every missing one is reported in one run, with the file's other
 * mistakes, instead of one per attempt as each part of the lab reads its own at start.
 *
 * It reads the document as written (before the schema), so it still runs when the schema found
 * mistakes elsewhere; whatever is not where it should be is left to the schema to report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseTokenFile, tokensFromEnv } from '../server/tokens.js';
import { rawList, rawRecord, rawText } from './raw.js';
import type { ConfigProblem } from './yaml.js';

type Key = (string | number)[];

const record = rawRecord;
const list = rawList;
const text = rawText;

/** How a list entry is named in a problem: `daemons.chiller.tokenFile` rather than `daemons.0.tokenFile`. */
function label(section: string, entry: Record<string, unknown>, index: number, key: string): string {
  return `${section}.${text(entry.name) ?? index}.${key}`;
}

/**
 * Replaces every `${VAR}` of a lab value by what `lookup` gives for VAR: the one definition of the
 * syntax, used both to check a lab (here) and to read its secrets (lab.ts expandEnv).
 */
export function substituteEnvRefs(value: string, lookup: (name: string) => string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => lookup(name));
}

class SecretChecker {
  readonly problems: ConfigProblem[] = [];

  constructor(private readonly baseDir: string, private readonly env: NodeJS.ProcessEnv) {}

  private add(where: Key, shown: string, message: string): void {
    this.problems.push({ path: where, label: shown, message });
  }

  private read(file: string, where: Key, shown: string): string | undefined {
    const abs = path.resolve(this.baseDir, file);
    try {
      return fs.readFileSync(abs, 'utf8');
    } catch (err) {
      const reason = (err as Error).message.replace(/, \w+ '.*'$/, '');
      this.add(where, shown, `cannot read ${abs === file ? file : `${file} (${abs})`}: ${reason}`);
      return undefined;
    }
  }

  /** A token file must be readable and hold valid lines. */
  tokenFile(value: unknown, where: Key, shown: string): void {
    const file = text(value);
    if (file === undefined) return;
    const content = this.read(file, where, shown);
    if (content === undefined) return;
    try {
      parseTokenFile(content, file);
    } catch (err) {
      this.add(where, shown, (err as Error).message);
    }
  }

  /** A password file must be readable. */
  secretFile(value: unknown, where: Key, shown: string): void {
    const file = text(value);
    if (file !== undefined) this.read(file, where, shown);
  }

  /** Every `${VAR}` in the value must be set and non-empty (a missing one would be an empty secret). */
  envRefs(value: unknown, where: Key, shown: string): void {
    const s = text(value);
    if (s === undefined) return;
    substituteEnvRefs(s, (name) => {
      const got = this.env[name];
      if (got === undefined || got === '') this.add(where, shown, `refers to the environment variable ${name}, which is not set: export ${name}=… before starting the lab`);
      return '';
    });
  }
}

/**
 * Every secret of a lab document (the parsed YAML, before validation) that is missing or unusable.
 * Relative files are taken from baseDir (the lab file's folder).
 */
export function checkLabSecrets(input: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): ConfigProblem[] {
  const c = new SecretChecker(baseDir, env);
  const lab = record(input) ?? {};

  list(lab.daemons).forEach((raw, i) => {
    const d = record(raw);
    if (d) c.tokenFile(d.tokenFile, ['daemons', i, 'tokenFile'], label('daemons', d, i, 'tokenFile'));
  });
  list(lab.peers).forEach((raw, i) => {
    const p = record(raw);
    // A disabled peer is not connected, so its token is not needed.
    if (p && p.enabled !== false) c.envRefs(p.token, ['peers', i, 'token'], label('peers', p, i, 'token'));
  });
  list(lab.alarmHooks).forEach((raw, i) => {
    const headers = record(record(raw)?.headers);
    for (const [k, v] of Object.entries(headers ?? {})) c.envRefs(v, ['alarmHooks', i, 'headers', k], `alarmHooks.${i}.headers.${k}`);
  });

  const monitor = record(lab.monitor) ?? {};
  c.tokenFile(monitor.tokenFile, ['monitor', 'tokenFile'], 'monitor.tokenFile');
  c.envRefs(monitor.peerToken, ['monitor', 'peerToken'], 'monitor.peerToken');
  const archive = record(monitor.archive);
  if (archive && (archive.type ?? archive.kind) === 'postgres') {
    c.secretFile(archive.passwordFile, ['monitor', 'archive', 'passwordFile'], 'monitor.archive.passwordFile');
    c.envRefs(archive.password, ['monitor', 'archive', 'password'], 'monitor.archive.password');
  }
  const mqtt = record(lab.mqtt);
  if (mqtt) {
    c.secretFile(mqtt.passwordFile, ['mqtt', 'passwordFile'], 'mqtt.passwordFile');
    c.envRefs(mqtt.password, ['mqtt', 'password'], 'mqtt.password');
  }

  // LABWIRE_TOKEN adds an admin token to every listener of the lab: a short one is refused there.
  try {
    tokensFromEnv(env);
  } catch (err) {
    c.problems.push({ path: [], label: 'LABWIRE_TOKEN', message: (err as Error).message });
  }
  return c.problems;
}
