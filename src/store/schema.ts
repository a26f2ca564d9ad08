// The store's schema as numbered migrations. Each runs once, in order, inside a transaction, and
// the `schema_version` table remembers how far a database has come. The SQL sticks to what both
// SQLite and PostgreSQL accept (BIGINT, DOUBLE PRECISION, TEXT, composite primary keys,
// INSERT … ON CONFLICT … DO UPDATE), so a PostgreSQL store can run the same migrations.

export interface Migration {
  readonly version: number;
  readonly why: string;
  readonly statements: readonly string[];
  /** A rollup the store fills from existing rows after the statements ran (needs histogram merging). */
  readonly backfill?: 'endpoint_hours' | 'endpoint_days';
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    why: 'request records, probe results, per-minute aggregates and SLO buckets, incidents, calibration runs, optimisation marks',
    statements: [
      `CREATE TABLE request_records (
        id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        started_at_ms BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        status INTEGER NOT NULL,
        ttft_ms DOUBLE PRECISION,
        total_ms DOUBLE PRECISION NOT NULL,
        decode_tokens_per_second DOUBLE PRECISION,
        body TEXT NOT NULL
      )`,
      'CREATE INDEX request_records_by_time ON request_records (started_at_ms)',
      'CREATE INDEX request_records_by_endpoint ON request_records (endpoint, started_at_ms)',
      `CREATE TABLE probe_results (
        endpoint TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        status INTEGER,
        cause TEXT,
        detail TEXT NOT NULL
      )`,
      'CREATE INDEX probe_results_by_endpoint ON probe_results (endpoint, at_ms)',
      // One row per endpoint and minute: counts and log histograms (JSON) the series are built from.
      `CREATE TABLE endpoint_minutes (
        endpoint TEXT NOT NULL,
        minute_ms BIGINT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        ttft_hist TEXT NOT NULL,
        decode_hist TEXT NOT NULL,
        burst_hist TEXT NOT NULL,
        embeddings_rate_hist TEXT NOT NULL,
        probes INTEGER NOT NULL,
        probes_ok INTEGER NOT NULL,
        PRIMARY KEY (endpoint, minute_ms)
      )`,
      `CREATE TABLE slo_minutes (
        objective_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        minute_ms BIGINT NOT NULL,
        good INTEGER NOT NULL,
        total INTEGER NOT NULL,
        PRIMARY KEY (objective_id, minute_ms)
      )`,
      'CREATE INDEX slo_minutes_by_time ON slo_minutes (minute_ms)',
      `CREATE TABLE incidents (
        endpoint TEXT NOT NULL,
        started_at_ms BIGINT NOT NULL,
        ended_at_ms BIGINT,
        cause TEXT NOT NULL,
        recovery_ms BIGINT,
        PRIMARY KEY (endpoint, started_at_ms)
      )`,
      `CREATE TABLE calibration_runs (
        id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        started_at_ms BIGINT NOT NULL,
        finished_at_ms BIGINT,
        iterations INTEGER NOT NULL,
        warmup_iterations INTEGER,
        summary TEXT NOT NULL,
        proposed TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        note TEXT,
        samples TEXT
      )`,
      'CREATE INDEX calibration_runs_by_endpoint ON calibration_runs (endpoint, started_at_ms)',
      `CREATE TABLE optimisation_marks (
        endpoint TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        note TEXT NOT NULL,
        PRIMARY KEY (endpoint, at_ms)
      )`,
    ],
  },
  {
    version: 2,
    why: 'what endpoints report about themselves (model, context, server version) to compare with calibration',
    statements: [
      `CREATE TABLE observed_fingerprints (
        endpoint TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (endpoint, at_ms)
      )`,
    ],
  },
  {
    version: 3,
    why: 'an hourly rollup of the per-minute histograms, so 30-day series and percentiles read ~720 rows, not ~43,000',
    statements: [
      `CREATE TABLE endpoint_hours (
        endpoint TEXT NOT NULL,
        hour_ms BIGINT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        ttft_hist TEXT NOT NULL,
        decode_hist TEXT NOT NULL,
        burst_hist TEXT NOT NULL,
        embeddings_rate_hist TEXT NOT NULL,
        probes INTEGER NOT NULL,
        probes_ok INTEGER NOT NULL,
        PRIMARY KEY (endpoint, hour_ms)
      )`,
    ],
    backfill: 'endpoint_hours',
  },
  {
    version: 4,
    why: 'per-hour and per-day SLO good/total and a daily histogram rollup, so the evaluator and the dashboard sum ~50 rows per objective for 30 days, not ~43,000',
    statements: [
      // last_minute_ms: the newest minute with events inside the row, which dates a summed bucket
      // exactly where the minutes would have (the evaluator's "last data").
      `CREATE TABLE slo_hours (
        objective_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        hour_ms BIGINT NOT NULL,
        good INTEGER NOT NULL,
        total INTEGER NOT NULL,
        last_minute_ms BIGINT NOT NULL,
        PRIMARY KEY (objective_id, hour_ms)
      )`,
      'CREATE INDEX slo_hours_by_time ON slo_hours (hour_ms)',
      `CREATE TABLE slo_days (
        objective_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        day_ms BIGINT NOT NULL,
        good INTEGER NOT NULL,
        total INTEGER NOT NULL,
        last_minute_ms BIGINT NOT NULL,
        PRIMARY KEY (objective_id, day_ms)
      )`,
      'CREATE INDEX slo_days_by_time ON slo_days (day_ms)',
      `INSERT INTO slo_hours (objective_id, endpoint, hour_ms, good, total, last_minute_ms)
       SELECT objective_id, endpoint, (minute_ms / 3600000) * 3600000, SUM(good), SUM(total), MAX(minute_ms)
       FROM slo_minutes GROUP BY objective_id, endpoint, minute_ms / 3600000`,
      `INSERT INTO slo_days (objective_id, endpoint, day_ms, good, total, last_minute_ms)
       SELECT objective_id, endpoint, (hour_ms / 86400000) * 86400000, SUM(good), SUM(total), MAX(last_minute_ms)
       FROM slo_hours GROUP BY objective_id, endpoint, hour_ms / 86400000`,
      `CREATE TABLE endpoint_days (
        endpoint TEXT NOT NULL,
        day_ms BIGINT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        ttft_hist TEXT NOT NULL,
        decode_hist TEXT NOT NULL,
        burst_hist TEXT NOT NULL,
        embeddings_rate_hist TEXT NOT NULL,
        probes INTEGER NOT NULL,
        probes_ok INTEGER NOT NULL,
        PRIMARY KEY (endpoint, day_ms)
      )`,
    ],
    backfill: 'endpoint_days',
  },
  {
    version: 5,
    why: 'time indexes for the hourly retention deletes (which scanned every probe and minute row on the gateway thread) and for the newest calibration runs',
    statements: [
      'CREATE INDEX probe_results_by_time ON probe_results (at_ms)',
      'CREATE INDEX endpoint_minutes_by_time ON endpoint_minutes (minute_ms)',
      'CREATE INDEX endpoint_hours_by_time ON endpoint_hours (hour_ms)',
      'CREATE INDEX endpoint_days_by_time ON endpoint_days (day_ms)',
      'CREATE INDEX incidents_by_end ON incidents (ended_at_ms)',
      'CREATE INDEX calibration_runs_by_time ON calibration_runs (started_at_ms)',
    ],
  },
  {
    version: 6,
    why: 'the write batches already stored, by id: a batch retried after its commit was lost (a PostgreSQL connection dropped mid-COMMIT) is skipped instead of counting its probes and aggregates twice',
    statements: [
      `CREATE TABLE store_batches (
        id TEXT PRIMARY KEY,
        at_ms BIGINT NOT NULL
      )`,
      'CREATE INDEX store_batches_by_time ON store_batches (at_ms)',
    ],
  },
  {
    version: 7,
    why: "replica pools: an incident may be one replica's (the endpoint up while another served), so the key takes the replica ('' for the endpoint's own); a request record names the replica that served it",
    statements: [
      `CREATE TABLE incidents_v7 (
        endpoint TEXT NOT NULL,
        replica TEXT NOT NULL DEFAULT '',
        started_at_ms BIGINT NOT NULL,
        ended_at_ms BIGINT,
        cause TEXT NOT NULL,
        recovery_ms BIGINT,
        PRIMARY KEY (endpoint, replica, started_at_ms)
      )`,
      `INSERT INTO incidents_v7 (endpoint, replica, started_at_ms, ended_at_ms, cause, recovery_ms)
       SELECT endpoint, '', started_at_ms, ended_at_ms, cause, recovery_ms FROM incidents`,
      'DROP TABLE incidents',
      'ALTER TABLE incidents_v7 RENAME TO incidents',
      'CREATE INDEX incidents_by_end ON incidents (ended_at_ms)',
      'ALTER TABLE request_records ADD COLUMN replica TEXT',
    ],
  },
  {
    version: 8,
    why: 'the embeddings/s objective is an aggregate rate (good = inputs, total = busy ms); the counts stored before were per-batch verdicts under the same id and cannot be read as inputs over busy time, so they go (raw records without busyMs never count)',
    statements: ['slo_minutes', 'slo_hours', 'slo_days'].map(
      (table) => `DELETE FROM ${table} WHERE objective_id LIKE '%-embeddings-rate'`,
    ),
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
