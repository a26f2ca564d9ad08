// Percentiles by linear interpolation between order statistics (Hyndman–Fan type 7): the method
// of numpy's default, k6, vLLM bench and AIPerf, so our P95 can be set beside theirs without a
// footnote. For n samples sorted ascending, P(q) sits at position h = (q/100)·(n−1) and is
// x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). With 200 samples P99 is at h = 197.01.

export const PERCENTILE_METHOD =
  'linear interpolation between order statistics (numpy default, type 7): P(q) at position (q/100)·(n−1) of the sorted samples';

/** P(q) of already sorted values (ascending). Undefined for an empty list. */
export function percentileOfSorted(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile must be within 0..100, got ${q}`);
  const h = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (h - lo) * (b - a);
}

/** P(q) of unsorted values (NaN and non-finite values are ignored). */
export function percentile(values: readonly number[], q: number): number | undefined {
  return percentileOfSorted(sortFinite(values), q);
}

export interface Summary {
  readonly count: number;
  readonly min?: number;
  readonly max?: number;
  readonly mean?: number;
  readonly p50?: number;
  readonly p95?: number;
  readonly p99?: number;
}

/** Count, min, max, mean and P50/P95/P99: the shape every report of a metric uses. */
export function summarize(values: readonly number[]): Summary {
  const sorted = sortFinite(values);
  if (sorted.length === 0) return { count: 0 };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    mean: sum / sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p95: percentileOfSorted(sorted, 95),
    p99: percentileOfSorted(sorted, 99),
  };
}

function sortFinite(values: readonly number[]): number[] {
  return values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}
