// Per-key rate limits as two token buckets (requests, tokens) that refill continuously: a bucket
// holds up to one minute's allowance and regains it at limit/60 s, so `reset` in the OpenAI
// headers is the time until the bucket is full again. A request passes only if both buckets can
// pay; it is charged to both or to neither. Pure (time is a parameter): the in-process backend
// uses it and the Redis script (redis-scripts.ts) does the same arithmetic in Lua.
import type { KeyLimit, RateVerdict } from './types.ts';

const MINUTE_MS = 60_000;

export interface BucketState {
  /** Units in the bucket (may go below zero when actual use exceeded the estimate). */
  readonly requests: number;
  readonly tokens: number;
  readonly atMs: number;
}

export function fullBucket(limit: KeyLimit, nowMs: number): BucketState {
  return { requests: limit.requestsPerMinute ?? 0, tokens: limit.tokensPerMinute ?? 0, atMs: nowMs };
}

function refill(level: number, perMinute: number, elapsedMs: number): number {
  return Math.min(perMinute, level + (Math.max(0, elapsedMs) * perMinute) / MINUTE_MS);
}

function waitFor(level: number, need: number, perMinute: number): number {
  return level >= need ? 0 : Math.ceil(((need - level) * MINUTE_MS) / perMinute);
}

export function reading(
  level: number,
  perMinute: number,
): { limit: number; remaining: number; resetMs: number } {
  return {
    limit: perMinute,
    remaining: Math.max(0, Math.floor(level)),
    resetMs: Math.max(0, Math.ceil(((perMinute - level) * MINUTE_MS) / perMinute)),
  };
}

/** Try to charge one request of `tokens` tokens. A cost above the whole allowance is capped at it. */
export function takeFromBucket(
  state: BucketState,
  limit: KeyLimit,
  tokens: number,
  nowMs: number,
): { state: BucketState; verdict: RateVerdict } {
  const rpm = limit.requestsPerMinute;
  const tpm = limit.tokensPerMinute;
  const elapsed = nowMs - state.atMs;
  let requests = rpm ? refill(state.requests, rpm, elapsed) : 0;
  let tokenLevel = tpm ? refill(state.tokens, tpm, elapsed) : 0;
  const cost = tpm ? Math.min(Math.max(0, tokens), tpm) : 0;
  const retryAfterMs = Math.max(
    rpm ? waitFor(requests, 1, rpm) : 0,
    tpm ? waitFor(tokenLevel, cost, tpm) : 0,
  );
  const allowed = retryAfterMs === 0;
  if (allowed) {
    requests -= rpm ? 1 : 0;
    tokenLevel -= cost;
  }
  return {
    state: { requests, tokens: tokenLevel, atMs: nowMs },
    verdict: {
      allowed,
      retryAfterMs,
      ...(rpm ? { requests: reading(requests, rpm) } : {}),
      ...(tpm ? { tokens: reading(tokenLevel, tpm) } : {}),
    },
  };
}

/** Correct the token bucket by what the request really used (negative delta: a refund). */
export function settleBucket(
  state: BucketState,
  limit: KeyLimit,
  deltaTokens: number,
  nowMs: number,
): BucketState {
  const tpm = limit.tokensPerMinute;
  if (!tpm) return state;
  const rpm = limit.requestsPerMinute;
  const elapsed = nowMs - state.atMs;
  return {
    requests: rpm ? refill(state.requests, rpm, elapsed) : 0,
    tokens: Math.min(tpm, refill(state.tokens, tpm, elapsed) - deltaTokens),
    atMs: nowMs,
  };
}
