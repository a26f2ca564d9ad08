// Where a routed request goes under load: the matrix's candidates (never others) re-ordered by the
// pure decision over the live load view, or — when no candidate has headroom — the admission
// policy: wait in the gateway's queue until capacity frees (late binding) or shed at once with 429
// and Retry-After. The chosen order and the reason (overflow, prediction, headroom) travel with
// the request to the failover loop and the response headers.
import type { Endpoint, Priority } from '../../fleet/index.ts';
import { decideUnderLoad, type LoadCandidate, type LoadDecision } from '../../routing/load-aware.ts';
import type { TtftPrediction } from '../../routing/predict.ts';
import { HttpError } from '../http.ts';
import type { DispatchInfo } from './ledger.ts';
import type { LoadView } from './load-view.ts';
import { ShedError, type AdmissionQueue } from './admission.ts';

export const PRIORITY_HEADER = 'x-llm-fleet-priority';

export interface Placement {
  readonly candidates: readonly Endpoint[];
  /** For the ledger, at dispatch. */
  readonly dispatch: DispatchInfo;
  readonly reason: string;
  readonly overflow: boolean;
  /** Time spent in the admission queue. */
  readonly queuedMs: number;
  readonly decision: 'preferred' | 'overflow' | 'idle' | 'static' | 'least-busy' | 'queued';
}

export interface PlaceDeps {
  readonly view: LoadView;
  readonly admission: AdmissionQueue<LoadDecision & { action: 'dispatch' }>;
  readonly random: () => number;
  readonly downNames: ReadonlySet<string>;
  readonly settings: import('../../fleet/index.ts').LoadRouting;
  readonly onDecision?: (endpoint: string, decision: Placement['decision'] | 'shed') => void;
}

/** Completion tokens assumed when the client sets no max_tokens (the calibration's length). */
export const DEFAULT_EXPECTED_DECODE_TOKENS = 256;

/**
 * The matrix's candidates as the load decision sees them. `waitedMs`, the time the request has
 * already spent in the gateway's queue, is part of the TTFT its client will see, so it is added to
 * every prediction: a request that waited goes only where it can still answer in time.
 */
export function candidatesUnderLoad(
  deps: PlaceDeps,
  candidates: readonly Endpoint[],
  beyond: ReadonlySet<string>,
  promptTokens: number,
  waitedMs = 0,
): LoadCandidate[] {
  return candidates.map((e) => {
    const load = deps.view.load(e);
    return {
      endpoint: e.name,
      tier: beyond.has(e.name) ? 'beyond' : 'matrix',
      down: deps.downNames.has(e.name),
      target: e.slo.ttft,
      prediction: later(deps.view.predict(e, promptTokens, load), waitedMs),
      idle: later(deps.view.predict(e, promptTokens, alone(load)), waitedMs),
      decode: decodeOf(deps.view, e, load),
      inFlight: load.inFlight,
      saturated: load.saturated,
      untried: deps.view.untried(e.name),
    };
  });
}

function later(p: TtftPrediction, waitedMs: number): TtftPrediction {
  return waitedMs > 0
    ? { ...p, medianMs: p.medianMs + waitedMs, p95Ms: p.p95Ms + waitedMs, p99Ms: p.p99Ms + waitedMs }
    : p;
}

/** The same endpoint with nothing else in flight. */
function alone<T extends { inFlight: number; prefillWaitingTokens: number; promptTokensPerSecond?: number }>(
  load: T,
): T {
  return { ...load, inFlight: 0, prefillWaitingTokens: 0, promptTokensPerSecond: 0 };
}

/** The decode-rate prediction and the floor a chat request on `e` is judged by. */
function decodeOf(view: LoadView, e: Endpoint, load: ReturnType<LoadView['load']>): LoadCandidate['decode'] {
  const prediction = view.predictDecode(e, load);
  const idle = view.predictDecode(e, alone(load));
  if (!prediction || !idle) return undefined;
  return {
    prediction,
    idle,
    floors: { sustainedTokensPerSecond: e.slo.throughput.sustainedTokensPerSecond },
  };
}

function reorder(candidates: readonly Endpoint[], order: readonly string[]): Endpoint[] {
  const byName = new Map(candidates.map((e) => [e.name, e]));
  return order.map((n) => byName.get(n)).filter((e): e is Endpoint => e !== undefined);
}

function label(d: LoadDecision & { action: 'dispatch' }, policy: string): Placement['decision'] {
  if (policy === 'static') return 'static';
  if (policy === 'least-busy') return 'least-busy';
  if (d.overflow) return 'overflow';
  return d.reason.startsWith('preferred at idle') ? 'idle' : 'preferred';
}

export async function placeRequest(
  deps: PlaceDeps,
  args: {
    candidates: readonly Endpoint[];
    /** Candidates the matrix does not name (allowed only because they fit). */
    beyond: ReadonlySet<string>;
    promptTokens: number;
    maxTokens?: number;
    priority: Priority;
    signal: AbortSignal;
  },
): Promise<Placement> {
  const { settings } = deps;
  const dispatch: DispatchInfo = {
    promptTokens: args.promptTokens,
    expectedDecodeTokens: args.maxTokens ?? DEFAULT_EXPECTED_DECODE_TOKENS,
    priority: args.priority,
  };
  const candidatesAfter = (waitedMs: number): LoadCandidate[] =>
    candidatesUnderLoad(deps, args.candidates, args.beyond, args.promptTokens, waitedMs);
  const decide = (
    waitedMs = 0,
    headroom = settings.headroom,
    candidates = candidatesAfter(waitedMs),
  ): LoadDecision =>
    decideUnderLoad({
      policy: settings.policy,
      candidates,
      priority: args.priority,
      headroom,
      batchHeadroom: settings.batchHeadroom,
      tieBreak: deps.random(),
    });
  const placed = (d: LoadDecision & { action: 'dispatch' }, queuedMs: number): Placement => {
    const decision = queuedMs > 0 ? 'queued' : label(d, settings.policy);
    const candidates = reorder(args.candidates, d.order);
    deps.onDecision?.(candidates[0]?.name ?? 'none', decision);
    const waited = queuedMs > 0 ? `queued ${Math.round(queuedMs)}ms, then ` : '';
    return {
      candidates,
      dispatch,
      reason: `load: ${waited}${d.reason}`,
      overflow: d.overflow,
      queuedMs,
      decision,
    };
  };
  // Before an interactive request is shed it is decided once more with no headroom held back: the
  // headroom is what a choice between endpoints keeps in reserve, not part of the objectives, and
  // where the request is still predicted within its targets it is served (a 429 is a certain miss).
  // Batch traffic keeps its margin.
  const lastChance = (waitedMs: number): Placement | undefined => {
    if (args.priority === 'batch') return undefined;
    const d = decide(waitedMs, 0);
    if (d.action !== 'dispatch' || d.unmeetable) return undefined;
    return placed(
      { ...d, reason: `last chance before shedding, with no headroom to spare: ${d.reason}` },
      waitedMs,
    );
  };
  const atArrival = candidatesAfter(0);
  const first = decide(0, settings.headroom, atArrival);
  if (first.action === 'dispatch') return placed(first, 0);

  const retryAfterS = Math.max(
    1,
    Math.ceil(Math.min(...args.candidates.map((e) => deps.view.model(e.name)?.serviceMs ?? 1000)) / 1000),
  );
  const shed = (message: string): HttpError => {
    deps.onDecision?.(args.candidates[0]?.name ?? 'none', 'shed');
    return new HttpError(429, `${message}; ${first.reason}`, {
      code: 'overloaded',
      type: 'rate_limit_error',
      headers: {
        'retry-after': String(retryAfterS),
        'x-llm-fleet-reason': `load: shed (${args.priority}): ${first.reason}`,
      },
    });
  };
  if (settings.admission.mode === 'shed') {
    const served = lastChance(0);
    if (served) return served;
    throw shed('no endpoint has headroom under its TTFT targets');
  }
  // An interactive request waits only while it can still meet a target: once the wait plus its idle
  // TTFT would pass every candidate's P95 (less the headroom a dispatch needs), it is shed — it
  // would be a miss, and would take capacity from requests that can still make theirs. Each time
  // capacity frees it is decided again with the wait so far counted in its TTFT. Batch traffic
  // waits up to the TTL.
  const waitMs =
    args.priority === 'batch'
      ? settings.admission.ttlMs
      : Math.min(
          settings.admission.ttlMs,
          Math.max(
            0,
            ...atArrival.map((c) =>
              c.target ? c.target.p95Ms * (1 - settings.headroom) - c.idle.p95Ms : settings.admission.ttlMs,
            ),
          ),
        );
  const startMs = performance.now();
  let d: LoadDecision & { action: 'dispatch' };
  try {
    d = await deps.admission.wait(
      args.priority,
      () => {
        const waited = performance.now() - startMs;
        const again = decide(waited);
        if (again.action === 'dispatch' && again.unmeetable)
          throw new ShedError(
            'late',
            `waited ${Math.round(waited)} ms in the gateway's queue; no candidate can answer within its TTFT target any more`,
          );
        return again.action === 'dispatch' ? again : undefined;
      },
      args.signal,
      waitMs,
    );
  } catch (error) {
    if (error instanceof ShedError) {
      const served = error.why === 'ttl' ? lastChance(performance.now() - startMs) : undefined;
      if (served) return served;
      const what =
        error.why === 'ttl'
          ? `waited ${Math.round(waitMs)} ms in the gateway's queue and no capacity freed in time for its TTFT target`
          : error.message;
      throw shed(what);
    }
    throw new HttpError(499, 'the client went away', { code: 'cancelled' });
  }
  return placed(d, performance.now() - startMs);
}
