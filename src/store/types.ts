// The store interface: what the gateway, the monitor, calibrate, the dashboard and the check/report
// commands keep and ask for. Two implementations: node:sqlite in one file (sqlite-store.ts, the
// default) and PostgreSQL shared by many gateway replicas (postgres-store.ts); `openStore` picks one
// from `--store`. Everything but queueing is asynchronous (a PostgreSQL query is a round trip).
// Writes are batched: `write`/`writeProbe` only queue, a timer flushes every `flushIntervalMs` (a
// crash loses at most that much), `close` flushes. A record is stored once however often it is
// written (its id is the key): a batch retried after a lost connection counts nothing twice.
import type { RecordSink, RequestRecord } from '../measure/record.ts';
import type { Incident, ProbeResult } from '../probes/types.ts';
import type { MinuteBucket } from '../slo/buckets.ts';
import type { CalibrationRunSummary, Fingerprint } from '../slo/fingerprint.ts';

export type { Fingerprint, MinuteBucket };

export interface TimeRange {
  readonly fromMs: number;
  readonly toMs: number;
}

export interface SeriesQuery extends TimeRange {
  /** Width of one point (a whole number of minutes); the store aggregates, callers only draw. */
  readonly stepMs: number;
}

/** One aggregated point of an endpoint's traffic. Null where a step had no valid requests. */
export interface SeriesPoint {
  readonly atMs: number;
  readonly requests: number;
  readonly errors: number;
  readonly ttftP50Ms: number | null;
  readonly ttftP95Ms: number | null;
  readonly ttftP99Ms: number | null;
  readonly decodeTokensPerSecondP50: number | null;
}

export interface ObjectiveCounts {
  readonly good: number;
  readonly valid: number;
  /** The percentile the objective is about over the same range (P95 TTFT, median tok/s …). */
  readonly observedValue?: number;
}

/** Per-step probe outcome counts: the availability timeline. */
export interface AvailabilityPoint {
  readonly atMs: number;
  readonly probes: number;
  readonly ok: number;
}

/** An incident as stored: the shared Incident plus how it was judged against the recovery SLO. */
export interface StoredIncident extends Incident {
  /** The endpoint's recovery objective when the incident was recorded. */
  readonly recoveryMs?: number;
}

/** A calibration run as calibrate saves it, with its raw samples (kept for re-analysis; may be large). */
export interface CalibrationRunInput extends CalibrationRunSummary {
  readonly samples?: unknown;
}

export interface CalibrationRun extends CalibrationRunInput {
  readonly id: string;
}

/** A manual 'after optimisation work' mark: recalibrate this endpoint (seed trigger #4). */
export interface OptimisationMark {
  readonly endpoint: string;
  readonly atMs: number;
  readonly note: string;
}

export interface RetentionPolicy {
  /** Raw request records and probe results. Default 14 days. */
  readonly rawMs: number;
  /** Per-minute aggregates and SLO buckets. Default 400 days. */
  readonly aggregateMs: number;
}

export interface FleetStore extends RecordSink {
  /** Where the data lives, for messages: a file path, or a postgres:// URL without its password. */
  readonly location: string;
  readonly retention: RetentionPolicy;
  /** Queues a gateway request record (flushed with the next batch). */
  write(record: RequestRecord): void;
  /** Queues a probe result; health probes also count towards availability inside its window. */
  writeProbe(result: ProbeResult): void;
  /** Inserts or updates (by endpoint + start) an incident. Written at once: incidents are rare. */
  saveIncident(incident: StoredIncident): Promise<void>;
  /** Incidents overlapping the range (open ones overlap everything after their start), oldest first. */
  incidents(range: TimeRange, endpoint?: string): Promise<StoredIncident[]>;
  /** Incidents still open, to resume after a restart. */
  openIncidents(): Promise<StoredIncident[]>;
  saveCalibrationRun(run: CalibrationRunInput): Promise<CalibrationRun>;
  /** Newest first. */
  calibrationRuns(endpoint?: string, limit?: number): Promise<CalibrationRun[]>;
  /** What an endpoint reports about itself now (the monitor records it; check compares with calibration). */
  saveObservedFingerprint(fingerprint: Fingerprint): Promise<void>;
  /** The latest observed fingerprint per endpoint. */
  observedFingerprints(): Promise<Fingerprint[]>;
  addMark(mark: OptimisationMark): Promise<void>;
  /** Newest first. */
  marks(endpoint?: string): Promise<OptimisationMark[]>;
  /** Per-endpoint traffic series bucketed by `stepMs` (minute or coarser). */
  series(endpoint: string, query: SeriesQuery): Promise<SeriesPoint[]>;
  /** Good/valid totals of one objective over the range. */
  objectiveCounts(objectiveId: string, range: TimeRange): Promise<ObjectiveCounts | undefined>;
  /** Per-minute good/total counts for the evaluator (all objectives, or the ones named). */
  sloBuckets(range: TimeRange, objectiveIds?: readonly string[]): Promise<MinuteBucket[]>;
  /**
   * Like `sloBuckets`, but each stretch between two consecutive `cuts` (and UTC day boundaries) is
   * summed into one bucket dated at its last minute with data. Any count over a range whose edges
   * are among the cuts is unchanged, with a fraction of the rows (the evaluator's old history).
   */
  sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): Promise<MinuteBucket[]>;
  /** Health-probe outcomes bucketed by `stepMs`. */
  availability(endpoint: string, query: SeriesQuery): Promise<AvailabilityPoint[]>;
  /** Recent probe results, newest first. */
  probes(endpoint: string, range: TimeRange, limit?: number): Promise<ProbeResult[]>;
  /** Raw request records in a range (bounded by retention), oldest first. */
  records(range: TimeRange, endpoint?: string, limit?: number): Promise<RequestRecord[]>;
  /** Time of the newest stored record/probe/bucket (the report's 'Last Updated'), if any. */
  lastActivityMs(): Promise<number | undefined>;
  /** The schema version the database is at (the last migration applied). */
  schemaVersion(): Promise<number>;
  /** Writes queued records and probes now. */
  flush(): Promise<void>;
  /** Drops raw rows and aggregates older than the retention. Returns rows removed. */
  prune(nowMs?: number): Promise<number>;
  /** Flushes and closes; further writes are dropped. */
  close(): Promise<void>;
}
