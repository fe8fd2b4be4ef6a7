/**
 * A configured plot's values resolved to (device, parameter) once: CCDLab's notation writes a
 * parameter of the plot's own device as `temperature` or `chA.temperature` (Cryo-con, Arbin:
 * parameter names hold dots) and another client's as `<client>.<param>`. Only here is that text
 * read; the page, the SVG plots and the history queries use the two fields.
 */
import type { PlotConfig, ResolvedPlot, SeriesRef } from './types.js';

export interface PlotContext {
  /** Every client name of the monitor (daemons, peers, lower monitors' devices). */
  clients: ReadonlySet<string>;
  /** Parameters the plot's own device declares (its describe), when known. */
  ownParams?: ReadonlySet<string>;
}

/**
 * A value of `own`'s plot: its own parameter when it declares that name, else another client's
 * when the text before the first dot names a client (client names hold no dots), else its own.
 *
 * Until `own`'s describe is known (`ownParams` absent), a dotted name whose prefix is another
 * client resolves to that client, though `own` may turn out to declare it. Nothing caches the
 * answer: Monitor.plots() resolves on every call, and a describe that arrives (or changes) emits
 * `peer`, on which the web server sends the device's view with its plots resolved anew, so the
 * page follows as soon as the device has described itself.
 */
export function resolvePlotValue(own: string, value: string, ctx: PlotContext): SeriesRef {
  if (ctx.ownParams?.has(value)) return { device: own, name: value };
  const dot = value.indexOf('.');
  if (dot > 0 && dot < value.length - 1 && ctx.clients.has(value.slice(0, dot))) return { device: value.slice(0, dot), name: value.slice(dot + 1) };
  return { device: own, name: value };
}

export function resolvePlot(own: string, plot: PlotConfig, ctx: PlotContext): ResolvedPlot {
  const [xName = 'time', ...yNames] = plot.values;
  return {
    ...plot,
    x: xName === 'time' ? null : resolvePlotValue(own, xName, ctx),
    series: yNames.map((v) => resolvePlotValue(own, v, ctx)),
  };
}
