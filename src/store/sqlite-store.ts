// The first FleetStore: node:sqlite (built into Node 24, no native addon) in one file, WAL mode.
// `write`/`writeProbe` only queue; a timer flushes the queue in one transaction every
// `flushIntervalMs` (default 1 s), so the request path never waits on the disk and a crash loses at
// most the last interval. Incidents, calibration runs and marks are rare and written at once, so an
// open incident survives a restart.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { StatementSync } from 'node:sqlite';
import { DatabaseSync } from 'node:sqlite';
import { FleetError } from '../errors.ts';
import type { Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import { BucketAccumulator } from '../slo/buckets.ts';
import { probeEvents, requestEvents } from '../slo/events.ts';
import { reportedObjectivesFor } from '../slo/objectives.ts';
import type { Objective } from '../slo/objectives.ts';
import { MinuteHistogram } from './minute-histogram.ts';
import { MIGRATIONS } from './schema.ts';
import type {
  AvailabilityPoint,
  CalibrationRun,
  CalibrationRunInput,
  Fingerprint,
  FleetStore,
  MinuteBucket,
  ObjectiveCounts,
  OptimisationMark,
  RetentionPolicy,
  SeriesPoint,
  SeriesQuery,
  StoredIncident,
  TimeRange,
} from './types.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

export const DEFAULT_STORE_PATH = '.llm-fleet/fleet.db';
export const DEFAULT_FLUSH_INTERVAL_MS = 1_000;
export const DEFAULT_RETENTION: RetentionPolicy = { rawMs: 14 * DAY_MS, aggregateMs: 400 * DAY_MS };
/** Retention runs at most this often, after a flush (cheap: indexed range deletes). */
const PRUNE_EVERY_MS = 60 * 60_000;

/** Outcomes that count against the endpoint (the client's own mistakes and cancellations do not). */
const ERROR_OUTCOMES = new Set(['upstream_error', 'timeout', 'rejected']);

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. Default `.llm-fleet/fleet.db` under the working directory. */
  readonly path?: string;
  /** The fleet whose objectives judge records into per-minute SLO buckets. */
  readonly fleet: Fleet;
  readonly flushIntervalMs?: number;
  readonly retention?: Partial<RetentionPolicy>;
  readonly clock?: () => number;
}

/** --store, else LLM_FLEET_STORE, else .llm-fleet/fleet.db. */
export function defaultStorePath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.LLM_FLEET_STORE ?? DEFAULT_STORE_PATH;
}

interface MinuteAggregate {
  requests: number;
  errors: number;
  readonly ttft: MinuteHistogram;
  readonly decode: MinuteHistogram;
  readonly burst: MinuteHistogram;
  readonly embeddingsRate: MinuteHistogram;
  probes: number;
  probesOk: number;
}

function emptyAggregate(): MinuteAggregate {
  return {
    requests: 0,
    errors: 0,
    ttft: new MinuteHistogram(),
    decode: new MinuteHistogram(),
    burst: new MinuteHistogram(),
    embeddingsRate: new MinuteHistogram(),
    probes: 0,
    probesOk: 0,
  };
}

function aggregateOf(row: Row): MinuteAggregate {
  return {
    requests: num(row.requests),
    errors: num(row.errors),
    ttft: MinuteHistogram.parse(optStr(row.ttft_hist)),
    decode: MinuteHistogram.parse(optStr(row.decode_hist)),
    burst: MinuteHistogram.parse(optStr(row.burst_hist)),
    embeddingsRate: MinuteHistogram.parse(optStr(row.embeddings_rate_hist)),
    probes: num(row.probes),
    probesOk: num(row.probes_ok),
  };
}

/** Adds `b` into `a` and returns `a`. */
function mergeAggregate(a: MinuteAggregate, b: MinuteAggregate): MinuteAggregate {
  a.requests += b.requests;
  a.errors += b.errors;
  a.ttft.merge(b.ttft);
  a.decode.merge(b.decode);
  a.burst.merge(b.burst);
  a.embeddingsRate.merge(b.embeddingsRate);
  a.probes += b.probes;
  a.probesOk += b.probesOk;
  return a;
}

function embeddingsRate(r: RequestRecord): number | undefined {
  if (r.inputCount === undefined || r.ttftMs === undefined || r.ttftMs <= 0) return undefined;
  return (r.inputCount / r.ttftMs) * 1000;
}

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

interface Keyed {
  readonly endpoint: string;
  readonly minuteMs: number;
  readonly agg: MinuteAggregate;
}

/** Histogram aggregates summed into `unitMs`-wide rows (hours from minutes, days from hours). */
function rollUp(rows: Iterable<Keyed>, unitMs: number): Keyed[] {
  const out = new Map<string, Keyed>();
  for (const { endpoint, minuteMs, agg } of rows) {
    const startMs = Math.floor(minuteMs / unitMs) * unitMs;
    const key = `${endpoint}\u0000${startMs}`;
    let r = out.get(key);
    if (!r) out.set(key, (r = { endpoint, minuteMs: startMs, agg: emptyAggregate() }));
    mergeAggregate(r.agg, agg);
  }
  return [...out.values()];
}

interface SummedBucket {
  readonly objectiveId: string;
  readonly endpoint: string;
  readonly startMs: number;
  good: number;
  total: number;
  lastMinuteMs: number;
}

/** Minute buckets summed per objective into `unitMs`-wide rows, with their newest minute. */
function sumBuckets(buckets: readonly MinuteBucket[], unitMs: number): SummedBucket[] {
  const out = new Map<string, SummedBucket>();
  for (const b of buckets) {
    const startMs = Math.floor(b.minuteStartMs / unitMs) * unitMs;
    const key = `${b.objectiveId}\u0000${startMs}`;
    const s = out.get(key);
    if (s) {
      s.good += b.good;
      s.total += b.total;
      s.lastMinuteMs = Math.max(s.lastMinuteMs, b.minuteStartMs);
    } else
      out.set(key, {
        objectiveId: b.objectiveId,
        endpoint: b.endpoint,
        startMs,
        good: b.good,
        total: b.total,
        lastMinuteMs: b.minuteStartMs,
      });
  }
  return [...out.values()];
}

type Span = readonly [fromMs: number, toMs: number];

/**
 * [fromMs, toMs) (fromMs on a minute) as the fewest rows: whole UTC days (if `useDays`), whole hours
 * and the minutes left at either edge. A minute m is in the range when fromMs <= m < toMs.
 */
export function splitRange(
  fromMs: number,
  toMs: number,
  useDays: boolean,
): { minutes: Span[]; hours: Span[]; days: Span[] } {
  const out = { minutes: [] as Span[], hours: [] as Span[], days: [] as Span[] };
  const end = Math.ceil(toMs / MINUTE_MS) * MINUTE_MS;
  const byHours = (a: number, b: number): void => {
    if (a >= b) return;
    const firstHour = Math.ceil(a / HOUR_MS) * HOUR_MS;
    if (firstHour >= b) {
      out.minutes.push([a, b]);
      return;
    }
    const lastHour = Math.floor(b / HOUR_MS) * HOUR_MS;
    if (a < firstHour) out.minutes.push([a, firstHour]);
    if (firstHour < lastHour) out.hours.push([firstHour, lastHour]);
    if (lastHour < b) out.minutes.push([lastHour, b]);
  };
  const firstDay = Math.ceil(fromMs / DAY_MS) * DAY_MS;
  if (!useDays || firstDay >= end) {
    byHours(fromMs, end);
    return out;
  }
  const lastDay = Math.floor(end / DAY_MS) * DAY_MS;
  byHours(fromMs, firstDay);
  if (firstDay < lastDay) out.days.push([firstDay, lastDay]);
  byHours(lastDay, end);
  return out;
}

export class SqliteStore implements FleetStore {
  readonly path: string;
  readonly flushIntervalMs: number;
  readonly retention: RetentionPolicy;
  readonly #db: DatabaseSync;
  readonly #fleet: Fleet;
  readonly #clock: () => number;
  readonly #objectives: Map<string, Objective>;
  #records: RequestRecord[] = [];
  #probes: ProbeResult[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastPruneMs = -Infinity;
  readonly #statements = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions) {
    this.path = options.path ?? DEFAULT_STORE_PATH;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.#fleet = options.fleet;
    this.#clock = options.clock ?? Date.now;
    this.#objectives = new Map(reportedObjectivesFor(options.fleet).map((o) => [o.id, o]));
    try {
      if (this.path !== ':memory:') mkdirSync(dirname(resolve(this.path)), { recursive: true });
      this.#db = new DatabaseSync(this.path);
      if (this.path !== ':memory:') this.#db.exec('PRAGMA journal_mode = WAL');
      // WAL + NORMAL: a committed batch survives a process crash; only an OS crash may lose the last one.
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec('PRAGMA busy_timeout = 5000');
      this.#migrate();
    } catch (error) {
      throw new FleetError(
        'store_open',
        `cannot open the store at ${this.path}: ${(error as Error).message}`,
        {
          hint: 'pass --store PATH (or set LLM_FLEET_STORE) to a writable file',
          cause: error,
        },
      );
    }
  }

  #migrate(): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = this.#db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as Row | undefined;
    const current = optNum(row?.v) ?? 0;
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      this.#transaction(() => {
        for (const sql of migration.statements) this.#db.exec(sql);
        if (migration.backfill === 'endpoint_hours') this.#backfillHours();
        if (migration.backfill === 'endpoint_days') this.#backfillDays();
        this.#db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(migration.version);
      });
    }
  }

  /** Builds the hour rollup from the minutes already stored (upgrading a version-2 file). */
  #backfillHours(): void {
    const hours = new Map<string, { endpoint: string; minuteMs: number; agg: MinuteAggregate }>();
    for (const row of this.#db.prepare('SELECT * FROM endpoint_minutes').iterate() as Iterable<Row>) {
      const endpoint = String(row.endpoint);
      const hourMs = Math.floor(num(row.minute_ms) / HOUR_MS) * HOUR_MS;
      const key = `${endpoint}\u0000${hourMs}`;
      let h = hours.get(key);
      if (!h) hours.set(key, (h = { endpoint, minuteMs: hourMs, agg: emptyAggregate() }));
      mergeAggregate(h.agg, aggregateOf(row));
    }
    this.#mergeInto('endpoint_hours', 'hour_ms', hours.values());
  }

  /** Builds the day rollup from the hours already stored (upgrading a version-3 file). */
  #backfillDays(): void {
    const days = new Map<string, { endpoint: string; minuteMs: number; agg: MinuteAggregate }>();
    for (const row of this.#db.prepare('SELECT * FROM endpoint_hours').iterate() as Iterable<Row>) {
      const endpoint = String(row.endpoint);
      const dayMs = Math.floor(num(row.hour_ms) / DAY_MS) * DAY_MS;
      const key = `${endpoint}\u0000${dayMs}`;
      let d = days.get(key);
      if (!d) days.set(key, (d = { endpoint, minuteMs: dayMs, agg: emptyAggregate() }));
      mergeAggregate(d.agg, aggregateOf(row));
    }
    this.#mergeInto('endpoint_days', 'day_ms', days.values());
  }

  /** The schema version this database is at. */
  schemaVersion(): number {
    const row = this.#db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as Row | undefined;
    return optNum(row?.v) ?? 0;
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) this.#statements.set(sql, (s = this.#db.prepare(sql)));
    return s;
  }

  #transaction(fn: () => void): void {
    this.#db.exec('BEGIN');
    try {
      fn();
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.flush();
        this.#maybePrune();
      } catch (error) {
        // A failed batch must not crash the gateway; it is reported and the rows are dropped.
        process.emitWarning(`llm-fleet store: batch flush failed: ${(error as Error).message}`);
      }
    }, this.flushIntervalMs);
    this.#timer.unref();
  }

  #maybePrune(): void {
    const nowMs = this.#clock();
    if (nowMs - this.#lastPruneMs < PRUNE_EVERY_MS) return;
    this.#lastPruneMs = nowMs;
    this.prune(nowMs);
  }

  write(record: RequestRecord): void {
    if (this.#closed) return;
    this.#records.push(record);
    this.#schedule();
  }

  writeProbe(result: ProbeResult): void {
    if (this.#closed) return;
    this.#probes.push(result);
    this.#schedule();
  }

  flush(): void {
    if (this.#records.length === 0 && this.#probes.length === 0) return;
    const records = this.#records;
    const probes = this.#probes;
    this.#records = [];
    this.#probes = [];
    const minutes = new Map<string, { endpoint: string; minuteMs: number; agg: MinuteAggregate }>();
    const aggregate = (endpoint: string, atMs: number): MinuteAggregate => {
      const minuteMs = Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
      const key = `${endpoint}\u0000${minuteMs}`;
      let m = minutes.get(key);
      if (!m) minutes.set(key, (m = { endpoint, minuteMs, agg: emptyAggregate() }));
      return m.agg;
    };
    const buckets = new BucketAccumulator();
    for (const r of records) {
      const a = aggregate(r.endpoint, r.startedAtMs);
      a.requests += 1;
      if (ERROR_OUTCOMES.has(r.outcome)) a.errors += 1;
      if (r.outcome === 'ok') {
        a.ttft.add(r.ttftMs);
        a.decode.add(r.decodeTokensPerSecond);
        a.burst.add(r.burstTokensPerSecond);
        a.embeddingsRate.add(embeddingsRate(r));
      }
      buckets.add(requestEvents(this.#fleet, r), r.startedAtMs);
    }
    for (const p of probes) {
      const a = aggregate(p.endpoint, p.atMs);
      a.probes += 1;
      if (p.ok) a.probesOk += 1;
      buckets.add(probeEvents(this.#fleet, p), p.atMs);
    }
    this.#transaction(() => {
      const insertRecord = this.#stmt(
        `INSERT INTO request_records (id, endpoint, started_at_ms, outcome, status, ttft_ms, total_ms, decode_tokens_per_second, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      );
      for (const r of records)
        insertRecord.run(
          r.id,
          r.endpoint,
          r.startedAtMs,
          r.outcome,
          r.status,
          r.ttftMs ?? null,
          r.totalMs,
          r.decodeTokensPerSecond ?? null,
          JSON.stringify(r),
        );
      const insertProbe = this.#stmt(
        `INSERT INTO probe_results (endpoint, at_ms, kind, ok, latency_ms, status, cause, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const p of probes)
        insertProbe.run(
          p.endpoint,
          p.atMs,
          p.kind,
          p.ok ? 1 : 0,
          p.latencyMs,
          p.status ?? null,
          p.cause ?? null,
          p.detail,
        );
      // Histograms cannot be summed in SQL, so each touched minute (and hour) is read, merged and
      // written back. The hour rollup is built from this batch's minutes before they are merged.
      const hours = rollUp(minutes.values(), HOUR_MS);
      const days = rollUp(hours, DAY_MS);
      this.#mergeInto('endpoint_minutes', 'minute_ms', minutes.values());
      this.#mergeInto('endpoint_hours', 'hour_ms', hours);
      this.#mergeInto('endpoint_days', 'day_ms', days);
      const upsertBucket = this.#stmt(
        `INSERT INTO slo_minutes (objective_id, endpoint, minute_ms, good, total) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (objective_id, minute_ms) DO UPDATE SET good = slo_minutes.good + excluded.good,
           total = slo_minutes.total + excluded.total`,
      );
      const minuteBuckets = buckets.buckets();
      for (const b of minuteBuckets)
        upsertBucket.run(b.objectiveId, b.endpoint, b.minuteStartMs, b.good, b.total);
      // The same counts summed per hour and per day (SUM in the rollups equals SUM over the minutes).
      for (const [table, key, unitMs] of [
        ['slo_hours', 'hour_ms', HOUR_MS],
        ['slo_days', 'day_ms', DAY_MS],
      ] as const) {
        const upsert = this.#stmt(
          `INSERT INTO ${table} (objective_id, endpoint, ${key}, good, total, last_minute_ms) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (objective_id, ${key}) DO UPDATE SET good = ${table}.good + excluded.good,
             total = ${table}.total + excluded.total,
             last_minute_ms = CASE WHEN excluded.last_minute_ms > ${table}.last_minute_ms
               THEN excluded.last_minute_ms ELSE ${table}.last_minute_ms END`,
        );
        for (const c of sumBuckets(minuteBuckets, unitMs))
          upsert.run(c.objectiveId, c.endpoint, c.startMs, c.good, c.total, c.lastMinuteMs);
      }
    });
  }

  #mergeInto(
    table: 'endpoint_minutes' | 'endpoint_hours' | 'endpoint_days',
    key: 'minute_ms' | 'hour_ms' | 'day_ms',
    rows: Iterable<{ endpoint: string; minuteMs: number; agg: MinuteAggregate }>,
  ): void {
    const read = this.#stmt(`SELECT * FROM ${table} WHERE endpoint = ? AND ${key} = ?`);
    const upsert = this.#stmt(
      `INSERT INTO ${table} (endpoint, ${key}, requests, errors, ttft_hist, decode_hist, burst_hist, embeddings_rate_hist, probes, probes_ok)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (endpoint, ${key}) DO UPDATE SET requests = excluded.requests, errors = excluded.errors,
         ttft_hist = excluded.ttft_hist, decode_hist = excluded.decode_hist, burst_hist = excluded.burst_hist,
         embeddings_rate_hist = excluded.embeddings_rate_hist, probes = excluded.probes, probes_ok = excluded.probes_ok`,
    );
    for (const { endpoint, minuteMs, agg } of rows) {
      const old = read.get(endpoint, minuteMs) as Row | undefined;
      const merged = old ? mergeAggregate(aggregateOf(old), agg) : agg;
      upsert.run(
        endpoint,
        minuteMs,
        merged.requests,
        merged.errors,
        JSON.stringify(merged.ttft),
        JSON.stringify(merged.decode),
        JSON.stringify(merged.burst),
        JSON.stringify(merged.embeddingsRate),
        merged.probes,
        merged.probesOk,
      );
    }
  }

  saveIncident(incident: StoredIncident): void {
    this.#stmt(
      `INSERT INTO incidents (endpoint, started_at_ms, ended_at_ms, cause, recovery_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (endpoint, started_at_ms) DO UPDATE SET ended_at_ms = excluded.ended_at_ms, cause = excluded.cause,
         recovery_ms = excluded.recovery_ms`,
    ).run(
      incident.endpoint,
      incident.startedAtMs,
      incident.endedAtMs ?? null,
      incident.cause,
      incident.recoveryMs ?? null,
    );
  }

  #incident(row: Row): StoredIncident {
    const endedAtMs = optNum(row.ended_at_ms);
    const recoveryMs = optNum(row.recovery_ms);
    return {
      endpoint: String(row.endpoint),
      startedAtMs: num(row.started_at_ms),
      ...(endedAtMs !== undefined ? { endedAtMs } : {}),
      cause: String(row.cause),
      ...(recoveryMs !== undefined ? { recoveryMs } : {}),
    };
  }

  incidents(range: TimeRange, endpoint?: string): StoredIncident[] {
    const rows = this.#stmt(
      `SELECT * FROM incidents WHERE started_at_ms < ? AND (ended_at_ms IS NULL OR ended_at_ms >= ?)
         AND (? IS NULL OR endpoint = ?) ORDER BY started_at_ms`,
    ).all(range.toMs, range.fromMs, endpoint ?? null, endpoint ?? null) as Row[];
    return rows.map((r) => this.#incident(r));
  }

  openIncidents(): StoredIncident[] {
    const rows = this.#stmt(
      'SELECT * FROM incidents WHERE ended_at_ms IS NULL ORDER BY started_at_ms',
    ).all() as Row[];
    return rows.map((r) => this.#incident(r));
  }

  saveCalibrationRun(run: CalibrationRunInput): CalibrationRun {
    const id = randomUUID();
    this.#stmt(
      `INSERT INTO calibration_runs (id, endpoint, started_at_ms, finished_at_ms, iterations, warmup_iterations, summary, proposed, fingerprint, note, samples)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      run.endpoint,
      run.startedAtMs,
      run.finishedAtMs ?? null,
      run.iterations,
      run.warmupIterations ?? null,
      JSON.stringify(run.summary),
      JSON.stringify(run.proposed),
      JSON.stringify(run.fingerprint),
      run.note ?? null,
      run.samples === undefined ? null : JSON.stringify(run.samples),
    );
    return { ...run, id };
  }

  calibrationRuns(endpoint?: string, limit = 20): CalibrationRun[] {
    const rows = this.#stmt(
      `SELECT * FROM calibration_runs WHERE (? IS NULL OR endpoint = ?) ORDER BY started_at_ms DESC LIMIT ?`,
    ).all(endpoint ?? null, endpoint ?? null, limit) as Row[];
    return rows.map((r) => {
      const finishedAtMs = optNum(r.finished_at_ms);
      const warmupIterations = optNum(r.warmup_iterations);
      const note = optStr(r.note);
      const samples = optStr(r.samples);
      return {
        id: String(r.id),
        endpoint: String(r.endpoint),
        startedAtMs: num(r.started_at_ms),
        ...(finishedAtMs !== undefined ? { finishedAtMs } : {}),
        iterations: num(r.iterations),
        ...(warmupIterations !== undefined ? { warmupIterations } : {}),
        summary: JSON.parse(String(r.summary)) as Record<string, number>,
        proposed: JSON.parse(String(r.proposed)) as Record<string, number>,
        fingerprint: JSON.parse(String(r.fingerprint)) as CalibrationRun['fingerprint'],
        ...(note !== undefined ? { note } : {}),
        ...(samples !== undefined ? { samples: JSON.parse(samples) as unknown } : {}),
      };
    });
  }

  saveObservedFingerprint(fingerprint: Fingerprint): void {
    this.#stmt(
      `INSERT INTO observed_fingerprints (endpoint, at_ms, body) VALUES (?, ?, ?)
       ON CONFLICT (endpoint, at_ms) DO UPDATE SET body = excluded.body`,
    ).run(fingerprint.endpoint, fingerprint.atMs, JSON.stringify(fingerprint));
  }

  observedFingerprints(): Fingerprint[] {
    const rows = this.#stmt(
      `SELECT f.body FROM observed_fingerprints f
       JOIN (SELECT endpoint, MAX(at_ms) AS at_ms FROM observed_fingerprints GROUP BY endpoint) latest
         ON latest.endpoint = f.endpoint AND latest.at_ms = f.at_ms ORDER BY f.endpoint`,
    ).all() as Row[];
    return rows.map((r) => JSON.parse(String(r.body)) as Fingerprint);
  }

  addMark(mark: OptimisationMark): void {
    this.#stmt(
      `INSERT INTO optimisation_marks (endpoint, at_ms, note) VALUES (?, ?, ?)
       ON CONFLICT (endpoint, at_ms) DO UPDATE SET note = excluded.note`,
    ).run(mark.endpoint, mark.atMs, mark.note);
  }

  marks(endpoint?: string): OptimisationMark[] {
    const rows = this.#stmt(
      'SELECT * FROM optimisation_marks WHERE (? IS NULL OR endpoint = ?) ORDER BY at_ms DESC',
    ).all(endpoint ?? null, endpoint ?? null) as Row[];
    return rows.map((r) => ({ endpoint: String(r.endpoint), atMs: num(r.at_ms), note: String(r.note) }));
  }

  /**
   * Histogram rows covering the range, each with `at_ms`: whole days from the day rollup (when
   * `useDays`), whole hours from the hour rollup and the ragged edges from minutes, so a 30-day
   * query reads ~30 day rows and ≤ 2×(23 hours + 59 minutes) edge rows instead of ~43,000 minutes.
   */
  #histRows(endpoint: string, range: TimeRange, useDays = true): Row[] {
    const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
    const spans = splitRange(from, range.toMs, useDays);
    const out: Row[] = [];
    for (const [table, key, list] of [
      ['endpoint_minutes', 'minute_ms', spans.minutes],
      ['endpoint_hours', 'hour_ms', spans.hours],
      ['endpoint_days', 'day_ms', spans.days],
    ] as const) {
      const stmt = this.#stmt(
        `SELECT *, ${key} AS at_ms FROM ${table} WHERE endpoint = ? AND ${key} >= ? AND ${key} < ? ORDER BY ${key}`,
      );
      for (const [a, b] of list) out.push(...(stmt.all(endpoint, a, b) as Row[]));
    }
    return out.sort((x, y) => num(x.at_ms) - num(y.at_ms));
  }

  #minutes(endpoint: string, range: TimeRange): Row[] {
    return this.#stmt(
      'SELECT *, minute_ms AS at_ms FROM endpoint_minutes WHERE endpoint = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms',
    ).all(endpoint, Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS, range.toMs) as Row[];
  }

  /**
   * Rows for a step: a rollup row must fall inside one step, so hour rows serve steps that are whole
   * hours and day rows steps that are whole days (steps start at multiples of their width).
   */
  #rowsForStep(endpoint: string, range: TimeRange, stepMs: number): Row[] {
    if (stepMs % HOUR_MS !== 0) return this.#minutes(endpoint, range);
    return this.#histRows(endpoint, range, stepMs % DAY_MS === 0);
  }

  series(endpoint: string, query: SeriesQuery): SeriesPoint[] {
    const stepMs = Math.max(MINUTE_MS, Math.round(query.stepMs / MINUTE_MS) * MINUTE_MS);
    const firstStep = Math.floor(query.fromMs / stepMs) * stepMs;
    const steps = new Map<number, MinuteAggregate>();
    for (const row of this.#rowsForStep(endpoint, { fromMs: firstStep, toMs: query.toMs }, stepMs)) {
      const at = Math.floor(num(row.at_ms) / stepMs) * stepMs;
      let agg = steps.get(at);
      if (!agg) steps.set(at, (agg = emptyAggregate()));
      agg.requests += num(row.requests);
      agg.errors += num(row.errors);
      agg.ttft.merge(MinuteHistogram.parse(optStr(row.ttft_hist)));
      agg.decode.merge(MinuteHistogram.parse(optStr(row.decode_hist)));
    }
    const out: SeriesPoint[] = [];
    for (let at = firstStep; at < query.toMs; at += stepMs) {
      const agg = steps.get(at);
      out.push({
        atMs: at,
        requests: agg?.requests ?? 0,
        errors: agg?.errors ?? 0,
        ttftP50Ms: agg?.ttft.quantile(0.5) ?? null,
        ttftP95Ms: agg?.ttft.quantile(0.95) ?? null,
        ttftP99Ms: agg?.ttft.quantile(0.99) ?? null,
        decodeTokensPerSecondP50: agg?.decode.quantile(0.5) ?? null,
      });
    }
    return out;
  }

  objectiveCounts(objectiveId: string, range: TimeRange): ObjectiveCounts | undefined {
    const objective = this.#objectives.get(objectiveId);
    if (!objective) return undefined;
    const [sum] = this.#sloSums(Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS, range.toMs, objectiveId);
    const observedValue = this.#observed(objective, range);
    return {
      good: sum?.good ?? 0,
      valid: sum?.total ?? 0,
      ...(observedValue !== undefined ? { observedValue } : {}),
    };
  }

  /** The value an objective is about over the range, from the merged minute histograms. */
  #observed(objective: Objective, range: TimeRange): number | undefined {
    const column =
      objective.kind === 'ttft-p95' || objective.kind === 'ttft-p99'
        ? 'ttft_hist'
        : objective.kind === 'throughput-sustained'
          ? 'decode_hist'
          : objective.kind === 'throughput-burst'
            ? 'burst_hist'
            : objective.kind === 'embeddings-rate'
              ? 'embeddings_rate_hist'
              : undefined;
    if (!column) return undefined;
    const merged = new MinuteHistogram();
    for (const row of this.#histRows(objective.endpoint, range))
      merged.merge(MinuteHistogram.parse(optStr(row[column])));
    // Latency: the percentile named; sustained: the median; burst: P95 of the per-request best second.
    const q =
      objective.kind === 'ttft-p95'
        ? 0.95
        : objective.kind === 'ttft-p99'
          ? 0.99
          : objective.kind === 'throughput-burst'
            ? 0.95
            : 0.5;
    return merged.quantile(q);
  }

  sloBuckets(range: TimeRange, objectiveIds?: readonly string[]): MinuteBucket[] {
    const rows = this.#stmt(
      'SELECT * FROM slo_minutes WHERE minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms, objective_id',
    ).all(Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS, range.toMs) as Row[];
    const wanted = objectiveIds ? new Set(objectiveIds) : undefined;
    return rows
      .filter((r) => !wanted || wanted.has(String(r.objective_id)))
      .map((r) => ({
        objectiveId: String(r.objective_id),
        endpoint: String(r.endpoint),
        minuteStartMs: num(r.minute_ms),
        good: num(r.good),
        total: num(r.total),
      }));
  }

  /**
   * Good/total per objective (or of the one named) over minutes in [fromMs, toMs), each dated at its
   * newest minute with events: whole days and hours from the rollups, ragged edges from minutes.
   */
  #sloSums(fromMs: number, toMs: number, objectiveId?: string): MinuteBucket[] {
    const spans = splitRange(fromMs, toMs, true);
    const sums = new Map<string, { endpoint: string; good: number; total: number; last: number }>();
    for (const [table, key, last, list] of [
      ['slo_minutes', 'minute_ms', 'minute_ms', spans.minutes],
      ['slo_hours', 'hour_ms', 'last_minute_ms', spans.hours],
      ['slo_days', 'day_ms', 'last_minute_ms', spans.days],
    ] as const) {
      if (list.length === 0) continue;
      const stmt = this.#stmt(
        objectiveId === undefined
          ? `SELECT objective_id, endpoint, SUM(good) AS good, SUM(total) AS total, MAX(${last}) AS last
             FROM ${table} WHERE ${key} >= ? AND ${key} < ? GROUP BY objective_id, endpoint`
          : `SELECT objective_id, endpoint, SUM(good) AS good, SUM(total) AS total, MAX(${last}) AS last
             FROM ${table} WHERE objective_id = ? AND ${key} >= ? AND ${key} < ? GROUP BY objective_id, endpoint`,
      );
      for (const [a, b] of list) {
        const rows = (objectiveId === undefined ? stmt.all(a, b) : stmt.all(objectiveId, a, b)) as Row[];
        for (const r of rows) {
          const id = String(r.objective_id);
          const s = sums.get(id);
          if (s) {
            s.good += num(r.good);
            s.total += num(r.total);
            s.last = Math.max(s.last, num(r.last));
          } else
            sums.set(id, {
              endpoint: String(r.endpoint),
              good: num(r.good),
              total: num(r.total),
              last: num(r.last),
            });
        }
      }
    }
    return [...sums].map(([id, s]) => ({
      objectiveId: id,
      endpoint: s.endpoint,
      minuteStartMs: s.last,
      good: s.good,
      total: s.total,
    }));
  }

  sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): MinuteBucket[] {
    const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
    // Cuts are rounded up to a minute: a bucket at minute m belongs to [cut, …) when m >= cut.
    const edges = [...new Set([from, ...cuts.map((c) => Math.ceil(c / MINUTE_MS) * MINUTE_MS), range.toMs])]
      .filter((e) => e >= from && e <= range.toMs)
      .sort((a, b) => a - b);
    const days = this.#stmt(
      `SELECT objective_id, endpoint, last_minute_ms, good, total FROM slo_days WHERE day_ms >= ? AND day_ms < ?`,
    );
    const out: MinuteBucket[] = [];
    for (let i = 0; i + 1 < edges.length; i++) {
      const a = edges[i] as number;
      const b = edges[i + 1] as number;
      // Whole UTC days are day rows as stored; the ragged ends (each inside one day) are summed.
      const firstDay = Math.ceil(a / DAY_MS) * DAY_MS;
      if (firstDay >= b) {
        out.push(...this.#sloSums(a, b));
        continue;
      }
      const lastDay = Math.floor(b / DAY_MS) * DAY_MS;
      out.push(...this.#sloSums(a, firstDay));
      for (const r of days.all(firstDay, lastDay) as Row[])
        out.push({
          objectiveId: String(r.objective_id),
          endpoint: String(r.endpoint),
          minuteStartMs: num(r.last_minute_ms),
          good: num(r.good),
          total: num(r.total),
        });
      out.push(...this.#sloSums(lastDay, b));
    }
    return out.sort(
      (x, y) =>
        x.minuteStartMs - y.minuteStartMs ||
        (x.objectiveId < y.objectiveId ? -1 : x.objectiveId > y.objectiveId ? 1 : 0),
    );
  }

  availability(endpoint: string, query: SeriesQuery): AvailabilityPoint[] {
    const stepMs = Math.max(MINUTE_MS, Math.round(query.stepMs / MINUTE_MS) * MINUTE_MS);
    const firstStep = Math.floor(query.fromMs / stepMs) * stepMs;
    const steps = new Map<number, { probes: number; ok: number }>();
    for (const row of this.#rowsForStep(endpoint, { fromMs: firstStep, toMs: query.toMs }, stepMs)) {
      const at = Math.floor(num(row.at_ms) / stepMs) * stepMs;
      const s = steps.get(at) ?? { probes: 0, ok: 0 };
      s.probes += num(row.probes);
      s.ok += num(row.probes_ok);
      steps.set(at, s);
    }
    const out: AvailabilityPoint[] = [];
    for (let at = firstStep; at < query.toMs; at += stepMs)
      out.push({ atMs: at, ...(steps.get(at) ?? { probes: 0, ok: 0 }) });
    return out;
  }

  probes(endpoint: string, range: TimeRange, limit = 100): ProbeResult[] {
    const rows = this.#stmt(
      'SELECT * FROM probe_results WHERE endpoint = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms DESC LIMIT ?',
    ).all(endpoint, range.fromMs, range.toMs, limit) as Row[];
    return rows.map((r) => {
      const status = optNum(r.status);
      const cause = optStr(r.cause);
      return {
        endpoint: String(r.endpoint),
        kind: r.kind === 'request' ? 'request' : 'health',
        atMs: num(r.at_ms),
        ok: num(r.ok) === 1,
        latencyMs: num(r.latency_ms),
        ...(status !== undefined ? { status } : {}),
        ...(cause !== undefined ? { cause } : {}),
        detail: String(r.detail),
      };
    });
  }

  records(range: TimeRange, endpoint?: string, limit = 100_000): RequestRecord[] {
    const rows = this.#stmt(
      `SELECT body FROM request_records WHERE started_at_ms >= ? AND started_at_ms < ? AND (? IS NULL OR endpoint = ?)
       ORDER BY started_at_ms LIMIT ?`,
    ).all(range.fromMs, range.toMs, endpoint ?? null, endpoint ?? null, limit) as Row[];
    return rows.map((r) => JSON.parse(String(r.body)) as RequestRecord);
  }

  lastActivityMs(): number | undefined {
    const row = this.#stmt(
      `SELECT MAX(t) AS t FROM (
         SELECT MAX(started_at_ms) AS t FROM request_records
         UNION ALL SELECT MAX(at_ms) AS t FROM probe_results
         UNION ALL SELECT MAX(minute_ms) AS t FROM endpoint_minutes) AS latest`,
    ).get() as Row | undefined;
    return optNum(row?.t);
  }

  prune(nowMs = this.#clock()): number {
    this.flush();
    const rawBefore = nowMs - this.retention.rawMs;
    const aggregateBefore = nowMs - this.retention.aggregateMs;
    let removed = 0;
    this.#transaction(() => {
      const run = (sql: string, before: number): void => {
        removed += Number(this.#stmt(sql).run(before).changes);
      };
      run('DELETE FROM request_records WHERE started_at_ms < ?', rawBefore);
      run('DELETE FROM probe_results WHERE at_ms < ?', rawBefore);
      run('DELETE FROM endpoint_minutes WHERE minute_ms < ?', aggregateBefore);
      run('DELETE FROM endpoint_hours WHERE hour_ms < ?', aggregateBefore - HOUR_MS);
      run('DELETE FROM endpoint_days WHERE day_ms < ?', aggregateBefore - DAY_MS);
      run('DELETE FROM slo_minutes WHERE minute_ms < ?', aggregateBefore);
      run('DELETE FROM slo_hours WHERE hour_ms < ?', aggregateBefore - HOUR_MS);
      run('DELETE FROM slo_days WHERE day_ms < ?', aggregateBefore - DAY_MS);
      run('DELETE FROM incidents WHERE ended_at_ms IS NOT NULL AND ended_at_ms < ?', aggregateBefore);
    });
    return removed;
  }

  close(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush();
    this.#closed = true;
    this.#db.close();
  }
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
