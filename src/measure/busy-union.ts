// The time an endpoint was busy: the union of its requests' [start, end] intervals, built as the
// requests finish, in any order. The aggregate embeddings rate is inputs over this busy time, so
// concurrent batches share the seconds they overlap instead of each claiming the whole span.
// Pure: the caller passes the instants (any monotonic clock, the same one for every call).

export class BusyUnion {
  /** Disjoint [start, end] segments, ascending. */
  readonly #segments: [number, number][] = [];
  readonly #keepMs: number;
  /** Length of the union ever covered (ms, fractional). */
  #coveredMs = 0;
  /** Whole milliseconds handed out so far: Σ of every `add`'s answer. */
  #reportedMs = 0;

  /**
   * `keepMs`: how far back an interval still to be added can start before the instant it ends
   * (the longest request — the endpoint's total timeout). Older segments are dropped.
   */
  constructor(keepMs: number) {
    this.#keepMs = keepMs;
  }

  /**
   * Adds one request's interval; returns the whole milliseconds of busy time it newly covers.
   * Rounded so the answers sum to the union's length (rounded), whatever the order: a request
   * wholly inside others' intervals gets 0, the busy time is never counted twice.
   */
  add(startMs: number, endMs: number): number {
    if (!(endMs > startMs)) return 0;
    const segments = this.#segments;
    let i = firstEndingAtOrAfter(segments, startMs);
    let overlapMs = 0;
    let from = startMs;
    let to = endMs;
    const firstMerged = i;
    while (i < segments.length && (segments[i] as [number, number])[0] <= endMs) {
      const [s, e] = segments[i] as [number, number];
      overlapMs += Math.min(e, endMs) - Math.max(s, startMs);
      from = Math.min(from, s);
      to = Math.max(to, e);
      i++;
    }
    segments.splice(firstMerged, i - firstMerged, [from, to]);
    this.#coveredMs += endMs - startMs - overlapMs;
    this.#prune(endMs - this.#keepMs);
    const reported = Math.round(this.#coveredMs);
    const added = reported - this.#reportedMs;
    this.#reportedMs = reported;
    return added;
  }

  /** The union's length so far (ms). */
  get coveredMs(): number {
    return this.#coveredMs;
  }

  #prune(beforeMs: number): void {
    let n = 0;
    while (n < this.#segments.length - 1 && (this.#segments[n] as [number, number])[1] < beforeMs) n++;
    if (n > 0) this.#segments.splice(0, n);
  }
}

/** Index of the first segment whose end is ≥ x (segments ascending and disjoint). */
function firstEndingAtOrAfter(segments: readonly [number, number][], x: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((segments[mid] as [number, number])[1] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
