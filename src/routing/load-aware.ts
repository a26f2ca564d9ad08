// The load-aware decision: within the candidates the matrix and context fit allow (never others),
// which one takes this request now, given each one's load and predicted TTFT against its targets.
// Pure: loads, predictions and a tie-break draw are values. The matrix stays the policy; load only
// decides among what it allows:
//   - `slo`: the preferred endpoint while every objective of it the request is judged by leaves
//     headroom — predicted TTFT P95 and P99 under their targets, the predicted median decode rate
//     over the sustained floor; otherwise the next candidate with headroom (overflow); when none has
//     headroom and something is in flight to wait for, the admission policy (queue or shed); when
//     none has headroom at idle, the preferred endpoint anyway (waiting would free nothing).
//     The burst figure is not a per-request objective: it is what the fastest 5% of requests reach
//     over the window, and an engine reaches it only nearly alone (vLLM's rate per sequence falls
//     as its batch fills), so holding each request to it would leave every endpoint without
//     headroom at any load and the sustained floor, which every request is judged by, unguarded.
//   - `least-busy`: fewest in flight, random among equals (LiteLLM's least-busy), a baseline.
//   - `static`: the matrix's order unchanged.
import type { LatencyTarget, LoadPolicy, Priority } from '../fleet/index.ts';
import type { DecodePrediction } from './decode.ts';
import type { TtftPrediction } from './predict.ts';

/**
 * The throughput floor a chat request is judged by (tokens/s). Only the sustained floor: the burst
 * figure is the fastest 5% of the window's requests, not a per-request objective.
 */
export interface DecodeFloors {
  readonly sustainedTokensPerSecond?: number;
}

export interface Decode {
  readonly prediction: DecodePrediction;
  readonly idle: DecodePrediction;
  readonly floors: DecodeFloors;
}

export interface LoadCandidate {
  readonly endpoint: string;
  /** Named by the matrix (rule endpoint and its fallbacks) or only allowed because it fits. */
  readonly tier: 'matrix' | 'beyond';
  /** Marked down by the health view: kept last, never an overflow target. */
  readonly down: boolean;
  readonly target?: LatencyTarget;
  readonly prediction: TtftPrediction;
  /** The same request's prediction with nothing else in flight. */
  readonly idle: TtftPrediction;
  /** Predicted decode rate at this load and alone, with the floors it is judged against (chat only). */
  readonly decode?: Decode;
  readonly inFlight: number;
  /** The engine reports queueing or the ledger is at the endpoint's slots. */
  readonly saturated: boolean;
  /**
   * Nothing in flight and nothing sent to it for a while: a prediction that keeps it idle cannot be
   * corrected by traffic it never gets, so an idle preferred endpoint is tried again (a probe).
   */
  readonly untried?: boolean;
}

export interface LoadDecisionInput {
  readonly policy: LoadPolicy;
  /** Candidates in the matrix's order (as selectEndpoint returned them). */
  readonly candidates: readonly LoadCandidate[];
  readonly priority: Priority;
  /** Share of each target kept free for interactive / for batch traffic. */
  readonly headroom: number;
  readonly batchHeadroom: number;
  /** A uniform draw in [0, 1) for ties. */
  readonly tieBreak: number;
}

/** The objective whose headroom is the smallest. */
export type Limiting = 'ttft-p95' | 'ttft-p99' | 'sustained' | 'queueing';

export interface Scored {
  readonly endpoint: string;
  /**
   * The smallest headroom over the objectives: (allowed − predicted) / target for TTFT P95 and
   * P99, (predicted × (1 − margin) − floor) / floor for the decode floors; ≥ 0 means headroom.
   */
  readonly headroom: number;
  readonly limiting: Limiting;
  readonly predictedP95Ms: number;
  readonly predictedP99Ms: number;
  readonly targetP95Ms?: number;
  /** Predicted median decode rate and the sustained floor (chat endpoints with one). */
  readonly predictedDecodeTokensPerSecond?: number;
  readonly sustainedTokensPerSecond?: number;
}

export type LoadDecision =
  | {
      readonly action: 'dispatch';
      /** Endpoint names, first is where the request goes; the rest stay as failover. */
      readonly order: readonly string[];
      readonly overflow: boolean;
      /** The chosen endpoint's figures (undefined under `static`). */
      readonly chosen?: Scored;
      readonly reason: string;
      /** No candidate meets the request's objectives even with nothing else in flight. */
      readonly unmeetable?: boolean;
    }
  | {
      /** No candidate has headroom and load is in flight: the admission policy decides. */
      readonly action: 'no-headroom';
      readonly scored: readonly Scored[];
      readonly reason: string;
    };

/** Candidates within this much headroom of each other (share of target) are near-equal. */
export const NEAR_EQUAL = 0.05;

export function score(c: LoadCandidate, margin: number): Scored {
  const p = c.prediction;
  const heads: [Limiting, number][] = [];
  if (c.target) {
    heads.push(['ttft-p95', (c.target.p95Ms * (1 - margin) - p.p95Ms) / c.target.p95Ms]);
    heads.push(['ttft-p99', (c.target.p99Ms * (1 - margin) - p.p99Ms) / c.target.p99Ms]);
  }
  const d = c.decode;
  const sustained = d?.floors.sustainedTokensPerSecond;
  // A floor the endpoint is predicted to miss even alone is not load's doing: moving the request
  // cannot help it, and keeping traffic there is how the estimate gets corrected. Only a floor met
  // alone and lost to load limits the choice — and only once load has cost more than the margin
  // (a shortfall within it is the estimate's noise, not load).
  if (
    d !== undefined &&
    sustained !== undefined &&
    sustained > 0 &&
    d.idle.medianTokensPerSecond * (1 - margin) >= sustained &&
    d.prediction.medianTokensPerSecond < d.idle.medianTokensPerSecond * (1 - margin)
  )
    heads.push(['sustained', (d.prediction.medianTokensPerSecond * (1 - margin) - sustained) / sustained]);
  // No target at all: nothing to keep headroom under; only whether it queues.
  if (heads.length === 0) heads.push(['queueing', c.saturated ? -1 : 0]);
  let [limiting, headroom] = heads[0] as [Limiting, number];
  for (const [k, h] of heads) if (h < headroom) [limiting, headroom] = [k, h];
  return {
    endpoint: c.endpoint,
    headroom,
    limiting,
    predictedP95Ms: p.p95Ms,
    predictedP99Ms: p.p99Ms,
    targetP95Ms: c.target?.p95Ms,
    predictedDecodeTokensPerSecond: d?.prediction.medianTokensPerSecond,
    sustainedTokensPerSecond: sustained,
  };
}

function ms(x: number): string {
  return `${Math.round(x)}ms`;
}

export function describe(s: Scored): string {
  const target = s.targetP95Ms !== undefined ? ` of ${ms(s.targetP95Ms)}` : '';
  const decode =
    s.predictedDecodeTokensPerSecond !== undefined
      ? `, decode ${Math.round(s.predictedDecodeTokensPerSecond)} tok/s${s.sustainedTokensPerSecond !== undefined ? ` (floor ${s.sustainedTokensPerSecond})` : ''}`
      : '';
  return `predicted P95 ${ms(s.predictedP95Ms)}${target}${decode}, headroom ${Math.round(s.headroom * 100)}% (${s.limiting})`;
}

function hasObjective(c: LoadCandidate | undefined): boolean {
  if (!c) return false;
  return c.target !== undefined || c.decode?.floors.sustainedTokensPerSecond !== undefined;
}

/** The same candidate with nothing else in flight. */
function atIdle(c: LoadCandidate): LoadCandidate {
  return { ...c, prediction: c.idle, decode: c.decode && { ...c.decode, prediction: c.decode.idle } };
}

function withFirst(order: readonly string[], first: string): string[] {
  return [first, ...order.filter((n) => n !== first)];
}

export function decideUnderLoad(input: LoadDecisionInput): LoadDecision {
  const names = input.candidates.map((c) => c.endpoint);
  const up = input.candidates.filter((c) => !c.down);
  if (input.policy === 'static' || up.length === 0) {
    return { action: 'dispatch', order: names, overflow: false, reason: 'matrix order' };
  }
  if (input.policy === 'least-busy') {
    const least = Math.min(...up.map((c) => c.inFlight));
    const ties = up.filter((c) => c.inFlight === least);
    const pick = ties[Math.min(ties.length - 1, Math.floor(input.tieBreak * ties.length))] as LoadCandidate;
    return {
      action: 'dispatch',
      order: withFirst(names, pick.endpoint),
      overflow: pick.endpoint !== up[0]?.endpoint,
      reason: `least busy: ${least} in flight`,
    };
  }
  const margin = input.priority === 'batch' ? input.batchHeadroom : input.headroom;
  const scored = up.map((c) => score(c, margin));
  const preferred = scored[0] as Scored;
  const batchNote = input.priority === 'batch' ? ' (batch: needs more headroom)' : '';
  if (preferred.headroom >= 0) {
    return {
      action: 'dispatch',
      order: names,
      overflow: false,
      chosen: preferred,
      reason: `preferred, ${describe(preferred)}`,
    };
  }
  if (up[0]?.untried && up[0].inFlight === 0) {
    return {
      action: 'dispatch',
      order: names,
      overflow: false,
      chosen: preferred,
      reason: `preferred, idle and untried lately (its prediction may be stale: the answer corrects it), ${describe(preferred)}`,
    };
  }
  // Overflow: the next candidate with headroom, in the matrix's order; candidates the matrix does
  // not name (allowed only because they fit) come after, near-equals among them at random.
  const matrixFit = up.findIndex(
    (c, i) => i > 0 && c.tier === 'matrix' && (scored[i] as Scored).headroom >= 0,
  );
  let pick: Scored | undefined = matrixFit >= 0 ? scored[matrixFit] : undefined;
  if (!pick) {
    const beyond = scored.filter(
      (s, i) => up[i]?.tier === 'beyond' && hasObjective(up[i]) && s.headroom >= 0,
    );
    if (beyond.length > 0) {
      const best = Math.max(...beyond.map((s) => s.headroom));
      const near = beyond.filter((s) => s.headroom >= best - NEAR_EQUAL);
      pick = near[Math.min(near.length - 1, Math.floor(input.tieBreak * near.length))];
    }
  }
  if (pick) {
    return {
      action: 'dispatch',
      order: withFirst(names, pick.endpoint),
      overflow: true,
      chosen: pick,
      reason: `overflow from ${preferred.endpoint} (${describe(preferred)})${batchNote}; ${pick.endpoint} ${describe(pick)}`,
    };
  }
  // No candidate meets its objectives even at idle: waiting cannot help, the fastest does.
  const meetable = up.some((c) => hasObjective(c) && score(atIdle(c), margin).headroom >= 0);
  if (!meetable && up.some((c) => hasObjective(c))) {
    let best = 0;
    for (let i = 1; i < up.length; i++)
      if (
        (up[i] as LoadCandidate).target &&
        (scored[i] as Scored).predictedP95Ms < (scored[best] as Scored).predictedP95Ms
      )
        best = i;
    const fastest = scored[best] as Scored;
    return {
      action: 'dispatch',
      order: withFirst(names, fastest.endpoint),
      overflow: best !== 0,
      chosen: fastest,
      unmeetable: true,
      reason: `no candidate meets its objectives at this size even idle; fastest predicted: ${fastest.endpoint} ${describe(fastest)}`,
    };
  }
  if (up.length === 1) {
    // Nowhere else to go: late binding has no choice to make; the endpoint's own queue
    // (maxConcurrency / maxQueue) admits or refuses it.
    return {
      action: 'dispatch',
      order: names,
      overflow: false,
      chosen: preferred,
      reason: `only candidate, ${describe(preferred)}; its own queue decides`,
    };
  }
  const busy = up.some((c) => c.inFlight > 0);
  if (!busy) {
    // Nothing in flight: waiting frees nothing, the prediction is only pessimistic.
    return {
      action: 'dispatch',
      order: names,
      overflow: false,
      chosen: preferred,
      reason: `preferred at idle, ${describe(preferred)}`,
    };
  }
  return {
    action: 'no-headroom',
    scored,
    reason: `no candidate has headroom${batchNote}: ${scored.map((s) => `${s.endpoint} ${describe(s)}`).join('; ')}`,
  };
}
