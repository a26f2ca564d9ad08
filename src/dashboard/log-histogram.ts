// A log-bucketed histogram: fixed relative error (±2.2%), constant memory, mergeable — so the store
// can keep one per endpoint and minute and answer P50/P95/P99 over any window without raw values.

/** Buckets per doubling: 16 gives a bucket width of 2^(1/16) ≈ 4.4%. */
const BUCKETS_PER_OCTAVE = 16;

export class LogHistogram {
  readonly counts = new Map<number, number>();
  total = 0;

  add(value: number, count = 1): void {
    if (!Number.isFinite(value) || value < 0) return;
    const index = bucketOf(value);
    this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    this.total += count;
  }

  merge(other: LogHistogram): void {
    for (const [index, count] of other.counts) this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    this.total += other.total;
  }

  /** The q-quantile (0..1) as the geometric middle of its bucket; undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.total === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.total));
    const sorted = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const index of sorted) {
      seen += this.counts.get(index) ?? 0;
      if (seen >= rank) return valueOf(index);
    }
    return valueOf(sorted[sorted.length - 1] as number);
  }
}

function bucketOf(value: number): number {
  // Values below 1 (sub-millisecond, or < 1 tok/s) share one bucket: nothing the page shows needs them.
  return value < 1 ? -1 : Math.floor(Math.log2(value) * BUCKETS_PER_OCTAVE);
}

function valueOf(index: number): number {
  if (index < 0) return 0.5;
  return 2 ** ((index + 0.5) / BUCKETS_PER_OCTAVE);
}
