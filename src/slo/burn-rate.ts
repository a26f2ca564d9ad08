// Compliance, error budget and multi-window burn rates of one ratio objective, from per-minute
// buckets. A window W ending at `nowMs` holds the minutes that start in [nowMs − W, nowMs): with
// `nowMs` on a minute boundary that is exactly the increase Prometheus sees between the samples at
// nowMs − W and nowMs, which is what the exported recording rules compute.
import { BucketIndex } from './bucket-index.ts';
import type { MinuteBucket } from './buckets.ts';
import type { BurnSeverity, BurnWindowPair } from './burn-windows.ts';
import { BURN_RATE_WINDOWS_MS, BURN_WINDOWS } from './burn-windows.ts';

export interface Counts {
  readonly good: number;
  readonly total: number;
}

/** Buckets as given, or indexed once for many queries (`new BucketIndex(buckets)`). */
export type BucketSource = readonly MinuteBucket[] | BucketIndex;

/** Good and total for one objective over minutes starting in [fromMs, toMs). */
export function countsIn(buckets: BucketSource, objectiveId: string, fromMs: number, toMs: number): Counts {
  if (buckets instanceof BucketIndex) return buckets.counts(objectiveId, fromMs, toMs);
  let good = 0;
  let total = 0;
  for (const b of buckets) {
    if (b.objectiveId !== objectiveId || b.minuteStartMs < fromMs || b.minuteStartMs >= toMs) continue;
    good += b.good;
    total += b.total;
  }
  return { good, total };
}

/** Bad / total; undefined without events (Prometheus gives NaN, and no alert fires). */
export function errorRatio(c: Counts): number | undefined {
  return c.total > 0 ? (c.total - c.good) / c.total : undefined;
}

export interface ErrorBudget {
  /** Bad events the objective allows over these counts: (1 − target) × total. */
  readonly allowedBad: number;
  readonly consumedBad: number;
  /** 1 − consumed/allowed: 1 untouched, 0 spent, negative overspent. Undefined without events. */
  readonly remaining?: number;
}

export function errorBudget(c: Counts, target: number): ErrorBudget {
  const allowedBad = (1 - target) * c.total;
  const consumedBad = c.total - c.good;
  if (c.total === 0) return { allowedBad, consumedBad };
  // A 100% objective has no budget: untouched while nothing is bad, spent otherwise.
  const remaining = allowedBad > 0 ? 1 - consumedBad / allowedBad : consumedBad === 0 ? 1 : -Infinity;
  return { allowedBad, consumedBad, remaining };
}

export interface WindowBurn {
  readonly windowMs: number;
  readonly good: number;
  readonly total: number;
  readonly errorRatio?: number;
  /** errorRatio / (1 − target): 1 spends the budget exactly over the SLO period. */
  readonly burnRate?: number;
}

export interface BurnAlert {
  readonly pair: BurnWindowPair;
  readonly short: WindowBurn;
  readonly long: WindowBurn;
  /** Both windows' error ratios above factor × (1 − target), as the exported alert rule states it. */
  readonly firing: boolean;
}

export interface BurnStatus {
  /** One entry per window of the table (5m … 3d), ascending. */
  readonly windows: readonly WindowBurn[];
  readonly alerts: readonly BurnAlert[];
  /** The most severe firing alert: page beats ticket. */
  readonly firing: BurnSeverity | 'none';
}

export function burnStatus(
  buckets: BucketSource,
  objectiveId: string,
  target: number,
  nowMs: number,
): BurnStatus {
  const budget = 1 - target;
  const windows = BURN_RATE_WINDOWS_MS.map((windowMs): WindowBurn => {
    const c = countsIn(buckets, objectiveId, nowMs - windowMs, nowMs);
    const ratio = errorRatio(c);
    return {
      windowMs,
      good: c.good,
      total: c.total,
      errorRatio: ratio,
      burnRate: ratio === undefined || budget <= 0 ? undefined : ratio / budget,
    };
  });
  const at = (ms: number): WindowBurn => windows.find((w) => w.windowMs === ms) as WindowBurn;
  const alerts = BURN_WINDOWS.map((pair): BurnAlert => {
    const short = at(pair.shortWindowMs);
    const long = at(pair.longWindowMs);
    // Written exactly like the rule (`ratio > factor * (1 - target)`) so the float arithmetic matches.
    const threshold = pair.factor * (1 - target);
    const firing =
      short.errorRatio !== undefined &&
      long.errorRatio !== undefined &&
      short.errorRatio > threshold &&
      long.errorRatio > threshold;
    return { pair, short, long, firing };
  });
  const firing = alerts.some((a) => a.firing && a.pair.severity === 'page')
    ? 'page'
    : alerts.some((a) => a.firing)
      ? 'ticket'
      : 'none';
  return { windows, alerts, firing };
}
