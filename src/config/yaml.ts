/**
 * YAML files validated by a zod schema, with errors that name the file, the line and what is
 * expected ("lab.yaml:12:5: simulators.0.listen: expected host:port"). Used by every config file
 * labwire reads, so all of them report mistakes the same way.
 */
import fs from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.name = 'ConfigError';
  }
}

/**
 * A problem found after the schema passed (a file the config names cannot be read): `path` is where
 * in the document (array indices as numbers, to find its line); `label`, if given, is how the key
 * is shown instead (`daemons.chiller.tls.cert` rather than `daemons.0.tls.cert`).
 */
export interface ConfigProblem {
  path: (string | number)[];
  label?: string;
  message: string;
}

/**
 * What else to check besides the schema. `check` sees the validated value, so it runs only when the
 * schema passed; `checkInput` sees the document as written and always runs, so what it finds is
 * reported together with the schema's mistakes: one run lists every problem it can.
 */
export interface ConfigChecks<T> {
  check?: (value: T) => ConfigProblem[];
  checkInput?: (input: unknown) => ConfigProblem[];
}

export function parseYamlConfig<S extends z.ZodType>(text: string, file: string, schema: S, checks: ConfigChecks<z.output<S>> = {}): z.output<S> {
  const { check, checkInput } = checks;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return '';
    const { line, col } = lineCounter.linePos(offset);
    return `${line}:${col}: `;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `${at(e.pos[0])}${e.message.split('\n')[0]}`));
  }
  // Points at the deepest node that exists on the path.
  const locate = (issuePath: (string | number)[]): string => {
    let path = issuePath;
    let node: unknown;
    while (path.length > 0 && !isNode((node = doc.getIn(path, true)))) path = path.slice(0, -1);
    return at(isNode(node) ? node.range?.[0] : undefined);
  };
  const input: unknown = doc.toJS() ?? {};
  const shown = (p: ConfigProblem): string => `${locate(p.path)}${p.label ?? p.path.map(String).join('.')}: ${p.message}`;
  const inputProblems = (checkInput?.(input) ?? []).map(shown);
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(file, [
      ...result.error.issues.map((issue) => {
        const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
        const where = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
        return `${locate(path)}${where}${issue.message}`;
      }),
      ...inputProblems,
    ]);
  }
  const value = result.data as z.output<S>;
  const problems = [...(check?.(value) ?? []).map(shown), ...inputProblems];
  if (problems.length > 0) throw new ConfigError(file, problems);
  return value;
}

export function loadYamlConfig<S extends z.ZodType>(file: string, schema: S, checks: ConfigChecks<z.output<S>> = {}): z.output<S> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseYamlConfig(text, file, schema, checks);
}
