// The store interface: what the gateway, the monitor, calibrate, the dashboard and the check/report
// commands keep and ask for. The first implementation is node:sqlite (sqlite-store.ts); the SQL is
// kept portable so a PostgreSQL one can follow. Writes are batched: `write`/`writeProbe` only queue,
// a timer flushes every `flushIntervalMs` (a crash loses at most that much), `close` flushes.
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
  /** Queues a gateway request record (flushed with the next batch). */
  write(record: RequestRecord): void;
  /** Queues a probe result; health probes also count towards availability inside its window. */
  writeProbe(result: ProbeResult): void;
  /** Inserts or updates (by endpoint + start) an incident. Written at once: incidents are rare. */
  saveIncident(incident: StoredIncident): void;
  /** Incidents overlapping the range (open ones overlap everything after their start), oldest first. */
  incidents(range: TimeRange, endpoint?: string): StoredIncident[];
  /** Incidents still open, to resume after a restart. */
  openIncidents(): StoredIncident[];
  saveCalibrationRun(run: CalibrationRunInput): CalibrationRun;
  /** Newest first. */
  calibrationRuns(endpoint?: string, limit?: number): CalibrationRun[];
  /** What an endpoint reports about itself now (the monitor records it; check compares with calibration). */
  saveObservedFingerprint(fingerprint: Fingerprint): void;
  /** The latest observed fingerprint per endpoint. */
  observedFingerprints(): Fingerprint[];
  addMark(mark: OptimisationMark): void;
  /** Newest first. */
  marks(endpoint?: string): OptimisationMark[];
  /** Per-endpoint traffic series bucketed by `stepMs` (minute or coarser). */
  series(endpoint: string, query: SeriesQuery): SeriesPoint[];
  /** Good/valid totals of one objective over the range. */
  objectiveCounts(objectiveId: string, range: TimeRange): ObjectiveCounts | undefined;
  /** Per-minute good/total counts for the evaluator (all objectives, or the ones named). */
  sloBuckets(range: TimeRange, objectiveIds?: readonly string[]): MinuteBucket[];
  /**
   * Like `sloBuckets`, but each stretch between two consecutive `cuts` (and UTC day boundaries) is
   * summed into one bucket dated at its last minute with data. Any count over a range whose edges
   * are among the cuts is unchanged, with a fraction of the rows (the evaluator's old history).
   */
  sloBucketsCoarse(range: TimeRange, cuts: readonly number[]): MinuteBucket[];
  /** Health-probe outcomes bucketed by `stepMs`. */
  availability(endpoint: string, query: SeriesQuery): AvailabilityPoint[];
  /** Recent probe results, newest first. */
  probes(endpoint: string, range: TimeRange, limit?: number): ProbeResult[];
  /** Raw request records in a range (bounded by retention), oldest first. */
  records(range: TimeRange, endpoint?: string, limit?: number): RequestRecord[];
  /** Time of the newest stored record/probe/bucket (the report's 'Last Updated'), if any. */
  lastActivityMs(): number | undefined;
  /** Writes queued records and probes now. */
  flush(): void;
  /** Drops raw rows and aggregates older than the retention. Returns rows removed. */
  prune(nowMs?: number): number;
  close(): void;
}
