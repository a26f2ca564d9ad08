// The FleetStore over SQL: one implementation of the batching, the rollups (minutes → hours → days),
// the evaluator's summed input and the retention, over a small driver that runs statements on
// node:sqlite (sqlite-store.ts) or PostgreSQL (postgres-store.ts). The SQL is the subset both
// accept; statements use `?` placeholders (the PostgreSQL driver numbers them).
//
// Writes: `write`/`writeProbe` queue; a timer flushes the queue as one batch in one transaction every
// `flushIntervalMs`. A batch has an id stored with it (store_batches) and records are keyed by their
// id, so a batch retried after a failure whose commit did go through is skipped, and a record written
// twice is stored and counted once: aggregates are built from the records the insert actually added.
// A failed batch is kept and retried on the next tick (up to MAX_UNSENT_ROWS rows held), so a
// database restart loses nothing; a process that dies loses what it had not flushed (one interval).
import { randomUUID } from 'node:crypto';
import type { Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import { BucketAccumulator } from '../slo/buckets.ts';
import { ratePerSecond } from '../slo/aggregate-rate.ts';
import { countsForAvailability, probeEvents, rateEvents, requestEvents } from '../slo/events.ts';
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

export const DEFAULT_FLUSH_INTERVAL_MS = 1_000;
export const DEFAULT_RETENTION: RetentionPolicy = { rawMs: 14 * DAY_MS, aggregateMs: 400 * DAY_MS };
/** Retention runs at most this often, after a flush (cheap: indexed range deletes). */
const PRUNE_EVERY_MS = 60 * 60_000;
/** Rows held for retry while the database is unreachable; beyond this the oldest batches are dropped. */
export const MAX_UNSENT_ROWS = 200_000;
/** Rows per multi-row INSERT (9 parameters each: well under both databases' parameter limits). */
const ROWS_PER_INSERT = 500;

/** Outcomes that count against the endpoint (the client's own mistakes and cancellations do not). */
const ERROR_OUTCOMES = new Set(['upstream_error', 'timeout', 'rejected']);

export type SqlValue = string | number | null;
export type Row = Record<string, unknown>;

/** Runs statements (`?` placeholders). */
export interface SqlQueryable {
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/**
 * Serialises writers across processes: one migration at a time, one batch flush at a time, one
 * incident merge at a time.
 */
export type SqlLock = 'migrate' | 'flush' | 'incident';

export interface SqlDriver extends SqlQueryable {
  /** For messages: a path or a URL without its password. */
  readonly location: string;
  /** Runs `fn` in one transaction holding `lock` (if named) until it commits or rolls back. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>, lock?: SqlLock): Promise<T>;
  close(): Promise<void>;
}

export interface SqlStoreOptions {
  /** The fleet whose objectives judge records into per-minute SLO buckets. */
  readonly fleet: Fleet;
  readonly flushIntervalMs?: number;
  readonly retention?: Partial<RetentionPolicy>;
  readonly clock?: () => number;
  /** Told when a batch fails and when writing works again (default: a process warning). */
  readonly onFlushError?: (error: Error, unsentRows: number) => void;
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

// PostgreSQL returns BIGINT and SUM() as strings: every numeric column goes through Number().
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

/** `INSERT INTO t (cols) VALUES (?, …), (?, …) <tail>` for `rows` rows. */
function insertSql(head: string, columns: number, rows: number, tail = ''): string {
  const one = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
  return `${head} VALUES ${Array.from({ length: rows }, () => one).join(', ')} ${tail}`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface Batch {
  readonly id: string;
  readonly records: readonly RequestRecord[];
  readonly probes: readonly ProbeResult[];
}

const batchRows = (b: Batch): number => b.records.length + b.probes.length;

/** Runs each migration once, in order, each in its own transaction under the migration lock (replicas may race). */
export async function migrate(db: SqlDriver): Promise<void> {
  for (const migration of MIGRATIONS) {
    await db.transaction(async (tx) => {
      // Inside the lock: two replicas starting at once must not both create it.
      await tx.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const [row] = await tx.all('SELECT MAX(version) AS v FROM schema_version');
      if ((optNum(row?.v) ?? 0) >= migration.version) return;
      for (const sql of migration.statements) await tx.run(sql);
      if (migration.backfill === 'endpoint_hours')
        await backfill(tx, 'endpoint_minutes', 'minute_ms', HOUR_MS);
      if (migration.backfill === 'endpoint_days') await backfill(tx, 'endpoint_hours', 'hour_ms', DAY_MS);
      await tx.run('INSERT INTO schema_version (version) VALUES (?)', [migration.version]);
    }, 'migrate');
  }
}

/** Builds a rollup from the finer rows already stored (upgrading a version-2 or -3 database). */
async function backfill(
  tx: SqlQueryable,
  from: 'endpoint_minutes' | 'endpoint_hours',
  key: 'minute_ms' | 'hour_ms',
  unitMs: number,
): Promise<void> {
  const rows = (await tx.all(`SELECT * FROM ${from}`)).map((row) => ({
    endpoint: String(row.endpoint),
    minuteMs: num(row[key]),
    agg: aggregateOf(row),
  }));
  const [table, unitKey] = unitMs === HOUR_MS ? ROLLUPS[1] : ROLLUPS[2];
  await mergeInto(tx, table, unitKey, rollUp(rows, unitMs));
}

const ROLLUPS = [
  ['endpoint_minutes', 'minute_ms'],
  ['endpoint_hours', 'hour_ms'],
  ['endpoint_days', 'day_ms'],
] as const;

type RollupTable = (typeof ROLLUPS)[number][0];
type RollupKey = (typeof ROLLUPS)[number][1];

/**
 * Adds histogram rows into a rollup table: histograms cannot be summed in SQL, so the touched rows
 * are read, merged and written back (the flush lock keeps two replicas from interleaving this).
 */
async function mergeInto(
  tx: SqlQueryable,
  table: RollupTable,
  key: RollupKey,
  rows: readonly Keyed[],
): Promise<void> {
  for (const part of chunks(rows, ROWS_PER_INSERT / 5)) {
    const old = new Map<string, Row>();
    const where = part.map(() => `(endpoint = ? AND ${key} = ?)`).join(' OR ');
    for (const row of await tx.all(
      `SELECT * FROM ${table} WHERE ${where}`,
      part.flatMap((r) => [r.endpoint, r.minuteMs]),
    ))
      old.set(`${String(row.endpoint)}\u0000${num(row[key])}`, row);
    const params: SqlValue[] = [];
    for (const { endpoint, minuteMs, agg } of part) {
      const before = old.get(`${endpoint}\u0000${minuteMs}`);
      const merged = before ? mergeAggregate(aggregateOf(before), agg) : agg;
      params.push(
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
    await tx.run(
      insertSql(
        `INSERT INTO ${table} (endpoint, ${key}, requests, errors, ttft_hist, decode_hist, burst_hist, embeddings_rate_hist, probes, probes_ok)`,
        10,
        part.length,
        `ON CONFLICT (endpoint, ${key}) DO UPDATE SET requests = excluded.requests, errors = excluded.errors,
         ttft_hist = excluded.ttft_hist, decode_hist = excluded.decode_hist, burst_hist = excluded.burst_hist,
         embeddings_rate_hist = excluded.embeddings_rate_hist, probes = excluded.probes, probes_ok = excluded.probes_ok`,
      ),
      params,
    );
  }
}

export class SqlStore implements FleetStore {
  readonly location: string;
  readonly flushIntervalMs: number;
  readonly retention: RetentionPolicy;
  readonly #db: SqlDriver;
  readonly #fleet: Fleet;
  readonly #clock: () => number;
  readonly #objectives: Map<string, Objective>;
  readonly #onFlushError: (error: Error, unsentRows: number) => void;
  #records: RequestRecord[] = [];
  #probes: ProbeResult[] = [];
  /** Batches taken from the queue and not yet committed, oldest first (retried in order). */
  #unsent: Batch[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastPruneMs = -Infinity;

  /** Use `openSqliteStore` / `openPostgresStore` / `openStore`: they migrate first. */
  constructor(db: SqlDriver, options: SqlStoreOptions) {
    this.#db = db;
    this.location = db.location;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.#fleet = options.fleet;
    this.#clock = options.clock ?? Date.now;
    this.#objectives = new Map(reportedObjectivesFor(options.fleet).map((o) => [o.id, o]));
    this.#onFlushError =
      options.onFlushError ??
      ((error, unsent) =>
        process.emitWarning(
          `llm-fleet store (${this.location}): batch flush failed, ${unsent} rows kept for retry: ${error.message}`,
        ));
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.#db.all('SELECT MAX(version) AS v FROM schema_version');
    return optNum(row?.v) ?? 0;
  }

  /** Rows queued or held for retry (not yet in the database). */
  unsentRows(): number {
    return this.#records.length + this.#probes.length + this.#unsent.reduce((n, b) => n + batchRows(b), 0);
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush()
        .then(() => this.#maybePrune())
        .catch(() => {
          // Reported by #flushOnce; the batch is kept and retried on the next tick.
          this.#schedule();
        });
    }, this.flushIntervalMs);
    this.#timer.unref();
  }

  async #maybePrune(): Promise<void> {
    const nowMs = this.#clock();
    if (nowMs - this.#lastPruneMs < PRUNE_EVERY_MS) return;
    this.#lastPruneMs = nowMs;
    await this.prune(nowMs);
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

  /** Writes the queue (and any batch held for retry) now; one flush runs at a time. */
  flush(): Promise<void> {
    const next = this.#flushing.then(() => this.#flushOnce());
    this.#flushing = next.catch(() => undefined);
    return next;
  }

  async #flushOnce(): Promise<void> {
    if (this.#records.length > 0 || this.#probes.length > 0) {
      this.#unsent.push({ id: randomUUID(), records: this.#records, probes: this.#probes });
      this.#records = [];
      this.#probes = [];
    }
    while (this.#unsent.length > 0) {
      const batch = this.#unsent[0] as Batch;
      try {
        await this.#db.transaction((tx) => this.#writeBatch(tx, batch), 'flush');
      } catch (error) {
        this.#dropOverflow();
        this.#failing = true;
        this.#onFlushError(error as Error, this.unsentRows());
        throw error;
      }
      this.#unsent.shift();
      if (this.#failing) {
        this.#failing = false;
        process.emitWarning(`llm-fleet store (${this.location}): writing again`);
      }
    }
  }

  /** Keeps at most MAX_UNSENT_ROWS rows for retry, dropping the oldest batches (said in a warning). */
  #dropOverflow(): void {
    let dropped = 0;
    while (this.#unsent.length > 1 && this.unsentRows() > MAX_UNSENT_ROWS) {
      dropped += batchRows(this.#unsent.shift() as Batch);
    }
    if (dropped > 0)
      process.emitWarning(
        `llm-fleet store (${this.location}): dropped ${dropped} unsent rows (retry buffer full)`,
      );
  }

  async #writeBatch(tx: SqlQueryable, batch: Batch): Promise<void> {
    // A batch whose commit went through but whose reply was lost is not written twice.
    const claimed = await tx.all(
      'INSERT INTO store_batches (id, at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id',
      [batch.id, this.#clock()],
    );
    if (claimed.length === 0) return;
    // Only the records this insert added are counted: a record already stored (the same id written
    // twice, by a retry or by two replicas) adds nothing to the aggregates.
    const added = new Set<string>();
    const unique = [...new Map(batch.records.map((r) => [r.id, r])).values()];
    for (const part of chunks(unique, ROWS_PER_INSERT)) {
      const rows = await tx.all(
        insertSql(
          'INSERT INTO request_records (id, endpoint, replica, started_at_ms, outcome, status, ttft_ms, total_ms, decode_tokens_per_second, body)',
          10,
          part.length,
          'ON CONFLICT (id) DO NOTHING RETURNING id',
        ),
        part.flatMap((r) => [
          r.id,
          r.endpoint,
          r.replica ?? null,
          r.startedAtMs,
          r.outcome,
          r.status,
          r.ttftMs ?? null,
          r.totalMs,
          r.decodeTokensPerSecond ?? null,
          JSON.stringify(r),
        ]),
      );
      for (const row of rows) added.add(String(row.id));
    }
    const records = unique.filter((r) => added.has(r.id));
    for (const part of chunks(batch.probes, ROWS_PER_INSERT))
      await tx.run(
        insertSql(
          'INSERT INTO probe_results (endpoint, at_ms, kind, ok, latency_ms, status, cause, detail)',
          8,
          part.length,
        ),
        part.flatMap((p) => [
          p.endpoint,
          p.atMs,
          p.kind,
          p.ok ? 1 : 0,
          p.latencyMs,
          p.status ?? null,
          p.cause ?? null,
          p.detail,
        ]),
      );

    const minutes = new Map<string, Keyed>();
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
      buckets.addRates(rateEvents(this.#fleet, r), r.startedAtMs);
    }
    for (const p of batch.probes) {
      // Kept raw (the dashboard lists it), but a saturated engine's timeout is load, not downtime.
      if (!countsForAvailability(p)) continue;
      const a = aggregate(p.endpoint, p.atMs);
      a.probes += 1;
      if (p.ok) a.probesOk += 1;
      buckets.add(probeEvents(this.#fleet, p), p.atMs);
    }
    // The hour rollup is built from this batch's minutes before they are merged, the days from the hours.
    const hours = rollUp(minutes.values(), HOUR_MS);
    const days = rollUp(hours, DAY_MS);
    await mergeInto(tx, 'endpoint_minutes', 'minute_ms', [...minutes.values()]);
    await mergeInto(tx, 'endpoint_hours', 'hour_ms', hours);
    await mergeInto(tx, 'endpoint_days', 'day_ms', days);
    const minuteBuckets = buckets.buckets();
    for (const part of chunks(minuteBuckets, ROWS_PER_INSERT))
      await tx.run(
        insertSql(
          'INSERT INTO slo_minutes (objective_id, endpoint, minute_ms, good, total)',
          5,
          part.length,
          `ON CONFLICT (objective_id, minute_ms) DO UPDATE SET good = slo_minutes.good + excluded.good,
           total = slo_minutes.total + excluded.total`,
        ),
        part.flatMap((b) => [b.objectiveId, b.endpoint, b.minuteStartMs, b.good, b.total]),
      );
    // The same counts summed per hour and per day (SUM in the rollups equals SUM over the minutes).
    for (const [table, key, unitMs] of [
      ['slo_hours', 'hour_ms', HOUR_MS],
      ['slo_days', 'day_ms', DAY_MS],
    ] as const)
      for (const part of chunks(sumBuckets(minuteBuckets, unitMs), ROWS_PER_INSERT))
        await tx.run(
          insertSql(
            `INSERT INTO ${table} (objective_id, endpoint, ${key}, good, total, last_minute_ms)`,
            6,
            part.length,
            `ON CONFLICT (objective_id, ${key}) DO UPDATE SET good = ${table}.good + excluded.good,
             total = ${table}.total + excluded.total,
             last_minute_ms = CASE WHEN excluded.last_minute_ms > ${table}.last_minute_ms
               THEN excluded.last_minute_ms ELSE ${table}.last_minute_ms END`,
          ),
          part.flatMap((c) => [c.objectiveId, c.endpoint, c.startMs, c.good, c.total, c.lastMinuteMs]),
        );
  }

  /**
   * One incident per outage, however many replicas report it: gateway replicas sharing a store each
   * keep their own health view, and one may see an outage (in its own traffic) before or after the
   * others. An incident is merged with every stored one of the same endpoint (and pool server) whose
   * span overlaps it: the earliest start and its cause, the latest end once any replica has seen the
   * end (an open report does not reopen an incident another replica has closed), under a lock so two
   * replicas' reports never both insert.
   */
  async saveIncident(incident: StoredIncident): Promise<void> {
    const replica = incident.replica ?? '';
    await this.#db.transaction(async (tx) => {
      const rows = await tx.all(
        `SELECT * FROM incidents WHERE endpoint = ? AND replica = ? AND started_at_ms <= ?
           AND (ended_at_ms IS NULL OR ended_at_ms >= ?)`,
        [incident.endpoint, replica, incident.endedAtMs ?? Number.MAX_SAFE_INTEGER, incident.startedAtMs],
      );
      const spans = [incident, ...rows.map((r) => this.#incident(r))];
      const first = spans.reduce((a, b) => (b.startedAtMs < a.startedAtMs ? b : a));
      const ends = spans.map((i) => i.endedAtMs).filter((e): e is number => e !== undefined);
      // Closed if this report closes it, or if every overlapping stored one was already closed.
      const closed =
        incident.endedAtMs !== undefined || (rows.length > 0 && ends.length === spans.length - 1);
      const recoveryMs = incident.recoveryMs ?? spans.find((i) => i.recoveryMs !== undefined)?.recoveryMs;
      for (const r of rows) {
        await tx.run('DELETE FROM incidents WHERE endpoint = ? AND replica = ? AND started_at_ms = ?', [
          incident.endpoint,
          replica,
          num(r.started_at_ms),
        ]);
      }
      await tx.run(
        'INSERT INTO incidents (endpoint, replica, started_at_ms, ended_at_ms, cause, recovery_ms) VALUES (?, ?, ?, ?, ?, ?)',
        [
          incident.endpoint,
          replica,
          first.startedAtMs,
          closed ? Math.max(...ends) : null,
          first.cause,
          recoveryMs ?? null,
        ],
      );
    }, 'incident');
  }

  #incident(row: Row): StoredIncident {
    const endedAtMs = optNum(row.ended_at_ms);
    const recoveryMs = optNum(row.recovery_ms);
    const replica = row.replica === null || row.replica === undefined ? '' : String(row.replica);
    return {
      endpoint: String(row.endpoint),
      ...(replica !== '' ? { replica } : {}),
      startedAtMs: num(row.started_at_ms),
      ...(endedAtMs !== undefined ? { endedAtMs } : {}),
      cause: String(row.cause),
      ...(recoveryMs !== undefined ? { recoveryMs } : {}),
    };
  }

  async incidents(range: TimeRange, endpoint?: string): Promise<StoredIncident[]> {
    const rows = await this.#db.all(
      `SELECT * FROM incidents WHERE started_at_ms < ? AND (ended_at_ms IS NULL OR ended_at_ms >= ?)
         AND (CAST(? AS TEXT) IS NULL OR endpoint = ?) ORDER BY started_at_ms, endpoint, replica`,
      [range.toMs, range.fromMs, endpoint ?? null, endpoint ?? null],
    );
    return rows.map((r) => this.#incident(r));
  }

  async openIncidents(): Promise<StoredIncident[]> {
    const rows = await this.#db.all(
      'SELECT * FROM incidents WHERE ended_at_ms IS NULL ORDER BY started_at_ms, endpoint, replica',
    );
    return rows.map((r) => this.#incident(r));
  }

  async saveCalibrationRun(run: CalibrationRunInput): Promise<CalibrationRun> {
    const id = randomUUID();
    await this.#db.run(
      `INSERT INTO calibration_runs (id, endpoint, started_at_ms, finished_at_ms, iterations, warmup_iterations, summary, proposed, fingerprint, note, samples)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
      ],
    );
    return { ...run, id };
  }

  async calibrationRuns(endpoint?: string, limit = 20): Promise<CalibrationRun[]> {
    const rows = await this.#db.all(
      `SELECT * FROM calibration_runs WHERE (CAST(? AS TEXT) IS NULL OR endpoint = ?)
       ORDER BY started_at_ms DESC, id LIMIT ?`,
      [endpoint ?? null, endpoint ?? null, limit],
    );
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

  async saveObservedFingerprint(fingerprint: Fingerprint): Promise<void> {
    await this.#db.run(
      `INSERT INTO observed_fingerprints (endpoint, at_ms, body) VALUES (?, ?, ?)
       ON CONFLICT (endpoint, at_ms) DO UPDATE SET body = excluded.body`,
      [fingerprint.endpoint, fingerprint.atMs, JSON.stringify(fingerprint)],
    );
  }

  async observedFingerprints(): Promise<Fingerprint[]> {
    const rows = await this.#db.all(
      `SELECT f.body FROM observed_fingerprints f
       JOIN (SELECT endpoint, MAX(at_ms) AS at_ms FROM observed_fingerprints GROUP BY endpoint) latest
         ON latest.endpoint = f.endpoint AND latest.at_ms = f.at_ms ORDER BY f.endpoint`,
    );
    return rows.map((r) => JSON.parse(String(r.body)) as Fingerprint);
  }

  async addMark(mark: OptimisationMark): Promise<void> {
    await this.#db.run(
      `INSERT INTO optimisation_marks (endpoint, at_ms, note) VALUES (?, ?, ?)
       ON CONFLICT (endpoint, at_ms) DO UPDATE SET note = excluded.note`,
      [mark.endpoint, mark.atMs, mark.note],
    );
  }

  async marks(endpoint?: string): Promise<OptimisationMark[]> {
    const rows = await this.#db.all(
      'SELECT * FROM optimisation_marks WHERE (CAST(? AS TEXT) IS NULL OR endpoint = ?) ORDER BY at_ms DESC, endpoint',
      [endpoint ?? null, endpoint ?? null],
    );
    return rows.map((r) => ({ endpoint: String(r.endpoint), atMs: num(r.at_ms), note: String(r.note) }));
  }

  /**
   * Histogram rows covering the range, each with `at_ms`: whole days from the day rollup (when
   * `useDays`), whole hours from the hour rollup and the ragged edges from minutes, so a 30-day
   * query reads ~30 day rows and ≤ 2×(23 hours + 59 minutes) edge rows instead of ~43,000 minutes.
   */
  async #histRows(endpoint: string, range: TimeRange, useDays = true): Promise<Row[]> {
    const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
    const spans = splitRange(from, range.toMs, useDays);
    const out: Row[] = [];
    for (const [[table, key], list] of [
      [ROLLUPS[0], spans.minutes],
      [ROLLUPS[1], spans.hours],
      [ROLLUPS[2], spans.days],
    ] as const)
      for (const [a, b] of list)
        out.push(
          ...(await this.#db.all(
            `SELECT *, ${key} AS at_ms FROM ${table} WHERE endpoint = ? AND ${key} >= ? AND ${key} < ? ORDER BY ${key}`,
            [endpoint, a, b],
          )),
        );
    return out.sort((x, y) => num(x.at_ms) - num(y.at_ms));
  }

  #minutes(endpoint: string, range: TimeRange): Promise<Row[]> {
    return this.#db.all(
      'SELECT *, minute_ms AS at_ms FROM endpoint_minutes WHERE endpoint = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms',
      [endpoint, Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS, range.toMs],
    );
  }

  /**
   * Rows for a step: a rollup row must fall inside one step, so hour rows serve steps that are whole
   * hours and day rows steps that are whole days (steps start at multiples of their width).
   */
  #rowsForStep(endpoint: string, range: TimeRange, stepMs: number): Promise<Row[]> {
    if (stepMs % HOUR_MS !== 0) return this.#minutes(endpoint, range);
    return this.#histRows(endpoint, range, stepMs % DAY_MS === 0);
  }

  async series(endpoint: string, query: SeriesQuery): Promise<SeriesPoint[]> {
    const stepMs = Math.max(MINUTE_MS, Math.round(query.stepMs / MINUTE_MS) * MINUTE_MS);
    const firstStep = Math.floor(query.fromMs / stepMs) * stepMs;
    const steps = new Map<number, MinuteAggregate>();
    for (const row of await this.#rowsForStep(endpoint, { fromMs: firstStep, toMs: query.toMs }, stepMs)) {
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

  async objectiveCounts(objectiveId: string, range: TimeRange): Promise<ObjectiveCounts | undefined> {
    const objective = this.#objectives.get(objectiveId);
    if (!objective) return undefined;
    const [sum] = await this.#sloSums(
      Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS,
      range.toMs,
      objectiveId,
    );
    // An aggregate rate is its own sums' quotient (units per busy second), not a per-request percentile.
    const observedValue =
      objective.judgedAs === 'aggregate'
        ? ratePerSecond(sum?.good ?? 0, sum?.total ?? 0)
        : await this.#observed(objective, range);
    return {
      good: sum?.good ?? 0,
      valid: sum?.total ?? 0,
      ...(observedValue !== undefined ? { observedValue } : {}),
    };
  }

  /** The value an objective is about over the range, from the merged minute histograms. */
  async #observed(objective: Objective, range: TimeRange): Promise<number | undefined> {
    const column =
      objective.kind === 'ttft-p95' || objective.kind === 'ttft-p99'
        ? 'ttft_hist'
        : objective.kind === 'throughput-sustained'
          ? 'decode_hist'
          : objective.kind === 'throughput-burst'
            ? 'burst_hist'
            : undefined;
    if (!column) return undefined;
    const merged = new MinuteHistogram();
    for (const row of await this.#histRows(objective.endpoint, range))
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

  async sloBuckets(range: TimeRange, objectiveIds?: readonly string[]): Promise<MinuteBucket[]> {
    const rows = await this.#db.all(
      'SELECT * FROM slo_minutes WHERE minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms, objective_id',
      [Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS, range.toMs],
    );
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
  async #sloSums(fromMs: number, toMs: number, objectiveId?: string): Promise<MinuteBucket[]> {
    const spans = splitRange(fromMs, toMs, true);
    const sums = new Map<string, { endpoint: string; good: number; total: number; last: number }>();
    for (const [table, key, last, list] of [
      ['slo_minutes', 'minute_ms', 'minute_ms', spans.minutes],
      ['slo_hours', 'hour_ms', 'last_minute_ms', spans.hours],
      ['slo_days', 'day_ms', 'last_minute_ms', spans.days],
    ] as const) {
      const sql =
        objectiveId === undefined
          ? `SELECT objective_id, endpoint, SUM(good) AS good, SUM(total) AS total, MAX(${last}) AS last
             FROM ${table} WHERE ${key} >= ? AND ${key} < ? GROUP BY objective_id, endpoint`
          : `SELECT objective_id, endpoint, SUM(good) AS good, SUM(total) AS total, MAX(${last}) AS last
             FROM ${table} WHERE objective_id = ? AND ${key} >= ? AND ${key} < ? GROUP BY objective_id, endpoint`;
      for (const [a, b] of list) {
        const rows = await this.#db.all(sql, objectiveId === undefined ? [a, b] : [objectiveId, a, b]);
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
    return [...sums]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, s]) => ({
        objectiveId: id,
        endpoint: s.endpoint,
        minuteStartMs: s.last,
        good: s.good,
        total: s.total,
      }));
  }

  async sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): Promise<MinuteBucket[]> {
    const from = Math.floor(range.fromMs / MINUTE_MS) * MINUTE_MS;
    // Cuts are rounded up to a minute: a bucket at minute m belongs to [cut, …) when m >= cut.
    const edges = [...new Set([from, ...cuts.map((c) => Math.ceil(c / MINUTE_MS) * MINUTE_MS), range.toMs])]
      .filter((e) => e >= from && e <= range.toMs)
      .sort((a, b) => a - b);
    const out: MinuteBucket[] = [];
    for (let i = 0; i + 1 < edges.length; i++) {
      const a = edges[i] as number;
      const b = edges[i + 1] as number;
      // Whole UTC days are day rows as stored; the ragged ends (each inside one day) are summed.
      const firstDay = Math.ceil(a / DAY_MS) * DAY_MS;
      if (firstDay >= b) {
        out.push(...(await this.#sloSums(a, b)));
        continue;
      }
      const lastDay = Math.floor(b / DAY_MS) * DAY_MS;
      out.push(...(await this.#sloSums(a, firstDay)));
      for (const r of await this.#db.all(
        'SELECT objective_id, endpoint, last_minute_ms, good, total FROM slo_days WHERE day_ms >= ? AND day_ms < ?',
        [firstDay, lastDay],
      ))
        out.push({
          objectiveId: String(r.objective_id),
          endpoint: String(r.endpoint),
          minuteStartMs: num(r.last_minute_ms),
          good: num(r.good),
          total: num(r.total),
        });
      out.push(...(await this.#sloSums(lastDay, b)));
    }
    return out.sort(
      (x, y) =>
        x.minuteStartMs - y.minuteStartMs ||
        (x.objectiveId < y.objectiveId ? -1 : x.objectiveId > y.objectiveId ? 1 : 0),
    );
  }

  async availability(endpoint: string, query: SeriesQuery): Promise<AvailabilityPoint[]> {
    const stepMs = Math.max(MINUTE_MS, Math.round(query.stepMs / MINUTE_MS) * MINUTE_MS);
    const firstStep = Math.floor(query.fromMs / stepMs) * stepMs;
    const steps = new Map<number, { probes: number; ok: number }>();
    for (const row of await this.#rowsForStep(endpoint, { fromMs: firstStep, toMs: query.toMs }, stepMs)) {
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

  async probes(endpoint: string, range: TimeRange, limit = 100): Promise<ProbeResult[]> {
    const rows = await this.#db.all(
      'SELECT * FROM probe_results WHERE endpoint = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms DESC LIMIT ?',
      [endpoint, range.fromMs, range.toMs, limit],
    );
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

  async records(range: TimeRange, endpoint?: string, limit = 100_000): Promise<RequestRecord[]> {
    const rows = await this.#db.all(
      `SELECT body FROM request_records WHERE started_at_ms >= ? AND started_at_ms < ?
         AND (CAST(? AS TEXT) IS NULL OR endpoint = ?)
       ORDER BY started_at_ms, id LIMIT ?`,
      [range.fromMs, range.toMs, endpoint ?? null, endpoint ?? null, limit],
    );
    return rows.map((r) => JSON.parse(String(r.body)) as RequestRecord);
  }

  async lastActivityMs(): Promise<number | undefined> {
    const [row] = await this.#db.all(
      `SELECT MAX(t) AS t FROM (
         SELECT MAX(started_at_ms) AS t FROM request_records
         UNION ALL SELECT MAX(at_ms) AS t FROM probe_results
         UNION ALL SELECT MAX(minute_ms) AS t FROM endpoint_minutes) AS latest`,
    );
    return optNum(row?.t);
  }

  async prune(nowMs = this.#clock()): Promise<number> {
    await this.flush();
    const rawBefore = nowMs - this.retention.rawMs;
    const aggregateBefore = nowMs - this.retention.aggregateMs;
    return this.#db.transaction(async (tx) => {
      let removed = 0;
      const run = async (sql: string, before: number): Promise<void> => {
        removed += await tx.run(sql, [before]);
      };
      await run('DELETE FROM request_records WHERE started_at_ms < ?', rawBefore);
      await run('DELETE FROM probe_results WHERE at_ms < ?', rawBefore);
      await run('DELETE FROM endpoint_minutes WHERE minute_ms < ?', aggregateBefore);
      await run('DELETE FROM endpoint_hours WHERE hour_ms < ?', aggregateBefore - HOUR_MS);
      await run('DELETE FROM endpoint_days WHERE day_ms < ?', aggregateBefore - DAY_MS);
      await run('DELETE FROM slo_minutes WHERE minute_ms < ?', aggregateBefore);
      await run('DELETE FROM slo_hours WHERE hour_ms < ?', aggregateBefore - HOUR_MS);
      await run('DELETE FROM slo_days WHERE day_ms < ?', aggregateBefore - DAY_MS);
      await run('DELETE FROM incidents WHERE ended_at_ms IS NOT NULL AND ended_at_ms < ?', aggregateBefore);
      // A batch id only matters while its retry could still arrive: a day is far beyond that.
      await tx.run('DELETE FROM store_batches WHERE at_ms < ?', [nowMs - DAY_MS]);
      return removed;
    }, 'flush');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    try {
      await this.flush();
    } finally {
      await this.#db.close();
    }
  }
}
