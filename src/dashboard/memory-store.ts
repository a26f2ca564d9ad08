// An in-process DashboardStore for a gateway run without the sqlite store (and for tests): it takes
// every RequestRecord and ProbeResult and keeps only per-endpoint, per-minute aggregates — request
// and error counts, TTFT and decode-rate histograms, and each objective's good/total from the same
// `requestEvents` / `probeEvents` the gateway's metrics and the evaluator use. Memory grows with
// minutes × endpoints, not with requests; minutes older than the retention are dropped.
import type { Fleet } from '../fleet/index.ts';
import type { RecordSink, RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import type { MinuteBucket, RateEvent, SloEvent } from '../slo/index.ts';
import {
  minuteStart,
  probeEvents,
  ratePerSecond,
  rateEvents,
  reportedObjectivesFor,
  requestEvents,
} from '../slo/index.ts';
import type { ObjectiveCounts, SeriesPoint, SeriesQuery, TimeRange } from './deps.ts';
import { MinuteHistogram } from '../store/minute-histogram.ts';
import { Rollup } from './rollup.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const DEFAULT_RETENTION_MS = 31 * 24 * 60 * MINUTE_MS;

/** Outcomes that count against the endpoint (the client's own mistakes and cancellations do not). */
const ERROR_OUTCOMES: ReadonlySet<string> = new Set(['upstream_error', 'timeout', 'rejected']);

interface Traffic {
  requests: number;
  errors: number;
  readonly ttftMs: MinuteHistogram;
  readonly decodeTokensPerSecond: MinuteHistogram;
}

interface ObjectiveCountsAcc {
  good: number;
  total: number;
  /** Last minute with an event (coarse buckets are dated there, as the sqlite store dates them). */
  lastMinuteMs: number;
  /** The per-request value the objective is about, for the percentile shown beside the target. */
  readonly values: MinuteHistogram;
}

/** A PartialStore that answers at once (everything is in process). */
export interface MemoryStore extends RecordSink {
  series(endpoint: string, query: SeriesQuery): SeriesPoint[];
  objectiveCounts(objectiveId: string, range: TimeRange): ObjectiveCounts | undefined;
  sloBuckets(range: TimeRange, objectiveIds?: readonly string[]): MinuteBucket[];
  writeProbe(result: ProbeResult): void;
  /** Like the sqlite store's: old history summed per UTC day between the cuts (exact for sums over them). */
  sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): MinuteBucket[];
  /** Aggregates held, minutes and hours (for tests and the benchmark). */
  bucketCount(): number;
}

export function createMemoryStore(fleet: Fleet, options: { retentionMs?: number } = {}): MemoryStore {
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const objectives = new Map(reportedObjectivesFor(fleet).map((o) => [o.id, o]));
  const newTraffic = (): Traffic => ({
    requests: 0,
    errors: 0,
    ttftMs: new MinuteHistogram(),
    decodeTokensPerSecond: new MinuteHistogram(),
  });
  const newCounts = (): ObjectiveCountsAcc => ({
    good: 0,
    total: 0,
    lastMinuteMs: 0,
    values: new MinuteHistogram(),
  });
  const traffic = new Map<string, Rollup<Traffic>>();
  const slo = new Map<string, Rollup<ObjectiveCountsAcc>>();
  let newestMs = 0;

  function rollup<T>(map: Map<string, Rollup<T>>, key: string, make: () => T): Rollup<T> {
    let r = map.get(key);
    if (!r) map.set(key, (r = new Rollup(make)));
    return r;
  }

  function count(
    events: readonly SloEvent[],
    atMs: number,
    valueOf: (kind: string) => number | undefined,
  ): void {
    const minuteMs = minuteStart(atMs);
    for (const e of events) {
      const value = valueOf(objectives.get(e.objectiveId)?.kind ?? '');
      for (const c of rollup(slo, e.objectiveId, newCounts).at(atMs)) {
        c.total += 1;
        if (e.outcome === 'good') c.good += 1;
        c.lastMinuteMs = Math.max(c.lastMinuteMs, minuteMs);
        if (value !== undefined) c.values.add(value);
      }
    }
    advance(atMs);
  }

  /** Aggregate-rate shares: good = units, total = busy ms (as the sqlite store's buckets). */
  function countRates(events: readonly RateEvent[], atMs: number): void {
    const minuteMs = minuteStart(atMs);
    for (const e of events)
      for (const c of rollup(slo, e.objectiveId, newCounts).at(atMs)) {
        c.good += e.units;
        c.total += e.busyMs;
        c.lastMinuteMs = Math.max(c.lastMinuteMs, minuteMs);
      }
  }

  function advance(atMs: number): void {
    if (atMs <= newestMs) return;
    const crossedHour = Math.floor(atMs / 3_600_000) !== Math.floor(newestMs / 3_600_000);
    newestMs = atMs;
    if (!crossedHour) return;
    for (const r of traffic.values()) r.prune(newestMs - retentionMs);
    for (const r of slo.values()) r.prune(newestMs - retentionMs);
  }

  return {
    write(record: RequestRecord): void {
      for (const t of rollup(traffic, record.endpoint, newTraffic).at(record.startedAtMs)) {
        t.requests += 1;
        if (ERROR_OUTCOMES.has(record.outcome)) t.errors += 1;
        if (record.outcome === 'ok') {
          if (record.ttftMs !== undefined) t.ttftMs.add(record.ttftMs);
          if (record.decodeTokensPerSecond !== undefined)
            t.decodeTokensPerSecond.add(record.decodeTokensPerSecond);
        }
      }
      count(requestEvents(fleet, record), record.startedAtMs, (kind) => requestValue(kind, record));
      countRates(rateEvents(fleet, record), record.startedAtMs);
    },

    writeProbe(result: ProbeResult): void {
      count(probeEvents(fleet, result), result.atMs, () => undefined);
    },

    series(endpoint: string, query: SeriesQuery): SeriesPoint[] {
      const steps = Math.max(0, Math.ceil((query.toMs - query.fromMs) / query.stepMs));
      const acc = Array.from({ length: steps }, () => ({
        requests: 0,
        errors: 0,
        ttft: new MinuteHistogram(),
        decode: new MinuteHistogram(),
      }));
      const r = traffic.get(endpoint);
      if (r)
        acc.forEach((slot, i) => {
          const stepFromMs = query.fromMs + i * query.stepMs;
          // Whole hours inside the step come from the hourly copy, the edges from minutes.
          for (const [, , t] of r.cover(stepFromMs, Math.min(query.toMs, stepFromMs + query.stepMs))) {
            slot.requests += t.requests;
            slot.errors += t.errors;
            slot.ttft.merge(t.ttftMs);
            slot.decode.merge(t.decodeTokensPerSecond);
          }
        });
      return acc.map((slot, i) => ({
        atMs: query.fromMs + i * query.stepMs,
        requests: slot.requests,
        errors: slot.errors,
        ttftP50Ms: round(slot.ttft.quantile(0.5)),
        ttftP95Ms: round(slot.ttft.quantile(0.95)),
        ttftP99Ms: round(slot.ttft.quantile(0.99)),
        decodeTokensPerSecondP50: round(slot.decode.quantile(0.5)),
      }));
    },

    objectiveCounts(objectiveId: string, range: TimeRange): ObjectiveCounts | undefined {
      const objective = objectives.get(objectiveId);
      if (!objective) return undefined;
      let good = 0;
      let valid = 0;
      const values = new MinuteHistogram();
      for (const [, , c] of slo.get(objectiveId)?.cover(range.fromMs, range.toMs) ?? []) {
        good += c.good;
        valid += c.total;
        values.merge(c.values);
      }
      if (objective.judgedAs === 'aggregate') {
        const rate = ratePerSecond(good, valid);
        return { good, valid, ...(rate === undefined ? {} : { observedValue: round(rate) ?? rate }) };
      }
      // Latency targets name their own percentile; floors are judged at 1 − target (see slo/evaluate.ts).
      const latency = objective.kind === 'ttft-p95' || objective.kind === 'ttft-p99';
      const observed = round(values.quantile(latency ? objective.target : 1 - objective.target));
      return { good, valid, ...(observed === null ? {} : { observedValue: observed }) };
    },

    sloBuckets(range: TimeRange, objectiveIds?: readonly string[]): MinuteBucket[] {
      const out: MinuteBucket[] = [];
      for (const id of objectiveIds ?? slo.keys()) {
        const endpoint = objectives.get(id)?.endpoint ?? '';
        for (const [minuteStartMs, c] of slo.get(id)?.minutes(range.fromMs, range.toMs) ?? [])
          out.push({ endpoint, objectiveId: id, minuteStartMs, good: c.good, total: c.total });
      }
      return out.sort((a, b) => a.minuteStartMs - b.minuteStartMs);
    },

    sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): MinuteBucket[] {
      const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
      const edges = [...new Set([from, ...cuts.map((c) => Math.ceil(c / MINUTE_MS) * MINUTE_MS), range.toMs])]
        .filter((e) => e >= from && e <= range.toMs)
        .sort((a, b) => a - b);
      const out: MinuteBucket[] = [];
      for (const [id, r] of slo) {
        const endpoint = objectives.get(id)?.endpoint ?? '';
        for (let i = 0; i + 1 < edges.length; i++) {
          const days = new Map<number, { good: number; total: number; last: number }>();
          for (const [startMs, , c] of r.cover(edges[i] as number, edges[i + 1] as number)) {
            const day = Math.floor(startMs / DAY_MS);
            const d = days.get(day) ?? { good: 0, total: 0, last: 0 };
            d.good += c.good;
            d.total += c.total;
            d.last = Math.max(d.last, Math.min(c.lastMinuteMs, (edges[i + 1] as number) - MINUTE_MS));
            days.set(day, d);
          }
          for (const d of days.values())
            out.push({ endpoint, objectiveId: id, minuteStartMs: d.last, good: d.good, total: d.total });
        }
      }
      return out.sort((a, b) => a.minuteStartMs - b.minuteStartMs);
    },

    bucketCount(): number {
      let n = 0;
      for (const r of traffic.values()) n += r.size;
      for (const r of slo.values()) n += r.size;
      return n;
    },
  };
}
function requestValue(kind: string, record: RequestRecord): number | undefined {
  switch (kind) {
    case 'ttft-p95':
    case 'ttft-p99':
      return record.ttftMs;
    case 'throughput-sustained':
      return record.decodeTokensPerSecond;
    case 'throughput-burst':
      return record.burstTokensPerSecond;
    default:
      return undefined;
  }
}

function round(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value * 10) / 10;
}
