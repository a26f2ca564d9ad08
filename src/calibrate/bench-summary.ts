// What one bench step says: rates, latency percentiles, errors, goodput and the generator's own
// lag. Goodput counts a request as good when it completed and meets every per-request objective
// of the endpoint (TTFT under the P95 and P99 targets, decode at or above the sustained floor,
// embeddings/s at or above the floor). The burst objective is a property of the distribution (5% of
// requests must reach it), not a per-request promise, so it is judged per step but left out of
// goodput. Pure.
import type { Summary } from '../measure/index.ts';
import { summarize } from '../measure/index.ts';
import type { Objective } from '../slo/objectives.ts';
import { judgeRecord } from '../slo/objectives.ts';
import type { StepRun } from './load.ts';

/** Generator lag above which its numbers are suspect (the 1 ms). */
export const LAG_WARNING_MS = 1;

const REQUEST_KINDS = new Set([
  'ttft-p95',
  'ttft-p99',
  'throughput-sustained',
  'throughput-burst',
  'embeddings-rate',
]);

export interface ObjectiveResult {
  readonly id: string;
  readonly description: string;
  /** Share of judged requests that were good; undefined when none could be judged. */
  readonly share?: number;
  readonly target: number;
  readonly judged: number;
  readonly met: boolean;
}

export interface BenchStep {
  readonly label: string;
  readonly mode: 'closed' | 'open';
  readonly concurrency?: number;
  readonly ratePerSecond?: number;
  readonly burstiness?: number;
  readonly requests: number;
  readonly completed: number;
  readonly errors: number;
  readonly errorKinds: Readonly<Record<string, number>>;
  readonly durationSeconds: number;
  readonly requestsPerSecond: number;
  readonly outputTokensPerSecond: number;
  readonly ttftMs: Summary;
  readonly itlMs: Summary;
  readonly e2eMs: Summary;
  readonly decodeTokensPerSecond: Summary;
  readonly goodput: { readonly good: number; readonly share: number; readonly perSecond: number };
  readonly objectives: readonly ObjectiveResult[];
  /** Open loop: actual − scheduled send time. */
  readonly lagMs?: Summary;
  readonly lagWarning: boolean;
  /** True when any request's tokens were counted from events (no usage). */
  readonly tokensFromChunks: boolean;
}

export interface StepMeta {
  readonly label: string;
  readonly mode: 'closed' | 'open';
  readonly concurrency?: number;
  readonly ratePerSecond?: number;
  readonly burstiness?: number;
}

export function summarizeStep(run: StepRun, objectives: readonly Objective[], meta: StepMeta): BenchStep {
  const records = run.samples.map((s) => s.record);
  const ok = records.filter((r) => r.outcome === 'ok');
  const errorKinds: Record<string, number> = {};
  for (const r of records) if (r.outcome !== 'ok') errorKinds[r.outcome] = (errorKinds[r.outcome] ?? 0) + 1;
  const durationSeconds = run.durationMs / 1000;
  const perSecond = (n: number): number => (durationSeconds > 0 ? n / durationSeconds : 0);
  const requestObjectives = objectives.filter((o) => REQUEST_KINDS.has(o.kind));
  const perRequest = requestObjectives.filter((o) => o.kind !== 'throughput-burst');
  const good = ok.filter((r) => perRequest.every((o) => judgeRecord(o, r) !== 'bad')).length;
  const results: ObjectiveResult[] = requestObjectives.map((o) => {
    let g = 0;
    let judged = 0;
    for (const r of records) {
      const j = judgeRecord(o, r);
      if (j === 'invalid') continue;
      judged++;
      if (j === 'good') g++;
    }
    const share = judged > 0 ? g / judged : undefined;
    return {
      id: o.id,
      description: o.description,
      share,
      target: o.target,
      judged,
      met: share !== undefined && share >= o.target,
    };
  });
  const lags = run.samples.map((s) => s.lagMs).filter((v): v is number => v !== undefined);
  const lagMs = lags.length > 0 ? summarize(lags) : undefined;
  return {
    ...meta,
    requests: records.length,
    completed: ok.length,
    errors: records.length - ok.length,
    errorKinds,
    durationSeconds,
    requestsPerSecond: perSecond(ok.length),
    outputTokensPerSecond: perSecond(ok.reduce((s, r) => s + (r.completionTokens ?? 0), 0)),
    ttftMs: summarize(ok.map((r) => r.ttftMs).filter((v): v is number => v !== undefined)),
    itlMs: summarize(run.samples.filter((s) => s.record.outcome === 'ok').flatMap((s) => s.itlGapsMs)),
    e2eMs: summarize(ok.map((r) => r.totalMs)),
    decodeTokensPerSecond: summarize(
      ok.map((r) => r.decodeTokensPerSecond).filter((v): v is number => v !== undefined),
    ),
    goodput: { good, share: records.length > 0 ? good / records.length : 0, perSecond: perSecond(good) },
    objectives: results,
    lagMs,
    lagWarning: lagMs?.p99 !== undefined && lagMs.p99 > LAG_WARNING_MS,
    tokensFromChunks: ok.some((r) => r.tokenSource === 'chunks'),
  };
}

/** Every objective of every step met (a step with nothing judged counts as a miss). */
export function slosMet(steps: readonly BenchStep[]): boolean {
  return steps.every((s) => s.objectives.every((o) => o.met));
}
