/**
 * The metric names and labels the dashboard and the Prometheus rules use exist in real
 * expositions: a lab (simulated Julabo, its daemon with `metrics:`, the monitor with an archive
 * and an alarm) is started and both /metrics pages are read. A renamed metric or label in
 * src/bridges/metrics breaks a panel silently in Grafana; here it fails.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';

const root = path.resolve(import.meta.dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-deploy-metrics-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Expr {
  where: string;
  expr: string;
  legend?: string;
}

/** Every PromQL expression of the dashboard and the rule file, with the legend that names labels. */
function expressions(): Expr[] {
  const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/dashboards/labwire.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string; legendFormat?: string; refId: string }> }>;
  };
  const out: Expr[] = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).flatMap((t) => (t.expr === undefined ? [] : [{ where: `${p.title} ${t.refId}`, expr: t.expr, ...(t.legendFormat ? { legend: t.legendFormat } : {}) }])),
  );
  const rules = parseYaml(fs.readFileSync(path.join(root, 'deploy/prometheus/labwire.rules.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string; annotations?: { summary?: string } }> }>;
  };
  for (const r of rules.groups.flatMap((g) => g.rules)) out.push({ where: `rule ${r.alert}`, expr: r.expr, ...(r.annotations?.summary ? { legend: r.annotations.summary } : {}) });
  return out;
}

/** Metric families (`# TYPE`) and the label names seen on each family's samples. */
function families(body: string): Map<string, { type: string; labels: Set<string> }> {
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, { type: m[2]!, labels: new Set() });
  for (const m of body.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /gm)) {
    const name = m[1]!;
    const family = out.get(name) ?? out.get(name.replace(/_(bucket|sum|count)$/, ''));
    if (!family) continue;
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) family.labels.add(l[1]!);
  }
  return out;
}

// Labels Prometheus adds to every series it scrapes, and histogram's own.
const TARGET_LABELS = new Set(['instance', 'job', 'le', 'lab']);

describe('metric names of the dashboard and the rules', () => {
  it('exist in the expositions of a real daemon and monitor, with the labels the queries group and name by', async () => {
    const yaml = [
      'simulators:',
      '  - { name: bath, type: julabo, options: { byteTiming: false } }',
      'daemons:',
      '  - { name: chiller, type: julabo, link: "sim:bath", metrics: "127.0.0.1:0" }',
      'alarms:',
      '  - { id: chiller_hot, type: threshold, param: chiller.temperature, above: 1000 }',
      'monitor:',
      '  listen: 127.0.0.1:0',
      '  web: 127.0.0.1:0',
      '  archive: { path: archive.sqlite }',
      '',
    ].join('\n');
    const config = parseLabConfig(yaml, path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    let daemonBody = '';
    let monitorBody = '';
    try {
      await eventually(async () => {
        daemonBody = await (await fetch(lab.daemons[0]!.metricsUrl!)).text();
        monitorBody = await (await fetch(`${lab.web.url}metrics`)).text();
        // Every family the queries need has samples once the lab has run a little.
        expect(daemonBody).toMatch(/^labwire_link_request_duration_seconds_count\{device="chiller"\} [1-9]/m);
        expect(monitorBody).toMatch(/^labwire_archive_commit_duration_seconds_count [1-9]/m);
        expect(monitorBody).toMatch(/^labwire_alarm_state\{/m);
      }, 30_000, 200);
    } finally {
      await lab.close();
    }
    const known = families(`${daemonBody}\n${monitorBody}`);
    const all = expressions();
    expect(all.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const e of all) {
      const names = [...e.expr.matchAll(/\b(labwire_[a-z0-9_]+)/g)].map((m) => m[1]!);
      // Prometheus' own `up` of the labwire jobs is the one expression without a labwire metric.
      if (names.length === 0) {
        expect(e.expr, e.where).toMatch(/^up\{job=~"labwire-\.\*"\}/);
        continue;
      }
      for (const n of names) {
        const base = n.replace(/_(bucket|sum|count)$/, '');
        const family = known.get(n) ?? (known.get(base)?.type === 'histogram' ? known.get(base) : undefined);
        expect(family, `${e.where}: ${n} is in no exposition`).toBeDefined();
        used.add(n === base ? n : base);
        // Labels in selectors, by (...) and the legend must be labels the family has.
        const labels = [
          ...[...e.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean)),
          ...[...e.expr.matchAll(new RegExp(`${n}\\{([^}]*)\\}`, 'g'))].flatMap((m) => [...m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)/g)].map((l) => l[1]!)),
          ...[...(e.legend ?? '').matchAll(/\{\{\s*\$?(?:labels\.)?\.?([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]!),
        ];
        for (const l of labels) {
          if (TARGET_LABELS.has(l)) continue;
          const anyHas = names.some((other) => (known.get(other) ?? known.get(other.replace(/_(bucket|sum|count)$/, '')))?.labels.has(l));
          expect(anyHas, `${e.where}: label "${l}" is on none of ${names.join(', ')}`).toBe(true);
        }
      }
    }
    // The dashboard covers link health and the archive, not just one family.
    for (const need of ['labwire_link_up', 'labwire_link_request_duration_seconds', 'labwire_peer_up', 'labwire_archive_spooled_samples', 'labwire_archive_commit_duration_seconds', 'labwire_alarm_state']) {
      expect(used, need).toContain(need);
    }
  }, 90_000);
});
