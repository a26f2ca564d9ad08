// The verdict `llm-fleet check` prints and `report` renders: every endpoint's objectives judged
// over [sinceMs, nowMs] from per-minute buckets, incidents, fingerprints and marks, with error
// budgets, burn rates, availability figures, recovery and recalibration triggers.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { Incident } from '../probes/types.ts';
import type { AvailabilitySummary } from './availability.ts';
import { availabilitySummary } from './availability.ts';
import { BucketIndex } from './bucket-index.ts';
import type { MinuteBucket } from './buckets.ts';
import type { BurnStatus, ErrorBudget } from './burn-rate.ts';
import { burnStatus, countsIn, errorBudget } from './burn-rate.ts';
import type { Fingerprint } from './fingerprint.ts';
import type { Objective } from './objectives.ts';
import { endpointReportedObjectives } from './objectives.ts';
import { nearestRankOfSorted } from './nearest-rank.ts';
import type { RecoverySummary } from './recovery.ts';
import { judgeRecovery } from './recovery.ts';
import type { RecalibrationMark, RecalibrationTrigger } from './triggers.ts';
import { recalibrationTriggers } from './triggers.ts';

/** Raw per-request values of one endpoint, for the percentile VALUES shown beside targets. */
export interface EndpointSamples {
  readonly endpoint: string;
  readonly ttftMs: readonly number[];
  readonly decodeTokensPerSecond: readonly number[];
  readonly burstTokensPerSecond: readonly number[];
  readonly embeddingsPerSecond: readonly number[];
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

export type ObjectiveAssessment = 'ok' | 'breach' | 'no-data';
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
  /** What the data says, before the environment's say. */
  readonly assessment: ObjectiveAssessment;
  /** What counts: `ci-skip` for performance objectives under the `ci` environment, `best-effort` never judged. */
  readonly verdict: ObjectiveVerdictKind;
  /** One line: why this verdict. */
  readonly reason: string;
}

export type EndpointStatus = 'ok' | 'breach' | 'no-data';

export interface EndpointVerdict {
  readonly endpoint: string;
  readonly planned: boolean;
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
    : objectives.some((o) => o.assessment !== 'no-data')
      ? 'ok'
      : 'no-data';
  return { endpoint: endpoint.name, planned: endpoint.status === 'planned', status, objectives, triggers };
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
          ? 'no probes and no incidents in range'
          : `${recovery.count} incident(s), ${recovery.exceeded} over ${formatMinutes(objective.threshold ?? 0)}${worst}${recovery.open > 0 ? `, ${recovery.open} open` : ''}`,
    };
  }

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
  const assessment: ObjectiveAssessment =
    ratio === undefined ? 'no-data' : ratio < objective.target ? 'breach' : 'ok';
  const verdict: ObjectiveVerdictKind = ciSkip ? 'ci-skip' : assessment;
  const what = objective.kind === 'availability' ? 'probes' : 'requests';
  const reason =
    ratio === undefined
      ? `no ${what} in range`
      : `${c.good} of ${c.total} ${what} good (${formatPercent(ratio)}; target ${formatPercent(objective.target)})` +
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

/** Which percentile an objective's measured value is: its target for latency, 1 − target for floors. */
export function valuePercentileOf(objective: Objective): number | undefined {
  switch (objective.kind) {
    case 'ttft-p95':
    case 'ttft-p99':
      return objective.target;
    case 'throughput-sustained':
    case 'throughput-burst':
    case 'embeddings-rate':
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
    case 'embeddings-rate':
      values = samples.embeddingsPerSecond;
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
      embeddingsPerSecond: number[];
    }
  >();
  for (const r of records) {
    if (r.outcome !== 'ok') continue;
    let s = by.get(r.endpoint);
    if (!s) {
      s = { ttftMs: [], decodeTokensPerSecond: [], burstTokensPerSecond: [], embeddingsPerSecond: [] };
      by.set(r.endpoint, s);
    }
    if (r.ttftMs !== undefined) s.ttftMs.push(r.ttftMs);
    if (r.decodeTokensPerSecond !== undefined) s.decodeTokensPerSecond.push(r.decodeTokensPerSecond);
    if (r.burstTokensPerSecond !== undefined) s.burstTokensPerSecond.push(r.burstTokensPerSecond);
    if (r.operation === 'embeddings' && r.inputCount !== undefined && r.ttftMs !== undefined && r.ttftMs > 0)
      s.embeddingsPerSecond.push((r.inputCount / r.ttftMs) * 1000);
  }
  return [...by.entries()].map(([endpoint, s]) => ({ endpoint, ...s }));
}

export function formatPercent(ratio: number): string {
  return `${Math.round(ratio * 10_000) / 100}%`;
}

export function formatMinutes(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
