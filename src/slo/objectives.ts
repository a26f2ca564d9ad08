// The fleet's objectives as ratio SLOs over good/valid events ('TTFT P95 ≤ 2000 ms' means ≥ 95% of
// valid requests have TTFT ≤ 2000 ms). One id per objective, used by the gateway and monitor when
// they count events, by the evaluator, and by the exported Prometheus/OpenSLO rules.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';

export type ObjectiveKind =
  | 'ttft-p95'
  | 'ttft-p99'
  | 'throughput-sustained'
  | 'throughput-burst'
  | 'embeddings-rate'
  | 'availability'
  | 'recovery';

export interface Objective {
  /** Stable id, e.g. `coder-ttft-p95`. */
  readonly id: string;
  readonly endpoint: string;
  readonly kind: ObjectiveKind;
  /** Share of valid events that must be good (0.95 for a P95 target, 0.99 for 99% availability). */
  readonly target: number;
  /** Latency objectives: the threshold in ms; throughput: the floor in tokens/s (or embeddings/s). */
  readonly threshold?: number;
  readonly unit: 'ms' | 'tokens/s' | 'embeddings/s' | 'ratio' | 'episodes';
  /** Availability window name (`always`, `business-hours`). */
  readonly window?: string;
  /** True for latency and throughput objectives (the CI environment never fails on these). */
  readonly performance: boolean;
  /**
   * Embeddings objectives are stated for a batch size (seed: 32). Only requests of at least that
   * many inputs count: a single text answers faster and would flatter the latency and rate.
   */
  readonly batchSize?: number;
  /**
   * `aggregate`: judged as one rate over the range — units (inputs) per second of the time the
   * endpoint was busy — not as a share of good requests (see `rateEvents`). Only embeddings/s.
   */
  readonly judgedAs?: 'ratio' | 'aggregate';
  readonly description: string;
  /** Reported, never judged (a best-effort endpoint's availability; `target` is then 0). */
  readonly bestEffort?: boolean;
}

export function objectivesFor(fleet: Fleet): Objective[] {
  return fleet.endpoints.flatMap((e) => endpointObjectives(e));
}

/**
 * The judged objectives plus what is measured and reported but never judged: the availability of
 * best-effort endpoints (the seed's `LLM_SMALL_URL`). The evaluator, the monitor's event counting
 * and the report use this list; the exported alerting rules use `objectivesFor`.
 */
export function reportedObjectivesFor(fleet: Fleet): Objective[] {
  return fleet.endpoints.flatMap((e) => endpointReportedObjectives(e));
}

export function endpointReportedObjectives(e: Endpoint): Objective[] {
  const out = endpointObjectives(e);
  const a = e.slo.availability;
  if (a.bestEffort || a.target === undefined)
    out.push({
      id: `${e.name}-availability`,
      endpoint: e.name,
      kind: 'availability',
      target: 0,
      unit: 'ratio',
      window: a.window,
      performance: false,
      bestEffort: true,
      description:
        e.judged === false
          ? `availability (${a.window}): no targets (slo omitted), reported, never judged`
          : `availability (best-effort, ${a.window}): reported, never judged`,
    });
  return out;
}

export function endpointObjectives(e: Endpoint): Objective[] {
  const out: Objective[] = [];
  const slo = e.slo;
  const latencyName = e.kind === 'embeddings' ? `latency (batch of ${slo.batchSize ?? 32})` : 'TTFT';
  if (slo.ttft) {
    out.push({
      id: `${e.name}-ttft-p95`,
      endpoint: e.name,
      kind: 'ttft-p95',
      target: 0.95,
      threshold: slo.ttft.p95Ms,
      unit: 'ms',
      performance: true,
      description: `${latencyName} P95 ≤ ${slo.ttft.p95Ms} ms`,
    });
    out.push({
      id: `${e.name}-ttft-p99`,
      endpoint: e.name,
      kind: 'ttft-p99',
      target: 0.99,
      threshold: slo.ttft.p99Ms,
      unit: 'ms',
      performance: true,
      description: `${latencyName} P99 ≤ ${slo.ttft.p99Ms} ms`,
    });
  }
  const t = slo.throughput;
  if (e.kind === 'chat' && t.sustainedTokensPerSecond !== undefined) {
    out.push({
      id: `${e.name}-throughput-sustained`,
      endpoint: e.name,
      kind: 'throughput-sustained',
      // Sustained is judged at the median: at least half the requests decode at or above the floor.
      target: 0.5,
      threshold: t.sustainedTokensPerSecond,
      unit: 'tokens/s',
      performance: true,
      description: `sustained decode ≥ ${t.sustainedTokensPerSecond} tok/s (P50 of requests)`,
    });
  }
  if (e.kind === 'chat' && t.burstTokensPerSecond !== undefined) {
    out.push({
      id: `${e.name}-throughput-burst`,
      endpoint: e.name,
      kind: 'throughput-burst',
      // Burst: the best 1-second rate reaches the figure in at least 5% of requests (P95 of requests).
      target: 0.05,
      threshold: t.burstTokensPerSecond,
      unit: 'tokens/s',
      performance: true,
      description: `burst ≥ ${t.burstTokensPerSecond} tok/s (P95 of requests' best 1-second rate)`,
    });
  }
  if (e.kind === 'embeddings' && t.embeddingsPerSecond !== undefined) {
    out.push({
      id: `${e.name}-embeddings-rate`,
      endpoint: e.name,
      kind: 'embeddings-rate',
      // The seed's 5000/s sits beside a 200 ms P95 for a batch of 32: one batch at 5000/s would
      // take 6.4 ms, so the figure is throughput under concurrency — inputs over busy time.
      judgedAs: 'aggregate',
      target: 1,
      threshold: t.embeddingsPerSecond,
      unit: 'embeddings/s',
      performance: true,
      description: `≥ ${t.embeddingsPerSecond} embeddings/s (aggregate: inputs per busy second)`,
    });
  }
  if (!slo.availability.bestEffort && slo.availability.target !== undefined) {
    out.push({
      id: `${e.name}-availability`,
      endpoint: e.name,
      kind: 'availability',
      target: slo.availability.target,
      unit: 'ratio',
      window: slo.availability.window,
      performance: false,
      description: `availability ≥ ${Math.round(slo.availability.target * 1000) / 10}% (${slo.availability.window})`,
    });
  }
  if (slo.recoveryMs !== undefined) {
    out.push({
      id: `${e.name}-recovery`,
      endpoint: e.name,
      kind: 'recovery',
      target: 1,
      threshold: slo.recoveryMs,
      unit: 'ms',
      performance: false,
      description: `every outage recovered within ${slo.recoveryMs / 60_000} min`,
    });
  }
  const batch = e.kind === 'embeddings' ? objectiveBatchSize(e) : undefined;
  return batch === undefined
    ? out
    : out.map((o) => (o.kind === 'availability' || o.kind === 'recovery' ? o : { ...o, batchSize: batch }));
}

/**
 * Judges one request against one request-based objective. `invalid` means the request does not
 * count for it (errors belong to availability; a request without a first token has no TTFT).
 */
export function judgeRecord(objective: Objective, record: RequestRecord): 'good' | 'bad' | 'invalid' {
  if (record.endpoint !== objective.endpoint || record.outcome !== 'ok') return 'invalid';
  const threshold = objective.threshold;
  if (threshold === undefined) return 'invalid';
  if (objective.batchSize !== undefined && (record.inputCount ?? 0) < objective.batchSize) return 'invalid';
  switch (objective.kind) {
    case 'ttft-p95':
    case 'ttft-p99':
      if (record.ttftMs === undefined) return 'invalid';
      return record.ttftMs <= threshold ? 'good' : 'bad';
    case 'throughput-sustained':
      if (record.decodeTokensPerSecond === undefined) return 'invalid';
      return record.decodeTokensPerSecond >= threshold ? 'good' : 'bad';
    case 'throughput-burst':
      if (record.burstTokensPerSecond === undefined) return 'invalid';
      return record.burstTokensPerSecond >= threshold ? 'good' : 'bad';
    // Judged as an aggregate rate over the range (`rateShare`), never per request.
    case 'embeddings-rate':
    default:
      return 'invalid';
  }
}

/** The batch an embeddings endpoint's objectives are stated for (seed: 32). */
export function objectiveBatchSize(e: Endpoint): number {
  return e.slo.batchSize ?? e.maxBatchSize ?? 32;
}

/** What one request adds to an aggregate-rate objective: its units and the busy time it newly covered. */
export interface RateShare {
  readonly units: number;
  readonly busyMs: number;
}

/**
 * One request's share of an aggregate-rate objective: a successful batch of at least the stated
 * size with the busy time the gateway measured (`busyMs`); undefined when it does not count.
 */
export function rateShare(objective: Objective, record: RequestRecord): RateShare | undefined {
  if (objective.judgedAs !== 'aggregate' || record.endpoint !== objective.endpoint) return undefined;
  if (record.outcome !== 'ok' || record.busyMs === undefined || record.inputCount === undefined)
    return undefined;
  if (objective.batchSize !== undefined && record.inputCount < objective.batchSize) return undefined;
  return { units: record.inputCount, busyMs: record.busyMs };
}
