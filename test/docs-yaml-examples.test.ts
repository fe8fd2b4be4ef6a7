/**
 * Every YAML example of the documentation loads: the fenced ```yaml blocks of README.md, docs/*.md
 * and docs/devices/*.md, and the YAML files under examples/ and deploy/docker/. A block is a lab
 * file unless its first line names another kind of file (the convention of docs/monitor.md,
 * "Examples in these pages"):
 *   # programme file   a setpoint programme (docs/programmes.md)
 *   # sims.yaml        a simulator fleet for `labwire sim <type> --config`
 *   # prometheus.yml   another program's file: only parsed as YAML
 * Lab files are loaded the way `labwire check` does, in an empty folder with an empty
 * environment, so the only problems allowed are the secrets and certificates they name (files
 * that are not there, variables that are not set) — and those must all come in one report.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYamlText } from 'yaml';
import { parseLabConfig } from '../src/config/lab.js';
import { ConfigError, parseYamlConfig } from '../src/config/yaml.js';
import { parseProgramme } from '../src/daemon/programme.js';
import { simFleetSchema } from '../src/cli/sim-cmd.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-docs-yaml-'));
afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

interface Example {
  where: string;
  text: string;
}

function markdownFiles(): string[] {
  const inDir = (dir: string): string[] => fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.md')).map((f) => path.join(dir, f));
  return ['README.md', ...inDir('docs'), ...inDir('docs/devices')];
}

/** The ```yaml blocks of a Markdown file, each named by file and line. */
function yamlBlocks(file: string): Example[] {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const out: Example[] = [];
  let start = -1;
  // A fence may be indented (in a list item): its indent is stripped from every line of the block.
  let indent = '';
  lines.forEach((line, i) => {
    const open = start < 0 ? /^(\s*)```ya?ml\s*$/.exec(line) : null;
    if (open) {
      start = i;
      indent = open[1]!;
    } else if (start >= 0 && line.startsWith(indent) && /^```\s*$/.test(line.slice(indent.length))) {
      const body = lines.slice(start + 1, i).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()));
      out.push({ where: `${file}:${start + 1}`, text: body.join('\n') });
      start = -1;
    }
  });
  return out;
}

function yamlFiles(dir: string): Example[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => ({ where: path.join(dir, f), text: fs.readFileSync(path.join(abs, f), 'utf8') }));
}

type Kind = 'lab' | 'programme' | 'sims' | 'foreign';
function kindOf(e: Example): Kind {
  const first = e.text.split('\n', 1)[0] ?? '';
  if (/^# programme file\b/.test(first) || e.where.startsWith('examples/programmes/')) return 'programme';
  if (/^# sims\.yaml\b/.test(first)) return 'sims';
  if (/^# prometheus\.yml\b/.test(first)) return 'foreign';
  return 'lab';
}

/** What `check` may report about an example in an empty folder: the things it names that are not there. */
const ABSENT = /: (cannot read \S+(?: \(.*\))?: ENOENT: no such file or directory|refers to the environment variable \w+, which is not set.*)$/;

const examples = [...markdownFiles().flatMap(yamlBlocks), ...yamlFiles('examples'), ...yamlFiles('deploy/docker')];

describe('the YAML examples of the documentation', () => {
  it('are found (the extraction works)', () => {
    const kinds = examples.map(kindOf);
    expect(kinds.filter((k) => k === 'lab').length).toBeGreaterThanOrEqual(10);
    expect(examples.some((e) => e.where.startsWith('docs/monitor.md'))).toBe(true);
    expect(kinds).toContain('programme');
    expect(kinds).toContain('sims');
  });

  it.each(examples.map((e) => [e.where, e] as const))('%s loads', (_where, e) => {
    switch (kindOf(e)) {
      case 'programme':
        expect(parseProgramme('yaml', e.text).steps.length).toBeGreaterThan(0);
        return;
      case 'sims':
        expect(parseYamlConfig(e.text, e.where, simFleetSchema).simulators.length).toBeGreaterThan(0);
        return;
      case 'foreign':
        expect(parseYamlText(e.text)).toBeTypeOf('object');
        return;
      case 'lab':
        break;
    }
    try {
      parseLabConfig(e.text, e.where, empty, { secrets: true, env: {} });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // Only what is absent from an empty folder and environment; anything else is a wrong example.
      expect(err.problems.filter((p) => !ABSENT.test(p))).toEqual([]);
    }
  });

  it('the complete lab.yaml of docs/monitor.md reports all its secrets and certificates in one run', () => {
    const complete = examples.find((e) => e.where.startsWith('docs/monitor.md') && e.text.includes('simulators:') && e.text.includes('peers:'))!;
    let problems: readonly string[] = [];
    try {
      parseLabConfig(complete.text, complete.where, empty, { secrets: true, env: {} });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    const about = (key: string): boolean => problems.some((p) => p.includes(key));
    for (const key of ['daemons.chiller.tokenFile', 'monitor.tokenFile', 'peers.cycler.token', 'monitor.peerToken']) expect(about(key), key).toBe(true);
  });
});
