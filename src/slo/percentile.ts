// Percentiles of raw samples, for the measured values shown beside targets. Nearest rank (the
// smallest sample such that at least q of all samples are ≤ it): always a value that was really
// observed, and exactly the boundary a ratio SLO judges — 'P95 ≤ 800 ms' holds iff ≥ 95% of
// requests are ≤ 800 ms iff the nearest-rank P95 is ≤ 800 ms.

/** Nearest-rank percentile, q in (0, 1]. Undefined for no samples. Does not modify `samples`. */
export function percentile(samples: readonly number[], q: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return percentileOfSorted(sorted, q);
}

/** As `percentile`, for samples already sorted ascending (several percentiles of one set). */
export function percentileOfSorted(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length - 1e-9)));
  return sorted[rank - 1];
}
