// SLO events: what one request or one probe counts for. The gateway increments
// `llm_slo_events_total{slo,endpoint,outcome}` from `requestEvents`, the monitor from `probeEvents`,
// and `foldRecords`/`foldProbes` build the evaluator's per-minute buckets from the very same
// functions, so Prometheus and `llm-fleet check` count identical events.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import { inWindow, windowByName } from './calendar.ts';
import type { Objective } from './objectives.ts';
import { endpointReportedObjectives, judgeRecord, rateShare } from './objectives.ts';

export type EventOutcome = 'good' | 'bad';

export interface SloEvent {
  /** Objective id (the `slo` label). */
  readonly objectiveId: string;
  readonly endpoint: string;
  readonly outcome: EventOutcome;
}

/**
 * What one request adds to an aggregate-rate objective (embeddings/s): its inputs and the busy
 * time it newly covered. The gateway adds them to `llm_slo_rate_units_total` and
 * `llm_slo_rate_busy_seconds_total`; the buckets carry them as good = units, total = busy ms.
 */
export interface RateEvent {
  readonly objectiveId: string;
  readonly endpoint: string;
  readonly units: number;
  readonly busyMs: number;
}

/** Objectives per endpoint, computed once per fleet (events are counted on every request). */
const objectiveCache = new WeakMap<Fleet, Map<string, Objective[]>>();

export function objectivesOf(fleet: Fleet, endpoint: string): readonly Objective[] {
  let byEndpoint = objectiveCache.get(fleet);
  if (!byEndpoint) {
    byEndpoint = new Map(fleet.endpoints.map((e: Endpoint) => [e.name, endpointReportedObjectives(e)]));
    objectiveCache.set(fleet, byEndpoint);
  }
  return byEndpoint.get(endpoint) ?? [];
}

/**
 * The objective as it applies to one request: on a host in degraded mode (the record says
 * `degraded`), TTFT thresholds are multiplied by the fleet's degraded factor for that request only —
 * unless the whole fleet is already loaded with `--env degraded`, which applied the factor everywhere.
 */
export function effectiveObjective(fleet: Fleet, objective: Objective, record: RequestRecord): Objective {
  if (
    record.degraded === true &&
    fleet.environment !== 'degraded' &&
    (objective.kind === 'ttft-p95' || objective.kind === 'ttft-p99') &&
    objective.threshold !== undefined
  )
    return { ...objective, threshold: objective.threshold * fleet.environments.degraded.apply };
  return objective;
}

/** The good/bad events one request record counts for (none for errors: they belong to availability). */
export function requestEvents(fleet: Fleet, record: RequestRecord): SloEvent[] {
  const out: SloEvent[] = [];
  for (const objective of objectivesOf(fleet, record.endpoint)) {
    if (objective.kind === 'availability' || objective.kind === 'recovery') continue;
    if (objective.judgedAs === 'aggregate') continue;
    const judged = judgeRecord(effectiveObjective(fleet, objective, record), record);
    if (judged !== 'invalid')
      out.push({ objectiveId: objective.id, endpoint: record.endpoint, outcome: judged });
  }
  return out;
}

/** The aggregate-rate shares one request record counts for (a counted embeddings batch). */
export function rateEvents(fleet: Fleet, record: RequestRecord): RateEvent[] {
  const out: RateEvent[] = [];
  for (const objective of objectivesOf(fleet, record.endpoint)) {
    const share = rateShare(objective, record);
    if (share) out.push({ objectiveId: objective.id, endpoint: record.endpoint, ...share });
  }
  return out;
}

/**
 * The availability event one probe counts for: good when it succeeded, bad when not, and nothing
 * when the probe's minute lies outside the objective's window (business hours) — outside the
 * window there are no valid events, so the SLO neither gains nor loses.
 */
/**
 * Whether a probe says anything about availability: a real request that timed out on an engine
 * answering /health while it reported queueing (cause `saturated`) is load, not an outage.
 */
export function countsForAvailability(probe: ProbeResult): boolean {
  return probe.cause !== SATURATED_CAUSE;
}

/** The cause the monitor gives a request probe that timed out on a saturated, healthy engine. */
export const SATURATED_CAUSE = 'saturated';

export function probeEvents(fleet: Fleet, probe: ProbeResult): SloEvent[] {
  if (!countsForAvailability(probe)) return [];
  const out: SloEvent[] = [];
  for (const objective of objectivesOf(fleet, probe.endpoint)) {
    if (objective.kind !== 'availability') continue;
    if (!inWindow(windowByName(fleet, objective.window), minuteStart(probe.atMs))) continue;
    out.push({ objectiveId: objective.id, endpoint: probe.endpoint, outcome: probe.ok ? 'good' : 'bad' });
  }
  return out;
}

export function minuteStart(atMs: number): number {
  return Math.floor(atMs / 60_000) * 60_000;
}
