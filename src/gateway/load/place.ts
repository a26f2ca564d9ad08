// Where a routed request goes under load: the matrix's candidates (never others) re-ordered by the
// pure decision over the live load view, or — when no candidate has headroom — the admission
// policy: wait in the gateway's queue until capacity frees (late binding) or shed at once with 429
// and Retry-After. The chosen order and the reason (overflow, prediction, headroom) travel with
// the request to the failover loop and the response headers.
import type { Endpoint, Priority } from '../../fleet/index.ts';
import { decideUnderLoad, type LoadCandidate, type LoadDecision } from '../../routing/load-aware.ts';
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

export function candidatesUnderLoad(
  deps: PlaceDeps,
  candidates: readonly Endpoint[],
  beyond: ReadonlySet<string>,
  promptTokens: number,
): LoadCandidate[] {
  return candidates.map((e) => {
    const load = deps.view.load(e);
    return {
      endpoint: e.name,
      tier: beyond.has(e.name) ? 'beyond' : 'matrix',
      down: deps.downNames.has(e.name),
      target: e.slo.ttft,
      prediction: deps.view.predict(e, promptTokens, load),
      idle: deps.view.predict(e, promptTokens, alone(load)),
      decode: decodeOf(deps.view, e, load),
      inFlight: load.inFlight,
      saturated: load.saturated,
      untried: deps.view.untried(e.name),
    };
  });
}

/** The same endpoint with nothing else in flight. */
function alone<T extends { inFlight: number; prefillWaitingTokens: number; promptTokensPerSecond?: number }>(
  load: T,
): T {
  return { ...load, inFlight: 0, prefillWaitingTokens: 0, promptTokensPerSecond: 0 };
}

/** The decode-rate prediction and the floors a chat request on `e` is judged by. */
function decodeOf(view: LoadView, e: Endpoint, load: ReturnType<LoadView['load']>): LoadCandidate['decode'] {
  const prediction = view.predictDecode(e, load);
  const idle = view.predictDecode(e, alone(load));
  if (!prediction || !idle) return undefined;
  const { sustainedTokensPerSecond, burstTokensPerSecond } = e.slo.throughput;
  return { prediction, idle, floors: { sustainedTokensPerSecond, burstTokensPerSecond } };
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
  const decide = (): LoadDecision =>
    decideUnderLoad({
      policy: settings.policy,
      candidates: candidatesUnderLoad(deps, args.candidates, args.beyond, args.promptTokens),
      priority: args.priority,
      headroom: settings.headroom,
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
  const first = decide();
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
  if (settings.admission.mode === 'shed') throw shed('no endpoint has headroom under its TTFT targets');
  // An interactive request waits only while it can still meet a target: once the wait plus its idle
  // TTFT would pass every candidate's P99, it is shed (it would be a miss, and would take capacity
  // from requests that can still make theirs). Batch traffic waits up to the TTL.
  const waitMs =
    args.priority === 'batch'
      ? settings.admission.ttlMs
      : Math.min(
          settings.admission.ttlMs,
          Math.max(
            0,
            ...args.candidates.map((e) =>
              e.slo.ttft
                ? e.slo.ttft.p99Ms - deps.view.predict(e, args.promptTokens, alone(deps.view.load(e))).p95Ms
                : settings.admission.ttlMs,
            ),
          ),
        );
  const startMs = performance.now();
  try {
    const d = await deps.admission.wait(
      args.priority,
      () => {
        const again = decide();
        return again.action === 'dispatch' ? again : undefined;
      },
      args.signal,
      waitMs,
    );
    return placed(d, performance.now() - startMs);
  } catch (error) {
    if (error instanceof ShedError) {
      const what =
        error.why === 'ttl'
          ? `waited ${Math.round(waitMs)} ms in the gateway's queue and no capacity freed in time for its TTFT target`
          : error.message;
      throw shed(what);
    }
    throw new HttpError(499, 'the client went away', { code: 'cancelled' });
  }
}
