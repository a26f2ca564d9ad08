// Availability figures of one objective: over the checked range, the calendar month to date (in
// the window's time zone) and the rolling 30 days. Buckets only hold minutes inside the window
// (the monitor counts nothing outside business hours), so these are plain sums.
import type { BusinessHours, Fleet } from '../fleet/index.ts';
import type { BucketSource } from './burn-rate.ts';
import { countsIn } from './burn-rate.ts';
import { describeWindow, startOfMonthMs, windowByName } from './calendar.ts';
import type { Objective } from './objectives.ts';

export interface AvailabilityFigure {
  readonly fromMs: number;
  readonly toMs: number;
  readonly good: number;
  readonly total: number;
  /** good / total; undefined without probes in the window. */
  readonly ratio?: number;
}

export interface AvailabilitySummary {
  readonly objectiveId: string;
  readonly window: BusinessHours;
  /** `Mon–Fri 09:00–18:00 America/Los_Angeles` or `always`. */
  readonly windowDescription: string;
  readonly since: AvailabilityFigure;
  readonly calendarMonth: AvailabilityFigure;
  readonly rolling30Days: AvailabilityFigure;
}

const ROLLING_MS = 30 * 24 * 60 * 60_000;

export function availabilitySummary(
  fleet: Fleet,
  objective: Objective,
  buckets: BucketSource,
  range: { readonly sinceMs: number; readonly nowMs: number },
): AvailabilitySummary {
  const window = windowByName(fleet, objective.window);
  const figure = (fromMs: number): AvailabilityFigure => {
    // The minute in progress at nowMs counts too: a probe at 10:00:30 is evidence at 10:00:30.
    const c = countsIn(buckets, objective.id, fromMs, range.nowMs + 1);
    return {
      fromMs,
      toMs: range.nowMs,
      good: c.good,
      total: c.total,
      ratio: c.total > 0 ? c.good / c.total : undefined,
    };
  };
  return {
    objectiveId: objective.id,
    window,
    windowDescription: describeWindow(window),
    since: figure(range.sinceMs),
    calendarMonth: figure(startOfMonthMs(window.timeZone, range.nowMs)),
    rolling30Days: figure(range.nowMs - ROLLING_MS),
  };
}
