// Per-minute good/total counts per objective: the common currency between the gateway and monitor
// (which count), the store (which persists and hands them back) and the evaluator (which judges).
// An aggregate-rate objective (embeddings/s) uses the same two sums for its own pair: good = units
// (inputs) and total = busy milliseconds, so every window's rate is 1000 × good / total.
import type { Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import type { RateEvent, SloEvent } from './events.ts';
import { minuteStart, probeEvents, rateEvents, requestEvents } from './events.ts';

export interface MinuteBucket {
  readonly endpoint: string;
  readonly objectiveId: string;
  /** Epoch ms of the minute's start (a multiple of 60 000). */
  readonly minuteStartMs: number;
  /** Good events (aggregate-rate objectives: units). */
  readonly good: number;
  /** Valid events: good + bad (aggregate-rate objectives: busy milliseconds). */
  readonly total: number;
}

/** Buckets from request records (latency and throughput objectives). Sorted by minute, then id. */
export function foldRecords(fleet: Fleet, records: Iterable<RequestRecord>): MinuteBucket[] {
  const acc = new BucketAccumulator();
  for (const r of records) {
    acc.add(requestEvents(fleet, r), r.startedAtMs);
    acc.addRates(rateEvents(fleet, r), r.startedAtMs);
  }
  return acc.buckets();
}

/** Buckets from probe results (availability objectives, only minutes inside their window). */
export function foldProbes(fleet: Fleet, probes: Iterable<ProbeResult>): MinuteBucket[] {
  const acc = new BucketAccumulator();
  for (const p of probes) acc.add(probeEvents(fleet, p), p.atMs);
  return acc.buckets();
}

/** Sums buckets with the same endpoint, objective and minute (e.g. a stored batch plus a new one). */
export function mergeBuckets(...lists: readonly (readonly MinuteBucket[])[]): MinuteBucket[] {
  const acc = new BucketAccumulator();
  for (const list of lists)
    for (const b of list) acc.addCounts(b.endpoint, b.objectiveId, b.minuteStartMs, b.good, b.total);
  return acc.buckets();
}

/** Mutable accumulator for callers that count as events arrive (the monitor's write batch). */
export class BucketAccumulator {
  readonly #map = new Map<
    string,
    { endpoint: string; objectiveId: string; minuteStartMs: number; good: number; total: number }
  >();

  add(events: readonly SloEvent[], atMs: number): void {
    for (const e of events) this.addCounts(e.endpoint, e.objectiveId, atMs, e.outcome === 'good' ? 1 : 0, 1);
  }

  addRates(events: readonly RateEvent[], atMs: number): void {
    for (const e of events) this.addCounts(e.endpoint, e.objectiveId, atMs, e.units, e.busyMs);
  }

  addCounts(endpoint: string, objectiveId: string, atMs: number, good: number, total: number): void {
    const minute = minuteStart(atMs);
    const key = `${objectiveId}\u0000${minute}`;
    const b = this.#map.get(key);
    if (b) {
      b.good += good;
      b.total += total;
    } else this.#map.set(key, { endpoint, objectiveId, minuteStartMs: minute, good, total });
  }

  buckets(): MinuteBucket[] {
    return [...this.#map.values()]
      .map((b) => ({ ...b }))
      .sort(
        (a, b) =>
          a.minuteStartMs - b.minuteStartMs ||
          (a.objectiveId < b.objectiveId ? -1 : a.objectiveId > b.objectiveId ? 1 : 0),
      );
  }

  clear(): void {
    this.#map.clear();
  }
}
