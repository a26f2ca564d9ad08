// Everything the SLO evaluator needs, read from the store: per-minute buckets (30 days back, for
// the availability figures), incidents, calibrated and observed fingerprints, optimisation marks,
// and the measured values — exact percentiles from raw records while the raw retention covers the
// range, else the minute histograms' estimate (±2.2%).
import type { Fleet } from '../fleet/index.ts';
import { BURN_RATE_WINDOWS_MS } from '../slo/burn-windows.ts';
import { startOfMonthMs, windowByName } from '../slo/calendar.ts';
import type { EvaluationData } from '../slo/evaluate.ts';
import { incidentMinuteEdges, samplesFromRecords } from '../slo/evaluate.ts';
import type { Fingerprint } from '../slo/fingerprint.ts';
import { reportedObjectivesFor } from '../slo/objectives.ts';
import type { FleetStore } from './types.ts';

const DAY_MS = 24 * 60 * 60_000;
const ROLLING_MS = 30 * DAY_MS;
/** Availability figures look back a rolling 30 days and to the start of the calendar month. */
const LOOKBACK_MS = 32 * DAY_MS;
/** Above this many raw records the histograms' estimate is used instead of exact percentiles. */
export const RAW_SAMPLE_LIMIT = 250_000;

export interface EvaluationRange {
  readonly sinceMs: number;
  readonly nowMs: number;
  /** Raw records older than this are gone (the store's raw retention). */
  readonly rawRetentionMs?: number;
}

export async function evaluationData(
  fleet: Fleet,
  store: FleetStore,
  range: EvaluationRange,
): Promise<EvaluationData> {
  const { sinceMs, nowMs } = range;
  const fromMs = Math.min(sinceMs, nowMs - LOOKBACK_MS);
  // The minute in progress counts: its bucket starts before nowMs.
  const window = { fromMs, toMs: nowMs + 60_000 };
  // Every sum the evaluator takes runs from one of a few edges up to now (burn-rate and
  // sustained-violation windows, the window start, the calendar month, the rolling 30 days), so
  // the stretches between those edges (and UTC days) are summed in the store — the same verdict as
  // full minute buckets (see evaluation-input.test.ts), from ~50 rows per objective instead of
  // ~46,000, most of them pre-summed per day and hour (see bench/dashboard.ts).
  const incidents = await store.incidents({ fromMs, toMs: nowMs + 1 });
  const buckets = await store.sloBucketsCoarse(window, [
    ...evaluationCuts(fleet, sinceMs, nowMs),
    // A breach names the outage its bad events fell in: the evaluator sums the incidents' minutes.
    ...incidents.flatMap((i) => incidentMinuteEdges(i, nowMs)),
  ]);
  const calibrated: Fingerprint[] = (await store.calibrationRuns(undefined, 10_000)).map((run) => ({
    ...run.fingerprint,
    endpoint: run.endpoint,
    atMs: run.fingerprint.atMs ?? run.startedAtMs,
  }));
  const observed = await store.observedFingerprints();
  const marks = await store.marks();
  const observedValues: Record<string, number> = {};
  for (const o of reportedObjectivesFor(fleet)) {
    const value = (await store.objectiveCounts(o.id, { fromMs: sinceMs, toMs: nowMs + 1 }))?.observedValue;
    if (value !== undefined) observedValues[o.id] = value;
  }
  const rawCovers = range.rawRetentionMs === undefined || nowMs - sinceMs <= range.rawRetentionMs;
  let samples: EvaluationData['samples'];
  if (rawCovers) {
    const records = await store.records(
      { fromMs: sinceMs, toMs: nowMs + 1 },
      undefined,
      RAW_SAMPLE_LIMIT + 1,
    );
    if (records.length <= RAW_SAMPLE_LIMIT) samples = samplesFromRecords(records);
  }
  return {
    buckets,
    incidents,
    fingerprints: { calibrated, observed },
    marks,
    observedValues,
    ...(samples ? { samples } : {}),
    sinceMs,
    nowMs,
  };
}

/**
 * The edges of every count the evaluator takes: it only sums minutes in [edge, nowMs) or
 * [edge, nowMs + 1) for these edges, so buckets summed between them give it the same answers.
 */
export function evaluationCuts(fleet: Fleet, sinceMs: number, nowMs: number): number[] {
  const windowsMs = [...BURN_RATE_WINDOWS_MS, fleet.recalibration.sustainedViolations.windowMs];
  return [
    sinceMs,
    nowMs - ROLLING_MS,
    ...monthStarts(fleet, nowMs),
    ...windowsMs.map((w) => nowMs - w),
    // Burn windows end before the minute starting at nowMs; availability figures include it.
    nowMs,
    nowMs + 1,
  ];
}

/** The start of the current calendar month in each availability window's time zone. */
function monthStarts(fleet: Fleet, nowMs: number): number[] {
  const zones = new Set(fleet.endpoints.map((e) => windowByName(fleet, e.slo.availability.window).timeZone));
  return [...zones].map((zone) => startOfMonthMs(zone, nowMs));
}
