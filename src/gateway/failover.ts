// The failover loop: candidates in the router's order, each behind its circuit breaker and
// concurrency limit; recoverable failures move on to the next candidate at once, transient ones
// (reset, 429, 503, 5xx) may come back for a bounded number of retries after a jittered backoff
// that is never shorter than the server's Retry-After. Errors retrying cannot fix are not retried:
// a context-length 400 only goes on to candidates with a larger window, a validation 400 goes
// straight back to the client with the upstream's message.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint, Replica, SameEndpointRetry } from '../fleet/index.ts';
import { loadKey, type LedgerTicket } from './load/ledger.ts';
import { otherReplicaAvailable, planReplicas } from './replicas.ts';
import { UpstreamFailureError } from '../upstream/call.ts';
import {
  countsAgainstEndpoint,
  isTransient,
  openAiErrorType,
  type FailureCause,
  type UpstreamFailure,
} from '../upstream/upstream-error.ts';
import type { BreakerState } from '../state/index.ts';
import type { GatewayContext } from './context.ts';
import { HttpError, type UpstreamErrorContext } from './http.ts';
import { noteVerdict, pendingCharge, rateLimitedError } from './rate-limit.ts';
import type { RequestTrace } from './trace.ts';

/** A running attempt's hold on its endpoint: the slot, the breaker verdict, the attempt record. */
export interface AttemptLease {
  readonly endpoint: Endpoint;
  /** The server of the endpoint's replica pool this attempt went to (absent for a single server). */
  readonly replica?: Replica;
  readonly startedMono: number;
  readonly startedWall: number;
  /** End the attempt: success, or the failure that ended it. Idempotent. */
  finish(failure?: UpstreamFailure, status?: number): void;
  /** The first token arrived: releases the prompt from the load ledger and teaches the predictor. */
  firstToken(): void;
}

export interface FailoverOptions {
  readonly signal: AbortSignal;
  /**
   * A stream rescue: a candidate that rejects the continuation (any 4xx to the prefill) ends only
   * its own attempt, and the loop goes on to the next candidate that can continue.
   */
  readonly continuation?: boolean;
  /** Attempts this request may still make in total (shared with stream rescue). */
  readonly attemptBudget: { remaining: number };
}

export function failureOf(error: unknown, endpoint: string): UpstreamFailure {
  if (error instanceof UpstreamFailureError) return error.failure;
  return { cause: 'server_error', endpoint, message: error instanceof Error ? error.message : String(error) };
}

/**
 * Acquire an endpoint for one attempt, or say why not (breaker open, Retry-After pause, queue full).
 * The request's first attempt also charges its key's rate limit, in the same call to the shared
 * state; beyond the limit the whole request ends here with a 429.
 */
export async function acquire(
  ctx: GatewayContext,
  trace: RequestTrace,
  endpoint: Endpoint,
  options: FailoverOptions,
): Promise<AttemptLease | UpstreamFailure> {
  const charge = pendingCharge(trace);
  // Counted in the load ledger now, at dispatch, before any await: the next request to decide sees it.
  const before = trace.loadDispatch ? ctx.load.view.load(endpoint) : undefined;
  const ticket = trace.loadDispatch
    ? ctx.load.view.dispatch(endpoint, trace.loadDispatch, trace.id)
    : undefined;
  // A replica pool: the bounded-load pick first, counted in the ledger under its own key at once too.
  const failedHere = trace.failedReplicas.get(endpoint.name) ?? new Set<string>();
  const plan = planReplicas(ctx.replicas, endpoint, trace.affinityPrompt, failedHere);
  const replicaInfo = trace.loadDispatch ?? {
    promptTokens: 0,
    expectedDecodeTokens: 0,
    priority: trace.priority,
  };
  let replica: Replica | undefined;
  let replicaTicket: LedgerTicket | undefined;
  if (plan) {
    replica = plan.replicas.find((r) => r.id === plan.choice.order[0]);
    replicaTicket = ctx.replicas.ledger.dispatch(loadKey(endpoint.name, replica?.id), replicaInfo);
  }
  let stateKey = loadKey(endpoint.name, replica?.id);
  let admission: Awaited<ReturnType<typeof ctx.state.admit>>;
  let rateVerdict: import('../state/index.ts').RateVerdict | undefined;
  try {
    admission = await ctx.state.admit(stateKey, endpoint, {
      signal: options.signal,
      ...(charge ? { rate: charge } : {}),
    });
    rateVerdict = admission.kind !== 'cancelled' ? admission.rate : undefined;
    // A refused or full replica passes the attempt to the next one of the pool, in the plan's order.
    for (const id of plan?.choice.order.slice(1) ?? []) {
      if (admission.kind !== 'refused' && admission.kind !== 'full') break;
      noteBreaker(ctx, stateKey);
      replicaTicket?.end();
      replica = plan?.replicas.find((r) => r.id === id);
      stateKey = loadKey(endpoint.name, id);
      replicaTicket = ctx.replicas.ledger.dispatch(stateKey, replicaInfo);
      admission = await ctx.state.admit(stateKey, endpoint, { signal: options.signal });
    }
  } catch (error) {
    ticket?.end();
    replicaTicket?.end();
    throw error;
  }
  if (admission.kind !== 'granted') {
    ticket?.end();
    replicaTicket?.end();
  } else if (plan && replica)
    ctx.replicas.metrics.choice(endpoint.name, replica.id, replicaReason(plan, replica));
  noteBreaker(ctx, stateKey);
  if (charge && admission.kind !== 'cancelled' && rateVerdict) noteVerdict(trace, rateVerdict);
  if (admission.kind === 'rate_limited') throw rateLimitedError(trace, admission.rate);
  if (admission.kind === 'cancelled')
    return { cause: 'cancelled', endpoint: endpoint.name, message: 'the client went away while queued' };
  if (admission.kind === 'refused')
    return { cause: 'circuit_open', endpoint: endpoint.name, message: admission.why };
  if (admission.kind === 'full') {
    return {
      cause: 'queue_full',
      endpoint: endpoint.name,
      message: `${endpoint.maxConcurrency} requests in flight and ${endpoint.maxQueue} queued (maxConcurrency/maxQueue)`,
    };
  }
  options.attemptBudget.remaining -= 1;
  const startedMono = performance.now();
  const startedWall = ctx.now();
  let finished = false;
  let attemptTtftMs: number | undefined;
  const settle = (failure: UpstreamFailure | undefined, atMs: number): void => {
    if (failure && replica && countsAgainstEndpoint(failure.cause)) {
      failedHere.add(replica.id);
      trace.failedReplicas.set(endpoint.name, failedHere);
    }
    const server = replica ? { replica: replica.id } : {};
    if (!failure) {
      admission.finish('success');
      ctx.health.observe({ endpoint: endpoint.name, ...server, ok: true, atMs, source: 'traffic' });
      if (!ctx.routeByHealth) ctx.metrics.setUp(endpoint.name, endpoint.host, true);
      return;
    }
    const pauseMs = failure.retryAfterMs;
    if (ctx.lifecycle.closing) {
      admission.finish('none');
      return;
    }
    if (before && ctx.load.view.isLoad(endpoint, before, failure.cause, atMs)) {
      // A busy endpoint is not a down one: load goes to overflow and admission, not to the breaker.
      ctx.load.metrics.saturation(endpoint.name, failure.cause);
      admission.finish('none', pauseMs);
      return;
    }
    if (countsAgainstEndpoint(failure.cause)) {
      // On a pool the failure is the replica's (its breaker, its health); the endpoint is down only
      // once every replica is.
      admission.finish('failure', pauseMs);
      ctx.health.observe({
        endpoint: endpoint.name,
        ...server,
        ok: false,
        atMs,
        source: 'traffic',
        cause: failure.cause,
        detail: failure.message,
      });
      // With a monitor, the up gauge is its to keep (probes see recoveries traffic cannot).
      if (!ctx.routeByHealth && ctx.health.state(endpoint.name) === 'down') {
        ctx.metrics.setUp(endpoint.name, endpoint.host, false);
      }
    } else if (ANSWERED.has(failure.cause)) {
      // The server answered sensibly: it is healthy; the request (or the endpoint's key) was not.
      admission.finish('success', pauseMs);
    } else {
      admission.finish('none', pauseMs);
    }
  };
  return {
    endpoint,
    startedMono,
    startedWall,
    replica,
    firstToken() {
      attemptTtftMs ??= performance.now() - startedMono;
      ticket?.firstToken(attemptTtftMs);
      replicaTicket?.firstToken();
    },
    finish(failure, status) {
      if (finished) return;
      finished = true;
      ticket?.end();
      replicaTicket?.end();
      const durationMs = performance.now() - startedMono;
      trace.attempts.push({
        endpoint: endpoint.name,
        ...(replica ? { replica: replica.id } : {}),
        startedAtMs: startedWall,
        status: failure ? failure.status : (status ?? 200),
        error: failure?.cause,
        durationMs,
        continuation: options.continuation || undefined,
        ttftMs: attemptTtftMs,
        predictedTtftP95Ms: ticket?.prediction?.p95Ms,
        predictedTtftP99Ms: ticket?.prediction?.p99Ms,
      });
      ctx.metrics.attempt(endpoint.name, failure ? failure.cause : 'ok');
      if (replica) ctx.replicas.metrics.attempt(endpoint.name, replica.id, failure ? failure.cause : 'ok');
      const atMs = ctx.now();
      try {
        settle(failure, atMs);
      } finally {
        noteBreaker(ctx, stateKey);
      }
    },
  };
}

function replicaReason(plan: NonNullable<ReturnType<typeof planReplicas>>, replica: Replica): string {
  if (replica.id === plan.choice.order[0]) return plan.choice.reason;
  return 'failover';
}

/** The breaker state each endpoint was last seen in, per gateway, to report its transitions. */
const seenBreakers = new WeakMap<GatewayContext, Map<string, BreakerState>>();

/** Report the endpoint's breaker transition, if it changed since it was last looked at. */
function noteBreaker(ctx: GatewayContext, endpoint: string): void {
  if (!ctx.events) return;
  let seen = seenBreakers.get(ctx);
  if (!seen) seenBreakers.set(ctx, (seen = new Map()));
  const now = ctx.breaker(endpoint).snapshot(ctx.now()).state;
  const before = seen.get(endpoint) ?? 'closed';
  seen.set(endpoint, now);
  if (now !== before) ctx.events({ kind: 'breaker', endpoint, from: before, to: now });
}

function backoffMs(ctx: GatewayContext, retry: number): number {
  const step = Math.min(ctx.retry.maxDelayMs, ctx.retry.baseDelayMs * 2 ** retry);
  return Math.round(step * (0.5 + ctx.random()));
}

export interface FailoverSuccess<T> {
  readonly value: T;
  readonly lease: AttemptLease;
  readonly failures: readonly UpstreamFailure[];
}

/**
 * Run `attempt` on candidates until one succeeds. `attempt` throws UpstreamFailureError; on success
 * the caller owns the lease and must finish it (a stream may still fail after its first token).
 */
export async function runWithFailover<T>(
  ctx: GatewayContext,
  trace: RequestTrace,
  candidates: readonly Endpoint[],
  options: FailoverOptions,
  attempt: (endpoint: Endpoint, lease: AttemptLease) => Promise<T>,
): Promise<FailoverSuccess<T>> {
  const queue = [...candidates];
  const failures: UpstreamFailure[] = [];
  const comeBack: Endpoint[] = [];
  let retries = 0;
  const retriedHere = new Set<string>();
  let outgrown: number | undefined;
  let previous: Endpoint | undefined;
  let previousCause: FailureCause | undefined;
  for (;;) {
    if (options.signal.aborted) throw new HttpError(499, 'the client went away', { code: 'cancelled' });
    let next = queue.shift();
    if (!next) {
      const again = comeBack.shift();
      if (!again || retries >= ctx.fleet.gateway.retries || options.attemptBudget.remaining <= 0) break;
      const waitMs = Math.max(backoffMs(ctx, retries), ctx.breaker(again).waitMs(ctx.now()));
      if (waitMs > ctx.retry.maxWaitMs) break;
      const waitStart = performance.now();
      try {
        await sleep(waitMs, undefined, { signal: options.signal });
      } catch {
        throw new HttpError(499, 'the client went away', { code: 'cancelled' });
      }
      trace.upstreamMs += performance.now() - waitStart;
      retries += 1;
      next = again;
    }
    if (outgrown !== undefined && (next.contextWindowTokens ?? Number.POSITIVE_INFINITY) <= outgrown)
      continue;
    if (options.attemptBudget.remaining <= 0) break;
    const lease = await acquire(ctx, trace, next, options);
    if (!('finish' in lease)) {
      if (lease.cause === 'cancelled')
        throw new HttpError(499, 'the client went away', { code: 'cancelled' });
      failures.push(lease);
      // A server that asked for a pause is worth coming back to once the pause is over.
      if (ctx.breaker(next).snapshot(ctx.now()).pausedUntilMs !== undefined) comeBack.push(next);
      continue;
    }
    if (previous && previousCause && previous.name !== next.name) {
      ctx.metrics.failover(previous.name, next.name, previousCause);
      ctx.events?.({
        kind: 'failover',
        requestId: trace.id,
        from: previous.name,
        to: next.name,
        cause: previousCause,
      });
    }
    try {
      const value = await attempt(next, lease);
      return { value, lease, failures };
    } catch (error) {
      const failure = failureOf(error, next.name);
      lease.finish(failure);
      trace.upstreamMs += performance.now() - lease.startedMono;
      if (failure.cause === 'cancelled')
        throw new HttpError(499, 'the client went away', { code: 'cancelled' });
      failures.push(failure);
      previous = next;
      previousCause = failure.cause;
      if (failure.cause === 'invalid_request') {
        // A refused continuation says nothing about the client's request: try the next one.
        if (options.continuation) continue;
        throw clientMistake(failure);
      }
      if (failure.cause === 'context_length') {
        outgrown = Math.max(outgrown ?? 0, next.contextWindowTokens ?? 0);
        continue;
      }
      if (failure.cause === 'closed_without_answer') {
        // One silent close may be a dropped connection: once elsewhere. Two are the request.
        const earlier = failures.slice(0, -1).filter((f) => f.cause === 'closed_without_answer');
        if (earlier.length > 0) throw refusedSilently([...earlier, failure]);
        continue;
      }
      if (
        lease.replica &&
        countsAgainstEndpoint(failure.cause) &&
        options.attemptBudget.remaining > 0 &&
        otherReplicaAvailable(ctx.replicas, next, trace.failedReplicas.get(next.name) ?? new Set())
      ) {
        // Another server of the same pool first: the matrix chose this endpoint, and it is still up.
        queue.unshift(next);
        continue;
      }
      if (!isTransient(failure.cause)) continue;
      const here = sameEndpointRetry(ctx, trace, next, failure, options, retriedHere, retries);
      if (here !== undefined) {
        retriedHere.add(next.name);
        retries += 1;
        ctx.events?.({
          kind: 'retry',
          requestId: trace.id,
          endpoint: next.name,
          cause: failure.cause,
          waitMs: here,
        });
        const waitStart = performance.now();
        try {
          // +1 ms: Node's timers run on a millisecond clock read at the loop's turn, so a bare
          // sleep(1000) can end 999.x ms after the answer that asked for a second.
          await sleep(here + 1, undefined, { signal: options.signal });
        } catch {
          throw new HttpError(499, 'the client went away', { code: 'cancelled' });
        }
        trace.upstreamMs += performance.now() - waitStart;
        queue.unshift(next);
        continue;
      }
      comeBack.push(next);
    }
  }
  throw allFailed(failures, ctx);
}

/** The endpoint's same-endpoint retry policy: its own where it says, else the fleet's. */
export function retryPolicyOf(ctx: GatewayContext, endpoint: Endpoint): SameEndpointRetry {
  const fleet = ctx.fleet.gateway.retry;
  return {
    sameEndpointFirst: endpoint.retry?.sameEndpointFirst ?? fleet.sameEndpointFirst,
    maxWaitMs: endpoint.retry?.maxWaitMs ?? fleet.maxWaitMs,
  };
}

/**
 * The routing rule chose this endpoint for a reason (window, model): after a transient failure
 * before the first token, one retry here often beats the fallback. Milliseconds to wait before
 * retrying here, or undefined to fail over at once: the policy is off, this endpoint was retried
 * already, the wait (never shorter than Retry-After) is over the bound, or it would not leave the
 * request's TTFT deadline room for the retry.
 */
function sameEndpointRetry(
  ctx: GatewayContext,
  trace: RequestTrace,
  endpoint: Endpoint,
  failure: UpstreamFailure,
  options: FailoverOptions,
  retriedHere: ReadonlySet<string>,
  retries: number,
): number | undefined {
  if (options.continuation || retriedHere.has(endpoint.name)) return undefined;
  if (retries >= ctx.fleet.gateway.retries || options.attemptBudget.remaining <= 0) return undefined;
  const policy = retryPolicyOf(ctx, endpoint);
  if (!policy.sameEndpointFirst) return undefined;
  const waitMs = Math.max(
    failure.retryAfterMs ?? backoffMs(ctx, retries),
    ctx.breaker(endpoint).waitMs(ctx.now()),
  );
  if (waitMs > policy.maxWaitMs) return undefined;
  const elapsedMs = performance.now() - trace.t0;
  if (elapsedMs + waitMs >= endpoint.timeouts.ttftTimeoutMs) return undefined;
  return waitMs;
}

/** Failures that are answers of a healthy server: its breaker sees a success. */
const ANSWERED: ReadonlySet<FailureCause> = new Set([
  'invalid_request',
  'context_length',
  'upstream_auth',
  'model_not_found',
]);

/** Refusals before any attempt was made: they never decide what a request died of. */
const NOT_AN_ATTEMPT: ReadonlySet<FailureCause> = new Set(['circuit_open', 'queue_full', 'cancelled']);

/**
 * The failure that ended the request: the last one an attempt actually met on an endpoint (a cut,
 * a TTFT timeout, a refused connection), not a breaker or a full queue that only declined to try
 * afterwards; the last failure when every one was such a refusal.
 */
export function decisiveFailure(failures: readonly UpstreamFailure[]): UpstreamFailure | undefined {
  for (let i = failures.length - 1; i >= 0; i--) {
    const f = failures[i] as UpstreamFailure;
    if (!NOT_AN_ATTEMPT.has(f.cause)) return f;
  }
  return failures[failures.length - 1];
}

/** What the upstream said, verbatim, as `error.upstream` in the client's error body. */
function upstreamContext(failure: UpstreamFailure): UpstreamErrorContext {
  return {
    endpoint: failure.endpoint,
    ...(failure.status !== undefined ? { status: failure.status } : {}),
    ...(failure.upstreamType !== undefined ? { type: failure.upstreamType } : {}),
    ...(failure.upstreamCode !== undefined ? { code: failure.upstreamCode } : {}),
    message: failure.message,
  };
}

/**
 * A 4xx the endpoint gave the request itself (a content-policy rejection, a bad value): the
 * upstream's status, type, code and message reach the client; the gateway only says which
 * endpoint answered (in the message and `error.upstream`), and invents no code of its own.
 */
export function clientMistake(failure: UpstreamFailure): HttpError {
  const status = failure.status ?? 400;
  return new HttpError(status, `${failure.endpoint}: ${failure.message}`, {
    type: failure.upstreamType ?? openAiErrorType(status),
    endpoint: failure.endpoint,
    upstream: upstreamContext(failure),
    ...(failure.upstreamCode !== undefined ? { code: failure.upstreamCode } : {}),
  });
}

/**
 * Every candidate refused the gateway's own key (401/403). Not the client's fault, so not a 401 to
 * it (that would tell the client its key is wrong): a 502, whose body keeps the upstream's type,
 * code and message; where the server gave no string code (vLLM, llama.cpp, TEI) the code is
 * `upstream_auth`. Each endpoint's answer is in the message; the decisive one in `error.upstream`.
 */
function upstreamKeyRefused(failures: readonly UpstreamFailure[], decisive: UpstreamFailure): HttpError {
  const answers = failures.map(
    (f) => `${f.endpoint} refused the gateway's key for it (HTTP ${f.status ?? '?'}: ${f.message})`,
  );
  return new HttpError(502, `${answers.join('; ')}: check the endpoints' apiKeyEnv`, {
    type: decisive.upstreamType ?? 'upstream_error',
    code: decisive.upstreamCode ?? 'upstream_auth',
    endpoint: decisive.endpoint,
    upstream: upstreamContext(decisive),
  });
}

/**
 * Two mlx endpoints closed the connection on this request without a byte of answer: what mlx_lm
 * does with a value it refuses (one the gateway's own checks do not know). The request's fault,
 * so a 400, naming the endpoints; no upstream code exists to pass on.
 */
function refusedSilently(closes: readonly UpstreamFailure[]): HttpError {
  const who = [...new Set(closes.map((f) => f.endpoint))].join(' and ');
  return new HttpError(
    400,
    `${who} closed the connection without an answer: mlx_lm does this when it refuses a parameter ` +
      "value (server.py validate_model_parameters); check the request's fields against mlx_lm's limits",
    { code: 'upstream_refused_request', type: 'invalid_request_error', endpoint: closes.at(-1)?.endpoint },
  );
}

/** The client's error when no candidate could answer: the status that fits, every real cause named. */
export function allFailed(failures: readonly UpstreamFailure[], ctx: GatewayContext): HttpError {
  if (failures.length === 0) {
    return new HttpError(503, 'no endpoint could take the request', {
      code: 'no_endpoint',
      type: 'api_error',
    });
  }
  const causes = failures.map(
    (f) => `${f.endpoint}: ${f.cause}${f.status ? ` (HTTP ${f.status})` : ''}: ${f.message}`,
  );
  const message = `no endpoint answered (${failures.length} attempt${failures.length > 1 ? 's' : ''}): ${causes.join('; ')}`;
  const decisive = decisiveFailure(failures) as UpstreamFailure;
  const endpoint = decisive.endpoint;
  if (failures.every((f) => f.cause === 'context_length')) {
    return new HttpError(400, message, { code: 'context_length_exceeded', param: 'messages', endpoint });
  }
  const attempted = failures.filter((f) => !NOT_AN_ATTEMPT.has(f.cause));
  if (attempted.length > 0 && attempted.every((f) => f.cause === 'upstream_auth'))
    return upstreamKeyRefused(attempted, decisive);
  if (attempted.length > 0 && attempted.every((f) => f.cause === 'model_not_found')) {
    // Every server asked says it does not serve this model: true for the client too, so a 404
    // with the upstream's own type and message (code model_not_found where it gave none).
    return new HttpError(404, message, {
      type: decisive.upstreamType ?? 'invalid_request_error',
      code: decisive.upstreamCode ?? 'model_not_found',
      param: 'model',
      endpoint,
      upstream: upstreamContext(decisive),
    });
  }
  const busy = failures.every((f) =>
    ['queue_full', 'rate_limited', 'circuit_open', 'overloaded'].includes(f.cause),
  );
  if (busy) {
    const now = ctx.now();
    const waits = failures.map((f) => {
      if (f.retryAfterMs !== undefined) return f.retryAfterMs;
      return ctx.breaker(f.endpoint).waitMs(now);
    });
    const seconds = Math.max(1, Math.ceil(Math.min(...waits.filter((w) => w > 0), 3_600_000) / 1000));
    const status = failures.some((f) => f.cause === 'queue_full' || f.cause === 'rate_limited') ? 429 : 503;
    return new HttpError(status, message, {
      code: status === 429 ? 'rate_limited' : 'unavailable',
      type: status === 429 ? 'rate_limit_error' : 'api_error',
      headers: { 'retry-after': String(seconds) },
      endpoint,
    });
  }
  const timedOut = decisive.cause.endsWith('_timeout');
  return new HttpError(timedOut ? 504 : 502, message, {
    code: decisive.cause,
    type: timedOut ? 'timeout_error' : 'upstream_error',
    endpoint,
    ...(decisive.status !== undefined ? { upstream: upstreamContext(decisive) } : {}),
  });
}
