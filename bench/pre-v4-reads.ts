// The sqlite store's reads as they were before schema v4, over the same file: SLO counts summed
// from per-minute rows (per day between the evaluator's edges, the last 3 days as minutes), the
// measured values and series merged from hour and minute histograms. bench/dashboard.ts measures
// the dashboard through it as the baseline of the same run; nothing outside bench/ uses it.
import { DatabaseSync } from 'node:sqlite';
import type { Fleet } from '../src/fleet/index.ts';
import { BURN_RATE_WINDOWS_MS } from '../src/slo/burn-windows.ts';
import { reportedObjectivesFor } from '../src/slo/objectives.ts';
import type {
  FleetStore,
  MinuteBucket,
  ObjectiveCounts,
  SeriesPoint,
  SeriesQuery,
  TimeRange,
} from '../src/store/index.ts';
import { MinuteHistogram } from '../src/store/index.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const hist = (v: unknown): MinuteHistogram => MinuteHistogram.parse(v === null ? undefined : String(v));

export function preV4Reads(store: FleetStore, path: string, fleet: Fleet): FleetStore {
  const db = new DatabaseSync(path, { readOnly: true });
  const objectives = new Map(reportedObjectivesFor(fleet).map((o) => [o.id, o]));
  const recentMs = Math.max(...BURN_RATE_WINDOWS_MS, fleet.recalibration.sustainedViolations.windowMs);
  const minuteRows = db.prepare(
    'SELECT *, minute_ms AS at_ms FROM endpoint_minutes WHERE endpoint = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms',
  );
  const hourRows = db.prepare(
    'SELECT *, hour_ms AS at_ms FROM endpoint_hours WHERE endpoint = ? AND hour_ms >= ? AND hour_ms < ? ORDER BY hour_ms',
  );
  const histRows = (endpoint: string, range: TimeRange, hours: boolean): Row[] => {
    const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
    const firstHour = Math.ceil(from / HOUR_MS) * HOUR_MS;
    const lastHour = Math.floor(range.toMs / HOUR_MS) * HOUR_MS;
    if (!hours || firstHour >= lastHour) return minuteRows.all(endpoint, from, range.toMs) as Row[];
    return [
      ...(minuteRows.all(endpoint, from, firstHour) as Row[]),
      ...(hourRows.all(endpoint, firstHour, lastHour) as Row[]),
      ...(minuteRows.all(endpoint, lastHour, range.toMs) as Row[]),
    ];
  };
  const bucket = (r: Row): MinuteBucket => ({
    objectiveId: String(r.objective_id),
    endpoint: String(r.endpoint),
    minuteStartMs: num(r.minute_ms),
    good: num(r.good),
    total: num(r.total),
  });
  const coarseStmt = db.prepare(
    `SELECT objective_id, endpoint, MAX(minute_ms) AS minute_ms, SUM(good) AS good, SUM(total) AS total
     FROM slo_minutes WHERE minute_ms >= ? AND minute_ms < ?
     GROUP BY objective_id, endpoint, minute_ms / ${DAY_MS} ORDER BY minute_ms`,
  );
  const fineStmt = db.prepare(
    'SELECT * FROM slo_minutes WHERE minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms, objective_id',
  );
  const countStmt = db.prepare(
    `SELECT COALESCE(SUM(good), 0) AS good, COALESCE(SUM(total), 0) AS total FROM slo_minutes
     WHERE objective_id = ? AND minute_ms >= ? AND minute_ms < ?`,
  );
  const overrides = {
    // evaluationData asks for everything at once; before v4 the last 3 days came as minutes.
    async sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): Promise<MinuteBucket[]> {
      const nowMs = range.toMs - MINUTE_MS;
      const fineFromMs = Math.max(range.fromMs, Math.floor((nowMs - recentMs) / MINUTE_MS) * MINUTE_MS);
      const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
      const edges = [...new Set([from, ...cuts.map((c) => Math.ceil(c / MINUTE_MS) * MINUTE_MS), fineFromMs])]
        .filter((e) => e >= from && e <= fineFromMs)
        .sort((a, b) => a - b);
      const out: MinuteBucket[] = [];
      for (let i = 0; i + 1 < edges.length; i++)
        for (const r of coarseStmt.all(edges[i] as number, edges[i + 1] as number) as Row[])
          out.push(bucket(r));
      for (const r of fineStmt.all(fineFromMs, range.toMs) as Row[]) out.push(bucket(r));
      return out;
    },
    async objectiveCounts(objectiveId: string, range: TimeRange): Promise<ObjectiveCounts | undefined> {
      const o = objectives.get(objectiveId);
      if (!o) return undefined;
      const row = countStmt.get(
        objectiveId,
        Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS,
        range.toMs,
      ) as Row;
      const column = {
        'ttft-p95': 'ttft_hist',
        'ttft-p99': 'ttft_hist',
        'throughput-sustained': 'decode_hist',
        'throughput-burst': 'burst_hist',
        'embeddings-rate': 'embeddings_rate_hist',
      }[o.kind as string];
      let observedValue: number | undefined;
      if (column) {
        const merged = new MinuteHistogram();
        for (const r of histRows(o.endpoint, range, true)) merged.merge(hist(r[column]));
        const q =
          o.kind === 'ttft-p99' ? 0.99 : o.kind === 'ttft-p95' || o.kind === 'throughput-burst' ? 0.95 : 0.5;
        observedValue = merged.quantile(q);
      }
      return {
        good: num(row.good),
        valid: num(row.total),
        ...(observedValue === undefined ? {} : { observedValue }),
      };
    },
    async series(endpoint: string, query: SeriesQuery): Promise<SeriesPoint[]> {
      const stepMs = Math.max(MINUTE_MS, Math.round(query.stepMs / MINUTE_MS) * MINUTE_MS);
      const firstStep = Math.floor(query.fromMs / stepMs) * stepMs;
      const steps = new Map<
        number,
        { requests: number; errors: number; ttft: MinuteHistogram; decode: MinuteHistogram }
      >();
      for (const r of histRows(endpoint, { fromMs: firstStep, toMs: query.toMs }, stepMs % HOUR_MS === 0)) {
        const at = Math.floor(num(r.at_ms) / stepMs) * stepMs;
        let s = steps.get(at);
        if (!s)
          steps.set(
            at,
            (s = { requests: 0, errors: 0, ttft: new MinuteHistogram(), decode: new MinuteHistogram() }),
          );
        s.requests += num(r.requests);
        s.errors += num(r.errors);
        s.ttft.merge(hist(r.ttft_hist));
        s.decode.merge(hist(r.decode_hist));
      }
      const out: SeriesPoint[] = [];
      for (let at = firstStep; at < query.toMs; at += stepMs) {
        const s = steps.get(at);
        out.push({
          atMs: at,
          requests: s?.requests ?? 0,
          errors: s?.errors ?? 0,
          ttftP50Ms: s?.ttft.quantile(0.5) ?? null,
          ttftP95Ms: s?.ttft.quantile(0.95) ?? null,
          ttftP99Ms: s?.ttft.quantile(0.99) ?? null,
          decodeTokensPerSecondP50: s?.decode.quantile(0.5) ?? null,
        });
      }
      return out;
    },
  };
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof typeof overrides];
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
