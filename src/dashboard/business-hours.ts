// Business-hours intervals inside a time range, for shading the availability timeline. Membership
// is the SLO calendar's `inWindow` (IANA zone, daylight saving), sampled every 15 minutes — every
// zone offset in use is a multiple of that, and windows start and end on whole quarter hours.
import type { BusinessHours } from '../fleet/index.ts';
import { inWindow } from '../slo/index.ts';
import type { TimeRange } from './deps.ts';

const STEP_MS = 15 * 60_000;

export type Interval = readonly [startMs: number, endMs: number];

export function businessHourIntervals(window: BusinessHours, range: TimeRange): Interval[] {
  if (window.always) return [[range.fromMs, range.toMs]];
  const out: Interval[] = [];
  let openAt: number | undefined;
  for (let t = Math.floor(range.fromMs / STEP_MS) * STEP_MS; t < range.toMs; t += STEP_MS) {
    const inside = inWindow(window, t);
    if (inside && openAt === undefined) openAt = Math.max(t, range.fromMs);
    if (!inside && openAt !== undefined) {
      out.push([openAt, t]);
      openAt = undefined;
    }
  }
  if (openAt !== undefined) out.push([openAt, range.toMs]);
  return out;
}
