// The page's time windows and how finely each is aggregated: a few hundred points per chart at
// most, whatever the window, so the browser never holds raw requests.
import type { SeriesQuery, WindowName } from './deps.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

export const WINDOWS: Readonly<Record<WindowName, { readonly lengthMs: number; readonly stepMs: number }>> = {
  '1h': { lengthMs: HOUR_MS, stepMs: MINUTE_MS },
  '24h': { lengthMs: 24 * HOUR_MS, stepMs: 5 * MINUTE_MS },
  '7d': { lengthMs: 7 * 24 * HOUR_MS, stepMs: 30 * MINUTE_MS },
  '30d': { lengthMs: 30 * 24 * HOUR_MS, stepMs: 2 * HOUR_MS },
};

export const DEFAULT_WINDOW: WindowName = '24h';

export function parseWindow(value: string | null): WindowName | undefined {
  if (value === null || value === '') return DEFAULT_WINDOW;
  return Object.hasOwn(WINDOWS, value) ? (value as WindowName) : undefined;
}

/** The query for a window ending now, aligned to whole steps so points do not shift between refreshes. */
export function windowQuery(name: WindowName, nowMs: number): SeriesQuery {
  const { lengthMs, stepMs } = WINDOWS[name];
  const toMs = Math.floor(nowMs / stepMs) * stepMs + stepMs;
  return { fromMs: toMs - lengthMs, toMs, stepMs };
}
