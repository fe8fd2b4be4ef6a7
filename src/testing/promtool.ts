/**
 * `promtool check metrics` for the metrics tests. CI installs promtool (Debian package
 * prometheus), so a missing one fails the check rather than passing it in silence; a machine
 * without it sets LABWIRE_SKIP_PROMTOOL=1, and each file then reports one skipped test
 * (`promtoolTest`) instead of quietly leaving the checks out.
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

/** LABWIRE_PROMTOOL: another path (and a way to see the checks fail without it). */
export const PROMTOOL = process.env.LABWIRE_PROMTOOL ?? '/usr/bin/promtool';
export const SKIP_PROMTOOL = process.env.LABWIRE_SKIP_PROMTOOL === '1';

/** Whether the promtool checks run: always, unless LABWIRE_SKIP_PROMTOOL=1. */
export const runPromtool = !SKIP_PROMTOOL;

/** Checks an exposition; without promtool it says how to install it or skip the checks. */
export function promtoolCheck(body: string): { status: number | null; output: string } {
  if (!fs.existsSync(PROMTOOL)) {
    return { status: null, output: `promtool not found at ${PROMTOOL}: install the Debian package prometheus, or set LABWIRE_SKIP_PROMTOOL=1 to skip the promtool checks` };
  }
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** One test per file that stands for its promtool checks: skipped (and so reported) with LABWIRE_SKIP_PROMTOOL=1, failing without promtool. */
export function promtoolTest(): void {
  it.skipIf(SKIP_PROMTOOL)(`promtool is installed at ${PROMTOOL} (LABWIRE_SKIP_PROMTOOL=1 skips its checks)`, () => {
    expect(fs.existsSync(PROMTOOL), `promtool not found at ${PROMTOOL}: install the Debian package prometheus, or set LABWIRE_SKIP_PROMTOOL=1`).toBe(true);
  });
}
