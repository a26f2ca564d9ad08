// A log-bucketed histogram kept per endpoint and minute: fixed relative error (±2.2%), constant
// size, mergeable and serialisable as a small JSON object, so P50/P95/P99 over any range come from
// stored minutes without keeping (or scanning) raw values.

/** Buckets per doubling: 16 gives a bucket width of 2^(1/16) ≈ 4.4%. */
const BUCKETS_PER_OCTAVE = 16;
/** Values below 1 (sub-millisecond, under 1 tok/s) share one bucket. */
const LOW_BUCKET = -1;

export class MinuteHistogram {
  readonly counts = new Map<number, number>();
  total = 0;

  add(value: number | undefined, count = 1): void {
    if (value === undefined || !Number.isFinite(value) || value < 0) return;
    const index = value < 1 ? LOW_BUCKET : Math.floor(Math.log2(value) * BUCKETS_PER_OCTAVE);
    this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    this.total += count;
  }

  merge(other: MinuteHistogram): this {
    for (const [index, count] of other.counts) this.counts.set(index, (this.counts.get(index) ?? 0) + count);
    this.total += other.total;
    return this;
  }

  /** The q-quantile (0..1), nearest-rank, as the geometric middle of its bucket. */
  quantile(q: number): number | undefined {
    if (this.total === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    let last = LOW_BUCKET;
    for (const index of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(index) ?? 0;
      last = index;
      if (seen >= rank) break;
    }
    return last === LOW_BUCKET ? 0.5 : 2 ** ((last + 0.5) / BUCKETS_PER_OCTAVE);
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  static parse(text: string | null | undefined): MinuteHistogram {
    const h = new MinuteHistogram();
    if (!text) return h;
    const raw = JSON.parse(text) as Record<string, number>;
    for (const [index, count] of Object.entries(raw)) {
      h.counts.set(Number(index), count);
      h.total += count;
    }
    return h;
  }
}
