// Per-minute aggregates with an hourly copy beside them, so a question about 30 days reads ~720
// hours plus the odd minutes at the edges instead of 43,200 minutes. Exact: both levels hold the
// same sums, an hour is used only when it lies wholly inside the range asked about.
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

export class Rollup<T> {
  readonly #minutes = new Map<number, T>();
  readonly #hours = new Map<number, T>();
  readonly #make: () => T;

  constructor(make: () => T) {
    this.#make = make;
  }

  /** The minute's and the hour's aggregate for `atMs`, for the caller to add the same event to both. */
  at(atMs: number): [minute: T, hour: T] {
    const m = Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
    const h = Math.floor(atMs / HOUR_MS) * HOUR_MS;
    let minute = this.#minutes.get(m);
    if (!minute) this.#minutes.set(m, (minute = this.#make()));
    let hour = this.#hours.get(h);
    if (!hour) this.#hours.set(h, (hour = this.#make()));
    return [minute, hour];
  }

  /** Minutes in [fromMs, toMs), oldest first (for per-minute output). */
  *minutes(fromMs: number, toMs: number): Generator<[number, T]> {
    const first = Math.ceil(fromMs / MINUTE_MS) * MINUTE_MS;
    if ((toMs - first) / MINUTE_MS < this.#minutes.size) {
      for (let m = first; m < toMs; m += MINUTE_MS) {
        const v = this.#minutes.get(m);
        if (v) yield [m, v];
      }
    } else {
      const hits = [...this.#minutes].filter(([m]) => m >= fromMs && m < toMs);
      yield* hits.sort((a, b) => a[0] - b[0]);
    }
  }

  /**
   * Aggregates covering [fromMs, toMs) with no overlap: whole hours where they fit, minutes at the
   * edges. Each comes with its start and width, oldest first.
   */
  *cover(fromMs: number, toMs: number): Generator<[startMs: number, widthMs: number, value: T]> {
    const firstHour = Math.ceil(fromMs / HOUR_MS) * HOUR_MS;
    const lastHour = Math.floor(toMs / HOUR_MS) * HOUR_MS;
    if (firstHour >= lastHour) {
      for (const [m, v] of this.minutes(fromMs, toMs)) yield [m, MINUTE_MS, v];
      return;
    }
    for (const [m, v] of this.minutes(fromMs, firstHour)) yield [m, MINUTE_MS, v];
    for (let h = firstHour; h < lastHour; h += HOUR_MS) {
      const v = this.#hours.get(h);
      if (v) yield [h, HOUR_MS, v];
    }
    for (const [m, v] of this.minutes(lastHour, toMs)) yield [m, MINUTE_MS, v];
  }

  /** Drops everything that starts before `oldestMs`. */
  prune(oldestMs: number): void {
    for (const map of [this.#minutes, this.#hours])
      for (const k of map.keys()) if (k < oldestMs) map.delete(k);
  }

  get size(): number {
    return this.#minutes.size + this.#hours.size;
  }
}
