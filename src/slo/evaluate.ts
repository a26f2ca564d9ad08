// The verdict `llm-fleet check` prints and `report` renders: every endpoint's objectives judged
// over [sinceMs, nowMs] from per-minute buckets, incidents, fingerprints and marks, with error
// budgets, burn rates, availability figures, recovery and recalibration triggers.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { Incident } from '../probes/types.ts';
import type { AggregateRate } from './aggregate-rate.ts';
import { aggregateRate, judgeAggregate, ratePerSecond } from './aggregate-rate.ts';
import type { AvailabilitySummary } from './availability.ts';
import { availabilitySummary } from './availability.ts';
import { BucketIndex } from './bucket-index.ts';
import { describeWindow, windowByName, windowMinutes } from './calendar.ts';
import type { MinuteBucket } from './buckets.ts';
import type { BurnStatus, ErrorBudget } from './burn-rate.ts';
import { burnStatus, countsIn, errorBudget } from './burn-rate.ts';
import type { Fingerprint } from './fingerprint.ts';
import type { Objective } from './objectives.ts';
import { endpointReportedObjectives } from './objectives.ts';
import { nearestRankOfSorted } from './nearest-rank.ts';
import type { RecoverySummary } from './recovery.ts';
import { formatMinutes, judgeRecovery } from './recovery.ts';

export { formatMinutes };
import type { RecalibrationMark, RecalibrationTrigger } from './triggers.ts';
import { recalibrationTriggers } from './triggers.ts';

/** Raw per-request values of one endpoint, for the percentile VALUES shown beside targets. */
export interface EndpointSamples {
  readonly endpoint: string;
  readonly ttftMs: readonly number[];
  readonly decodeTokensPerSecond: readonly number[];
  readonly burstTokensPerSecond: readonly number[];
}

export interface EvaluationData {
  /** Per-minute buckets covering at least [sinceMs, nowMs], and 30 days back for availability figures. */
  readonly buckets: readonly MinuteBucket[];
  readonly incidents: readonly Incident[];
  readonly fingerprints?: {
    readonly calibrated: readonly Fingerprint[];
    readonly observed: readonly Fingerprint[];
  };
  readonly marks?: readonly RecalibrationMark[];
  /** Optional raw samples over [sinceMs, nowMs] (see `samplesFromRecords`). */
  readonly samples?: readonly EndpointSamples[];
  /**
   * Optional measured values by objective id (e.g. the store's P95 from its minute histograms),
   * used where no raw samples are given. Same percentile as `samples` would give (see `measuredValue`).
   */
  readonly observedValues?: Readonly<Record<string, number>>;
  readonly nowMs: number;
  readonly sinceMs: number;
}

/**
 * `not-enough-data`: some valid events, but too few for the target to decide (a P99 objective on 7
 * requests: one slow request would read as a breach, 7 fast ones say nothing about the 99th).
 */
export type ObjectiveAssessment = 'ok' | 'breach' | 'no-data' | 'not-enough-data';
export type ObjectiveVerdictKind = ObjectiveAssessment | 'best-effort' | 'ci-skip';

export interface Measured {
  readonly good: number;
  /** Valid events (requests, probes in the window, incidents for recovery). */
  readonly total: number;
  /** good / total; undefined without events. */
  readonly ratio?: number;
  /** The percentile value the target names (P95 ms, P50 tokens/s …), from raw samples when given. */
  readonly value?: number;
  /** Which percentile `value` is (0.95 for a P95 target, 0.5 for a sustained floor). */
  readonly valuePercentile?: number;
  readonly samples?: number;
}

export interface ObjectiveVerdict {
  readonly objective: Objective;
  /** Required share of good events and, for latency/throughput, the threshold (after adjustments). */
  readonly target: { readonly ratio: number; readonly threshold?: number; readonly unit: Objective['unit'] };
  readonly measured: Measured;
  readonly budget?: ErrorBudget;
  /** Shortcut to `budget.remaining`. */
  readonly budgetRemaining?: number;
  readonly burn?: BurnStatus;
  readonly availability?: AvailabilitySummary;
  readonly recovery?: RecoverySummary;
  /** Aggregate-rate objectives (embeddings/s): units, busy time, the rate and its alert windows. */
  readonly aggregate?: AggregateRate;
  /** What the data says, before the environment's say. */
  readonly assessment: ObjectiveAssessment;
  /** What counts: `ci-skip` for performance objectives under the `ci` environment, `best-effort` never judged. */
  readonly verdict: ObjectiveVerdictKind;
  /** One line: why this verdict. */
  readonly reason: string;
}

export type EndpointStatus = 'ok' | 'breach' | 'no-data';

/**
 * Valid events an objective needs before its ratio can be judged: enough that one event on its
 * own cannot decide the verdict — 1 / (1 − target) for high targets (P95: 20, P99: 100, 99.5%
 * availability: 200), 1 / target for low ones (burst's 5%: 20; a P50 floor: 2).
 */
export function minimumValidEvents(target: number): number {
  const share = Math.min(target, 1 - target);
  return share > 0 ? Math.ceil(1 / share - 1e-9) : 1;
}

/**
 * The verdict counts can give. Below the minimum, a breach is declared only when it is certain —
 * even if every missing event were good the ratio would stay under the target — and ok only when
 * every missing event being bad could not break it; otherwise there is not enough data.
 */
export function judgeCounts(good: number, total: number, target: number): ObjectiveAssessment {
  if (total === 0) return 'no-data';
  const minimum = minimumValidEvents(target);
  if (total >= minimum) return good / total < target ? 'breach' : 'ok';
  if ((good + (minimum - total)) / minimum < target) return 'breach';
  if (good / minimum >= target) return 'ok';
  return 'not-enough-data';
}

export interface EndpointVerdict {
  readonly endpoint: string;
  readonly planned: boolean;
  /** False for an endpoint whose fleet file states no `slo`: measured, never judged. */
  readonly judged: boolean;
  readonly status: EndpointStatus;
  readonly objectives: readonly ObjectiveVerdict[];
  readonly triggers: readonly RecalibrationTrigger[];
}

export interface FleetVerdict {
  readonly fleet: string;
  readonly environment: Fleet['environment'];
  readonly sinceMs: number;
  readonly nowMs: number;
  /** Start of the newest minute with any event, or the newest incident edge; undefined with no data. */
  readonly lastDataMs?: number;
  readonly endpoints: readonly EndpointVerdict[];
  /** True when any judged objective is in breach (never for `ci-skip` or `best-effort`). */
  readonly breach: boolean;
}

export function evaluateFleet(fleet: Fleet, data: EvaluationData): FleetVerdict {
  const index = new BucketIndex(data.buckets);
  const endpoints = fleet.endpoints.map((e) => evaluateEndpoint(fleet, e, data, index));
  let lastDataMs: number | undefined;
  for (const b of data.buckets)
    if (b.total > 0 && b.minuteStartMs <= data.nowMs)
      lastDataMs = Math.max(lastDataMs ?? -Infinity, b.minuteStartMs);
  for (const i of data.incidents)
    for (const t of [i.startedAtMs, i.endedAtMs])
      if (t !== undefined && t <= data.nowMs) lastDataMs = Math.max(lastDataMs ?? -Infinity, t);
  return {
    fleet: fleet.name,
    environment: fleet.environment,
    sinceMs: data.sinceMs,
    nowMs: data.nowMs,
    lastDataMs,
    endpoints,
    breach: endpoints.some((e) => e.objectives.some((o) => o.verdict === 'breach')),
  };
}

export function evaluateEndpoint(
  fleet: Fleet,
  endpoint: Endpoint,
  data: EvaluationData,
  index: BucketIndex = new BucketIndex(data.buckets),
): EndpointVerdict {
  const samples = data.samples?.find((s) => s.endpoint === endpoint.name);
  const objectives = endpointReportedObjectives(endpoint).map((o) =>
    evaluateObjective(fleet, endpoint, o, data, samples, index),
  );
  const triggers = recalibrationTriggers(fleet, endpoint, {
    buckets: index,
    calibrated: data.fingerprints?.calibrated ?? [],
    observed: data.fingerprints?.observed ?? [],
    marks: data.marks ?? [],
    nowMs: data.nowMs,
  });
  const status: EndpointStatus = objectives.some((o) => o.verdict === 'breach')
    ? 'breach'
    : objectives.some((o) => o.assessment === 'ok' || o.assessment === 'breach')
      ? 'ok'
      : 'no-data';
  return {
    endpoint: endpoint.name,
    planned: endpoint.status === 'planned',
    judged: endpoint.judged !== false,
    status,
    objectives,
    triggers,
  };
}

function evaluateObjective(
  fleet: Fleet,
  endpoint: Endpoint,
  objective: Objective,
  data: EvaluationData,
  samples: EndpointSamples | undefined,
  index: BucketIndex,
): ObjectiveVerdict {
  const range = { sinceMs: data.sinceMs, nowMs: data.nowMs };
  const target = { ratio: objective.target, threshold: objective.threshold, unit: objective.unit };
  const ciSkip = fleet.environment === 'ci' && objective.performance;

  if (objective.kind === 'recovery') {
    const recovery = judgeRecovery(endpoint, data.incidents, range);
    const probed = countsIn(index, `${endpoint.name}-availability`, data.sinceMs, data.nowMs + 1).total > 0;
    const assessment: ObjectiveAssessment =
      recovery.exceeded > 0 ? 'breach' : recovery.count > 0 || probed ? 'ok' : 'no-data';
    const worst = recovery.worst ? ` worst ${formatMinutes(recovery.worst.durationMs)}` : '';
    return {
      objective,
      target,
      measured: {
        good: recovery.count - recovery.exceeded,
        total: recovery.count,
        value: recovery.worst?.durationMs,
      },
      recovery,
      assessment,
      verdict: assessment,
      reason:
        assessment === 'no-data'
          ? recoveryNoDataReason(fleet, endpoint, range)
          : `${recovery.count} incident(s), ${recovery.exceeded} over ${formatMinutes(objective.threshold ?? 0)}${worst}${recovery.open > 0 ? `, ${recovery.open} open` : ''}`,
    };
  }

  if (objective.judgedAs === 'aggregate') return evaluateAggregate(fleet, objective, data, index, ciSkip);

  const c = countsIn(index, objective.id, data.sinceMs, data.nowMs + 1);
  const ratio = c.total > 0 ? c.good / c.total : undefined;
  const observed = data.observedValues?.[objective.id];
  const fromSamples = measuredValue(objective, samples);
  const measured: Measured = {
    good: c.good,
    total: c.total,
    ratio,
    ...(fromSamples.value === undefined && observed !== undefined
      ? { value: observed, valuePercentile: valuePercentileOf(objective) }
      : fromSamples),
  };
  const availability =
    objective.kind === 'availability' ? availabilitySummary(fleet, objective, index, range) : undefined;

  if (objective.bestEffort) {
    return {
      objective,
      target,
      measured,
      availability,
      assessment: ratio === undefined ? 'no-data' : 'ok',
      verdict: 'best-effort',
      reason:
        ratio === undefined
          ? 'best-effort: no probes in range'
          : `best-effort: ${formatPercent(ratio)} measured, not judged`,
    };
  }

  const budget = errorBudget(c, objective.target);
  const burn = burnStatus(index, objective.id, objective.target, data.nowMs);
  const assessment = judgeCounts(c.good, c.total, objective.target);
  const verdict: ObjectiveVerdictKind = ciSkip ? 'ci-skip' : assessment;
  const what = objective.kind === 'availability' ? 'probes' : validEventsName(objective);
  const counted = `${c.good} of ${c.total} ${what} good`;
  const reason =
    ratio === undefined
      ? noEventsReason(fleet, objective, what, range)
      : assessment === 'not-enough-data'
        ? `not enough data: ${counted}; ${minimumValidEvents(objective.target)} ${what} are needed before a ${formatPercent(objective.target)} target can be judged`
        : `${counted} (${formatPercent(ratio)}; target ${formatPercent(objective.target)})` +
          (assessment === 'breach' ? outageShare(fleet, objective, index, data) : '') +
          (ciSkip ? '; ci environment: performance is not judged' : '') +
          (burn.firing !== 'none' ? `; ${burn.firing} burn-rate alert firing` : '');
  return {
    objective,
    target,
    measured,
    budget,
    budgetRemaining: budget.remaining,
    burn,
    availability,
    assessment,
    verdict,
    reason,
  };
}

/**
 * An aggregate-rate objective: the range's units over its busy seconds against the floor; a
 * breach says what the rate was outside the outages' minutes when an outage could explain it.
 */
function evaluateAggregate(
  fleet: Fleet,
  objective: Objective,
  data: EvaluationData,
  index: BucketIndex,
  ciSkip: boolean,
): ObjectiveVerdict {
  const range = { sinceMs: data.sinceMs, nowMs: data.nowMs };
  const rate = aggregateRate(index, objective, range);
  const floor = objective.threshold ?? 0;
  const assessment = judgeAggregate(rate, floor);
  const batch = objective.batchSize ?? 1;
  const counted = `${rate.units} inputs in ${formatBusy(rate.busyMs)} busy`;
  const perSecond = rate.ratePerSecond === undefined ? '' : `${Math.round(rate.ratePerSecond)}/s: `;
  const reason =
    assessment === 'no-data'
      ? noEventsReason(fleet, objective, 'batches', range)
      : assessment === 'not-enough-data'
        ? `not enough data: ${counted}; ${rate.minimumUnits} inputs (${rate.minimumUnits / batch} batches of ${batch}) are needed before an aggregate rate can be judged`
        : `${perSecond}${counted} (aggregate; floor ${floor}/s)` +
          (assessment === 'breach' ? aggregateOutageShare(fleet, objective, index, data) : '') +
          (ciSkip ? '; ci environment: performance is not judged' : '') +
          (rate.firing ? `; rate alert firing (under ${floor}/s over 5m and 1h)` : '');
  return {
    objective,
    target: { ratio: objective.target, threshold: objective.threshold, unit: objective.unit },
    measured: { good: rate.units, total: rate.busyMs, value: rate.ratePerSecond },
    aggregate: rate,
    assessment,
    verdict: ciSkip ? 'ci-skip' : assessment,
    reason,
  };
}

/** '2.41 s', '380 ms': busy time as check prints it. */
function formatBusy(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 10) / 100} s` : `${Math.round(ms)} ms`;
}

/**
 * Why an objective has no valid events: for a business-hours availability objective, whether the
 * range held any of its window at all ('outside business hours', not 'no probes').
 */
export function noEventsReason(
  fleet: Fleet,
  objective: Objective,
  what: string,
  range: { sinceMs: number; nowMs: number },
): string {
  const outside = outsideWindowReason(fleet, objective, range);
  if (outside !== undefined) return outside;
  if (objective.batchSize !== undefined)
    return `no ${what} in range (only batches of at least ${objective.batchSize} inputs count)`;
  return `no ${what} in range`;
}

/** For an availability objective with a business-hours window: the range held none of that window. */
function outsideWindowReason(
  fleet: Fleet,
  objective: Objective,
  range: { sinceMs: number; nowMs: number },
): string | undefined {
  if (objective.kind !== 'availability' || objective.window === undefined) return undefined;
  const window = windowByName(fleet, objective.window);
  if (window.always || windowMinutes(window, range.sinceMs, range.nowMs) > 0) return undefined;
  return `outside business hours: the range holds none of ${objective.window} (${describeWindow(window)}), so no probe counts yet`;
}

/**
 * A recovery objective with no incident and no probe counted: its probes count within the
 * endpoint's availability window, so a business-hours endpoint outside business hours says that,
 * as its availability row does, rather than "no probes" (the monitor may well have probed it).
 */
function recoveryNoDataReason(
  fleet: Fleet,
  endpoint: Endpoint,
  range: { sinceMs: number; nowMs: number },
): string {
  const availability = endpointReportedObjectives(endpoint).find((o) => o.kind === 'availability');
  const outside = availability && outsideWindowReason(fleet, availability, range);
  return outside ? `${outside}; no incidents in range` : 'no probes and no incidents in range';
}

function validEventsName(objective: Objective): string {
  return objective.batchSize !== undefined ? 'batches' : 'requests';
}

/**
 * Where a breach's bad events fell: how many lie in the minutes of an incident in range (this
 * endpoint's, or — for the requests its fallbacks took over — any endpoint's), naming the
 * incidents, so a breach caused by an outage says so.
 */
function outageShare(fleet: Fleet, objective: Objective, index: BucketIndex, data: EvaluationData): string {
  const bad = (from: number, to: number): number => {
    const c = countsIn(index, objective.id, from, to);
    return c.total - c.good;
  };
  const allBad = bad(data.sinceMs, data.nowMs + 1);
  if (allBad <= 0) return '';
  const outage = outageSpans(fleet, objective, data);
  if (!outage) return '';
  let during = 0;
  for (const [from, to] of outage.spans) during += bad(from, to);
  if (during === 0) return '';
  return during >= allBad
    ? `; all ${allBad} bad during the outage (${outage.named})`
    : `; ${during} of ${allBad} bad during the outage (${outage.named})`;
}

/**
 * An aggregate rate under its floor: the rate outside the outages' minutes, so a shortfall the
 * outage caused (time spent busy on batches that waited out a failover) says so.
 */
function aggregateOutageShare(
  fleet: Fleet,
  objective: Objective,
  index: BucketIndex,
  data: EvaluationData,
): string {
  const outage = outageSpans(fleet, objective, data);
  if (!outage) return '';
  const all = countsIn(index, objective.id, data.sinceMs, data.nowMs + 1);
  let units = all.good;
  let busyMs = all.total;
  for (const [from, to] of outage.spans) {
    const c = countsIn(index, objective.id, from, to);
    units -= c.good;
    busyMs -= c.total;
  }
  if (units === all.good) return '';
  const outside = ratePerSecond(units, busyMs);
  const floor = objective.threshold ?? 0;
  const outsideText = outside === undefined ? 'no busy time' : `${Math.round(outside)}/s`;
  return outside === undefined || outside >= floor
    ? `; under the floor only with the outage's minutes (${outage.named}): ${outsideText} outside them`
    : `; ${outsideText} outside the outage's minutes too (${outage.named})`;
}

/**
 * The minutes of the incidents that can explain this objective's bad events ([from, to) spans,
 * disjoint, within the range; first and last minute whole, as the store cuts its sums), and the
 * incidents named for the reason; undefined when none touched the range.
 */
function outageSpans(
  fleet: Fleet,
  objective: Objective,
  data: EvaluationData,
): { spans: [number, number][]; named: string } | undefined {
  const related = outageNeighbours(fleet, objective);
  const incidents = data.incidents.filter(
    (i) =>
      related.has(i.endpoint) &&
      i.replica === undefined &&
      i.startedAtMs <= data.nowMs &&
      (i.endedAtMs ?? data.nowMs) >= data.sinceMs,
  );
  if (incidents.length === 0) return undefined;
  const edges = incidents
    .map((i) => incidentMinuteEdges(i, data.nowMs) as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const spans: [number, number][] = [];
  let coveredTo = -Infinity;
  for (const [from, to] of edges) {
    const start = Math.max(from, coveredTo, Math.floor(data.sinceMs / 60_000) * 60_000);
    if (to > start) spans.push([start, to]);
    coveredTo = Math.max(coveredTo, to);
  }
  const named = incidents
    .slice(0, 3)
    .map(
      (i) =>
        `${i.endpoint} ${i.cause} ${isoClock(i.startedAtMs)}–${i.endedAtMs === undefined ? 'open' : isoClock(i.endedAtMs)}`,
    )
    .join(', ');
  const more = incidents.length > 3 ? ` and ${incidents.length - 3} more` : '';
  return { spans, named: `${named}${more}` };
}

/** [first minute, minute after the last] an incident touched (open incidents run to now). */
export function incidentMinuteEdges(incident: Incident, nowMs: number): number[] {
  const end = Math.min(incident.endedAtMs ?? nowMs, nowMs);
  return [Math.floor(incident.startedAtMs / 60_000) * 60_000, Math.floor(end / 60_000) * 60_000 + 60_000];
}

/**
 * Whose outages can explain this objective's bad events: the endpoint's own; for request
 * objectives also the endpoints whose traffic it takes over (it is their fallback) and those on
 * its host (degraded mode applies to the whole host while one of them is down).
 */
function outageNeighbours(fleet: Fleet, objective: Objective): Set<string> {
  const out = new Set([objective.endpoint]);
  if (objective.kind === 'availability' || objective.kind === 'recovery') return out;
  const self = fleet.endpoints.find((e) => e.name === objective.endpoint);
  for (const rule of fleet.routing.rules)
    if (rule.fallbacks.includes(objective.endpoint)) out.add(rule.endpoint);
  for (const e of fleet.endpoints) if (self && e.host === self.host) out.add(e.name);
  return out;
}

/** 'HH:MM:SS' UTC, as the demo's log prints times. */
function isoClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** Which percentile an objective's measured value is: its target for latency, 1 − target for floors. */
export function valuePercentileOf(objective: Objective): number | undefined {
  switch (objective.kind) {
    case 'ttft-p95':
    case 'ttft-p99':
      return objective.target;
    case 'throughput-sustained':
    case 'throughput-burst':
      return Math.round((1 - objective.target) * 100) / 100;
    default:
      return undefined;
  }
}

/**
 * The percentile a target names: latency targets at their own percentile (P95, P99); floors at
 * 1 − target (a floor that half the requests must reach is judged at P50, burst's 5% at P95).
 */
function measuredValue(objective: Objective, samples: EndpointSamples | undefined): Partial<Measured> {
  if (!samples) return {};
  let values: readonly number[];
  let q: number;
  switch (objective.kind) {
    case 'ttft-p95':
    case 'ttft-p99':
      values = samples.ttftMs;
      q = objective.target;
      break;
    case 'throughput-sustained':
      values = samples.decodeTokensPerSecond;
      // Floors: the value reached by `target` of requests is the (1 − target) percentile.
      q = 1 - objective.target;
      break;
    case 'throughput-burst':
      values = samples.burstTokensPerSecond;
      q = 1 - objective.target;
      break;
    default:
      return {};
  }
  if (values.length === 0) return { samples: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    value: nearestRankOfSorted(sorted, q),
    valuePercentile: Math.round(q * 100) / 100,
    samples: values.length,
  };
}

/** Raw samples per endpoint from request records (successful ones only, as `judgeRecord` counts). */
export function samplesFromRecords(records: Iterable<RequestRecord>): EndpointSamples[] {
  const by = new Map<
    string,
    {
      ttftMs: number[];
      decodeTokensPerSecond: number[];
      burstTokensPerSecond: number[];
    }
  >();
  for (const r of records) {
    if (r.outcome !== 'ok') continue;
    let s = by.get(r.endpoint);
    if (!s) {
      s = { ttftMs: [], decodeTokensPerSecond: [], burstTokensPerSecond: [] };
      by.set(r.endpoint, s);
    }
    if (r.ttftMs !== undefined) s.ttftMs.push(r.ttftMs);
    if (r.decodeTokensPerSecond !== undefined) s.decodeTokensPerSecond.push(r.decodeTokensPerSecond);
    if (r.burstTokensPerSecond !== undefined) s.burstTokensPerSecond.push(r.burstTokensPerSecond);
  }
  return [...by.entries()].map(([endpoint, s]) => ({ endpoint, ...s }));
}

export function formatPercent(ratio: number): string {
  return `${Math.round(ratio * 10_000) / 100}%`;
}
