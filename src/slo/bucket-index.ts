// Per-objective prefix sums over minute buckets, so the evaluator's many window queries (seven
// burn windows, the range, the month, 30 days, the trigger window — per objective) cost a binary
// search each instead of a pass over a month of buckets.
import type { MinuteBucket } from './buckets.ts';

interface Series {
  /** Minute starts, ascending, distinct. */
  readonly minutes: number[];
  /** good/total summed over minutes[0..i-1]: prefix[0] = 0. */
  readonly goodPrefix: number[];
  readonly totalPrefix: number[];
}

export class BucketIndex {
  readonly #series = new Map<string, Series>();

  constructor(buckets: readonly MinuteBucket[]) {
    const grouped = new Map<string, MinuteBucket[]>();
    for (const b of buckets) {
      const list = grouped.get(b.objectiveId);
      if (list) list.push(b);
      else grouped.set(b.objectiveId, [b]);
    }
    for (const [id, list] of grouped) {
      list.sort((a, b) => a.minuteStartMs - b.minuteStartMs);
      const minutes: number[] = [];
      const goodPrefix = [0];
      const totalPrefix = [0];
      for (const b of list) {
        const last = minutes.length - 1;
        if (last >= 0 && minutes[last] === b.minuteStartMs) {
          // Same minute twice (e.g. two store batches): fold into the one entry.
          goodPrefix[last + 1] = (goodPrefix[last + 1] ?? 0) + b.good;
          totalPrefix[last + 1] = (totalPrefix[last + 1] ?? 0) + b.total;
          continue;
        }
        minutes.push(b.minuteStartMs);
        goodPrefix.push((goodPrefix[goodPrefix.length - 1] ?? 0) + b.good);
        totalPrefix.push((totalPrefix[totalPrefix.length - 1] ?? 0) + b.total);
      }
      this.#series.set(id, { minutes, goodPrefix, totalPrefix });
    }
  }

  /** Good and total over minutes starting in [fromMs, toMs). */
  counts(objectiveId: string, fromMs: number, toMs: number): { good: number; total: number } {
    const s = this.#series.get(objectiveId);
    if (!s || toMs <= fromMs) return { good: 0, total: 0 };
    const lo = lowerBound(s.minutes, fromMs);
    const hi = lowerBound(s.minutes, toMs);
    return {
      good: (s.goodPrefix[hi] ?? 0) - (s.goodPrefix[lo] ?? 0),
      total: (s.totalPrefix[hi] ?? 0) - (s.totalPrefix[lo] ?? 0),
    };
  }
}

/** First index whose value is ≥ x. */
function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? 0) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
