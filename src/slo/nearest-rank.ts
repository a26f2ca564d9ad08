// The measured value shown beside a ratio target uses the nearest-rank percentile (the smallest
// sample with at least q of all samples ≤ it), not src/measure's interpolated one: it is a value
// really observed and it agrees with the verdict by construction — 'P95 ≤ 800 ms' holds iff ≥ 95%
// of requests are ≤ 800 ms iff the nearest-rank P95 is ≤ 800 ms. An interpolated P95 can read
// 805 ms beside an 'ok'. Calibration reports keep src/measure's method (comparable with other tools).

/** Nearest-rank q-quantile (q in (0, 1]) of values sorted ascending; undefined when empty. */
export function nearestRankOfSorted(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  // The epsilon keeps 0.95 × 200 = 190 (not 190.00000000000003 → rank 191).
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length - 1e-9)));
  return sorted[rank - 1];
}

/** As `nearestRankOfSorted`, for unsorted values (not modified). */
export function nearestRank(values: readonly number[], q: number): number | undefined {
  return nearestRankOfSorted(
    [...values].sort((a, b) => a - b),
    q,
  );
}
