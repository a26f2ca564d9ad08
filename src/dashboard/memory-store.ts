// An in-process DashboardStore for a gateway run without the sqlite store (and for tests): it takes
// every RequestRecord and ProbeResult and keeps only per-endpoint, per-minute aggregates — request
// and error counts, TTFT and decode-rate histograms, and each objective's good/total from the same
// `requestEvents` / `probeEvents` the gateway's metrics and the evaluator use. Memory grows with
// minutes × endpoints, not with requests; minutes older than the retention are dropped.
import type { Fleet } from '../fleet/index.ts';
import type { RecordSink, RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import type { MinuteBucket, SloEvent } from '../slo/index.ts';
import { minuteStart, probeEvents, reportedObjectivesFor, requestEvents } from '../slo/index.ts';
import type { DashboardStore, ObjectiveCounts, SeriesPoint, SeriesQuery, TimeRange } from './deps.ts';
import { LogHistogram } from './log-histogram.ts';

const MINUTE_MS = 60_000;
const DEFAULT_RETENTION_MS = 31 * 24 * 60 * MINUTE_MS;

/** Outcomes that count against the endpoint (the client's own mistakes and cancellations do not). */
const ERROR_OUTCOMES: ReadonlySet<string> = new Set(['upstream_error', 'timeout', 'rejected']);

interface TrafficMinute {
  requests: number;
  errors: number;
  readonly ttftMs: LogHistogram;
  readonly decodeTokensPerSecond: LogHistogram;
}

interface ObjectiveMinute {
  good: number;
  total: number;
  /** The per-request value the objective is about, for the percentile shown beside the target. */
  readonly values: LogHistogram;
}

export interface MemoryStore
  extends Required<Pick<DashboardStore, 'series' | 'objectiveCounts' | 'sloBuckets'>>, RecordSink {
  writeProbe(result: ProbeResult): void;
  /** Minute aggregates held (for tests and the benchmark). */
  bucketCount(): number;
}

export function createMemoryStore(fleet: Fleet, options: { retentionMs?: number } = {}): MemoryStore {
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const objectives = new Map(reportedObjectivesFor(fleet).map((o) => [o.id, o]));
  /** endpoint → minute → traffic. */
  const traffic = new Map<string, Map<number, TrafficMinute>>();
  /** objective id → minute → counts. */
  const slo = new Map<string, Map<number, ObjectiveMinute>>();
  let newestMinuteMs = 0;

  function minuteOf<T>(map: Map<string, Map<number, T>>, key: string, minuteMs: number, make: () => T): T {
    let inner = map.get(key);
    if (!inner) map.set(key, (inner = new Map()));
    let value = inner.get(minuteMs);
    if (!value) inner.set(minuteMs, (value = make()));
    return value;
  }

  function count(
    events: readonly SloEvent[],
    atMs: number,
    valueOf: (kind: string) => number | undefined,
  ): void {
    const minuteMs = minuteStart(atMs);
    for (const e of events) {
      const m = minuteOf(slo, e.objectiveId, minuteMs, () => ({
        good: 0,
        total: 0,
        values: new LogHistogram(),
      }));
      m.total += 1;
      if (e.outcome === 'good') m.good += 1;
      const value = valueOf(objectives.get(e.objectiveId)?.kind ?? '');
      if (value !== undefined) m.values.add(value);
    }
    advance(minuteMs);
  }

  function advance(minuteMs: number): void {
    if (minuteMs <= newestMinuteMs) return;
    const crossedHour = Math.floor(minuteMs / 3_600_000) !== Math.floor(newestMinuteMs / 3_600_000);
    newestMinuteMs = minuteMs;
    if (!crossedHour) return;
    const oldest = newestMinuteMs - retentionMs;
    for (const map of [traffic, slo] as Map<string, Map<number, unknown>>[])
      for (const inner of map.values()) for (const m of inner.keys()) if (m < oldest) inner.delete(m);
  }

  /** Minutes of `inner` inside the range, walking whichever is smaller. */
  function* within<T>(inner: Map<number, T> | undefined, range: TimeRange): Generator<[number, T]> {
    if (!inner) return;
    if ((range.toMs - range.fromMs) / MINUTE_MS < inner.size) {
      for (let m = Math.ceil(range.fromMs / MINUTE_MS) * MINUTE_MS; m < range.toMs; m += MINUTE_MS) {
        const v = inner.get(m);
        if (v) yield [m, v];
      }
    } else for (const entry of inner) if (entry[0] >= range.fromMs && entry[0] < range.toMs) yield entry;
  }

  return {
    write(record: RequestRecord): void {
      const t = minuteOf(traffic, record.endpoint, minuteStart(record.startedAtMs), () => ({
        requests: 0,
        errors: 0,
        ttftMs: new LogHistogram(),
        decodeTokensPerSecond: new LogHistogram(),
      }));
      t.requests += 1;
      if (ERROR_OUTCOMES.has(record.outcome)) t.errors += 1;
      if (record.outcome === 'ok') {
        if (record.ttftMs !== undefined) t.ttftMs.add(record.ttftMs);
        if (record.decodeTokensPerSecond !== undefined)
          t.decodeTokensPerSecond.add(record.decodeTokensPerSecond);
      }
      count(requestEvents(fleet, record), record.startedAtMs, (kind) => requestValue(kind, record));
    },

    writeProbe(result: ProbeResult): void {
      count(probeEvents(fleet, result), result.atMs, () => undefined);
    },

    series(endpoint: string, query: SeriesQuery): SeriesPoint[] {
      const steps = Math.max(0, Math.ceil((query.toMs - query.fromMs) / query.stepMs));
      const acc = Array.from({ length: steps }, () => ({
        requests: 0,
        errors: 0,
        ttft: new LogHistogram(),
        decode: new LogHistogram(),
      }));
      for (const [minuteMs, m] of within(traffic.get(endpoint), query)) {
        const slot = acc[Math.floor((minuteMs - query.fromMs) / query.stepMs)];
        if (!slot) continue;
        slot.requests += m.requests;
        slot.errors += m.errors;
        slot.ttft.merge(m.ttftMs);
        slot.decode.merge(m.decodeTokensPerSecond);
      }
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
      const values = new LogHistogram();
      for (const [, m] of within(slo.get(objectiveId), range)) {
        good += m.good;
        valid += m.total;
        values.merge(m.values);
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
        for (const [minuteStartMs, m] of within(slo.get(id), range))
          out.push({ endpoint, objectiveId: id, minuteStartMs, good: m.good, total: m.total });
      }
      return out.sort((a, b) => a.minuteStartMs - b.minuteStartMs);
    },

    bucketCount(): number {
      let n = 0;
      for (const map of [traffic, slo] as Map<string, Map<number, unknown>>[])
        for (const inner of map.values()) n += inner.size;
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
    case 'embeddings-rate':
      return record.inputCount !== undefined && record.ttftMs
        ? (record.inputCount / record.ttftMs) * 1000
        : undefined;
    default:
      return undefined;
  }
}

function round(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value * 10) / 10;
}
