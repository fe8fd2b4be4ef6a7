/**
 * What Grafana does to a panel's query before the data source runs it, for the deploy tests:
 * template variables first (the front end: `$var`, `${var}`, `[[var]]`; a multi-value or
 * include-All variable in a SQL data source becomes a comma-separated list of quoted literals),
 * then the global variables (`$__interval_ms`, `$__interval`, `$__rate_interval`, `$__range_s`),
 * then the PostgreSQL data source's macros (the back end). A `$` left over is an error: the test
 * must know every macro a panel uses, or it would run SQL Grafana never sends.
 */

export interface GrafanaScope {
  /** Time range, Unix ms. */
  from: number;
  to: number;
  intervalMs: number;
  /** Values of the dashboard's template variables (an array: a multi-value selection). */
  vars: Record<string, string | string[]>;
  /** Whether a variable is multi-value or include-All (its values are then quoted in SQL). */
  multi: Record<string, boolean>;
}

/** Grafana's interval text: 15s, 1m, 2h … */
function intervalText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** PostgreSQL string literal, as the SQL data sources quote a variable's value. */
const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;

function templateVars(text: string, scope: GrafanaScope, sql: boolean): string {
  const value = (name: string): string => {
    if (!(name in scope.vars)) throw new Error(`template variable $${name} is not defined`);
    const v = scope.vars[name]!;
    if (!sql) return Array.isArray(v) ? (v.length === 1 ? v[0]! : `(${v.join('|')})`) : v;
    if (Array.isArray(v)) return v.map(quote).join(',');
    return scope.multi[name] ? quote(v) : v;
  };
  return text
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, n: string) => (n.startsWith('__') ? m : value(n)))
    .replace(/\[\[([A-Za-z_][A-Za-z0-9_]*)\]\]/g, (_, n: string) => value(n))
    .replace(/\$([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_(])/g, (m, n: string) => (n.startsWith('__') ? m : value(n)));
}

function globals(text: string, scope: GrafanaScope): string {
  const rate = Math.max(scope.intervalMs + 15_000, 4 * 15_000);
  return text
    .replace(/\$__interval_ms\b/g, String(scope.intervalMs))
    .replace(/\$__interval\b/g, intervalText(scope.intervalMs))
    .replace(/\$__rate_interval\b/g, intervalText(rate))
    .replace(/\$__range_s\b/g, String(Math.floor((scope.to - scope.from) / 1000)));
}

const iso = (ms: number): string => `'${new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')}'`;

/** The PostgreSQL data source's macros (Grafana's pkg/tsdb/grafana-postgresql-datasource/macros.go). */
function postgresMacros(sql: string, scope: GrafanaScope): string {
  const fromS = Math.floor(scope.from / 1000);
  const toS = Math.floor(scope.to / 1000);
  return sql.replace(/\$__([A-Za-z]+)\(([^)]*)\)/g, (m, name: string, arg: string) => {
    const a = arg.trim();
    switch (name) {
      case 'timeFilter':
        return `${a} BETWEEN ${iso(scope.from)} AND ${iso(scope.to)}`;
      case 'timeFrom':
        return iso(scope.from);
      case 'timeTo':
        return iso(scope.to);
      case 'unixEpochFilter':
        return `${a} >= ${fromS} AND ${a} <= ${toS}`;
      case 'unixEpochFrom':
        return String(fromS);
      case 'unixEpochTo':
        return String(toS);
      default:
        throw new Error(`macro ${m} is not emulated by the test`);
    }
  });
}

/** A PostgreSQL panel's rawSql as Grafana sends it to the server. */
export function interpolateSql(sql: string, scope: GrafanaScope): string {
  const out = postgresMacros(globals(templateVars(sql, scope, true), scope), scope);
  if (/\$/.test(out.replace(/'(?:[^']|'')*'/g, ''))) throw new Error(`a $ is left after interpolation: ${out}`);
  return out;
}

/** A Prometheus expression with Grafana's variables replaced (PromQL has no macros). */
export function interpolatePromql(expr: string, scope: GrafanaScope): string {
  const out = globals(templateVars(expr, scope, false), scope);
  if (/\$(?!labels)/.test(out)) throw new Error(`a $ is left after interpolation: ${out}`);
  return out;
}
