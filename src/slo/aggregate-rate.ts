// Aggregate-rate objectives (the seed's `5000 embeddings/s`): one rate over a range — the units
// served (inputs) per second the endpoint was busy — rather than a share of good requests. A batch
// of 32 at 5000/s would take 6.4 ms, beside a 200 ms P95 for that batch: the figure is throughput
// under concurrency, which no single request shows. Busy time is the union of the counted
// batches' intervals (measure/busy-union.ts), so idle time between batches does not count against
// the endpoint and concurrent batches share the seconds they overlap.
// The buckets carry good = units and total = busy ms; the exported rules divide the same two
// counters over the same windows. Pure: time is a parameter.
import type { BucketSource } from './burn-rate.ts';
import { countsIn } from './burn-rate.ts';
import type { Objective } from './objectives.ts';

const MINUTE_MS = 60_000;

/**
 * The alert the exported rules carry for an aggregate rate: under the floor over both the last
 * 5 minutes and the last hour (each with traffic). A ticket: a slow endpoint is not an outage.
 */
export const AGGREGATE_RATE_ALERT = {
  name: 'rate-quick',
  severity: 'ticket',
  shortWindowMs: 5 * MINUTE_MS,
  longWindowMs: 60 * MINUTE_MS,
} as const;

/**
 * Batches of the stated size needed before the rate is judged — 20, as for a P95 target: the
 * busy time of one slow batch must not decide the verdict on its own.
 */
export const AGGREGATE_MIN_BATCHES = 20;

export interface RateWindow {
  readonly windowMs: number;
  readonly units: number;
  readonly busyMs: number;
  /** units per busy second; undefined without busy time. */
  readonly ratePerSecond?: number;
}

export interface AggregateRate {
  readonly units: number;
  readonly busyMs: number;
  readonly ratePerSecond?: number;
  /** Units needed before the rate is judged (AGGREGATE_MIN_BATCHES × the batch size). */
  readonly minimumUnits: number;
  /** The alert's two windows ending at now, short first. */
  readonly windows: readonly [RateWindow, RateWindow];
  /** Both windows under the floor, as the exported alert rule states it. */
  readonly firing: boolean;
}

export function ratePerSecond(units: number, busyMs: number): number | undefined {
  return busyMs > 0 ? (units * 1000) / busyMs : undefined;
}

export function minimumUnits(objective: Objective): number {
  return AGGREGATE_MIN_BATCHES * (objective.batchSize ?? 1);
}

export function aggregateRate(
  buckets: BucketSource,
  objective: Objective,
  range: { sinceMs: number; nowMs: number },
): AggregateRate {
  const all = countsIn(buckets, objective.id, range.sinceMs, range.nowMs + 1);
  const window = (windowMs: number): RateWindow => {
    // Like the burn windows: the minutes that start in [now − W, now).
    const c = countsIn(buckets, objective.id, range.nowMs - windowMs, range.nowMs);
    return { windowMs, units: c.good, busyMs: c.total, ratePerSecond: ratePerSecond(c.good, c.total) };
  };
  const windows: [RateWindow, RateWindow] = [
    window(AGGREGATE_RATE_ALERT.shortWindowMs),
    window(AGGREGATE_RATE_ALERT.longWindowMs),
  ];
  const floor = objective.threshold ?? 0;
  const firing = windows.every((w) => w.ratePerSecond !== undefined && w.ratePerSecond < floor);
  return {
    units: all.good,
    busyMs: all.total,
    ratePerSecond: ratePerSecond(all.good, all.total),
    minimumUnits: minimumUnits(objective),
    windows,
    firing,
  };
}

/** ok / breach once enough batches were counted; no-data without any; not-enough-data between. */
export function judgeAggregate(
  rate: Pick<AggregateRate, 'units' | 'busyMs' | 'ratePerSecond' | 'minimumUnits'>,
  floorPerSecond: number,
): 'ok' | 'breach' | 'no-data' | 'not-enough-data' {
  if (rate.units === 0 && rate.busyMs === 0) return 'no-data';
  if (rate.units < rate.minimumUnits) return 'not-enough-data';
  // No busy time at all (every batch under half a millisecond): faster than any floor.
  return rate.ratePerSecond === undefined || rate.ratePerSecond >= floorPerSecond ? 'ok' : 'breach';
}

/** '6120/s · 12800 inputs / 2.091 s busy' (check, report and the dashboard say it the same way). */
export function aggregateText(a: Pick<AggregateRate, 'units' | 'busyMs' | 'ratePerSecond'>): string {
  const rate = a.ratePerSecond === undefined ? '' : `${Math.round(a.ratePerSecond)}/s · `;
  return `${rate}${a.units} inputs / ${Math.round(a.busyMs) / 1000} s busy`;
}

/** The alert windows' rates: '5m 6120/s · 1h 5980/s' ('—' for a window without traffic). */
export function rateWindowsText(a: {
  readonly windows: readonly { readonly windowMs: number; readonly ratePerSecond?: number }[];
}): string {
  return a.windows
    .map((w) => {
      const m = w.windowMs / MINUTE_MS;
      const name = m % 60 === 0 ? `${m / 60}h` : `${m}m`;
      return `${name} ${w.ratePerSecond === undefined ? '—' : `${Math.round(w.ratePerSecond)}/s`}`;
    })
    .join(' · ');
}
