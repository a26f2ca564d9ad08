// Per-key rate limits at the gateway's edge: which allowance a request's key has, the charge its
// first attempt carries to the shared state (one round trip with the slot), the OpenAI rate-limit
// headers on every answer, the 429 beyond the allowance, and the token correction once the real
// usage is known.
import { createHash } from 'node:crypto';
import type { Fleet, KeyLimit } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { RateCharge, RateVerdict } from '../state/index.ts';
import type { GatewayContext } from './context.ts';
import { HttpError } from './http.ts';
import type { RequestTrace } from './trace.ts';

/** Who is asking, as far as limits go. */
export interface RateClient {
  /** A hash of the key (or 'anonymous'): the bucket's name in the shared store. */
  readonly bucket: string;
  /** For messages: the key's name in the fleet file, or a short hash. */
  readonly label: string;
  readonly limit: KeyLimit;
}

function limited(limit: KeyLimit | undefined): limit is KeyLimit {
  return (
    limit !== undefined && (limit.requestsPerMinute !== undefined || limit.tokensPerMinute !== undefined)
  );
}

/** The allowance of the key a request came with (undefined: unlimited). */
export function rateClientFor(fleet: Fleet, key: string | undefined): RateClient | undefined {
  const own = key === undefined ? undefined : fleet.gateway.keyLimits.find((k) => k.key === key);
  const limit = own ?? fleet.gateway.rateLimit;
  if (!limited(limit)) return undefined;
  const bucket =
    key === undefined ? 'anonymous' : createHash('sha256').update(key).digest('hex').slice(0, 24);
  const perMinute: KeyLimit = {
    ...(limit.requestsPerMinute !== undefined ? { requestsPerMinute: limit.requestsPerMinute } : {}),
    ...(limit.tokensPerMinute !== undefined ? { tokensPerMinute: limit.tokensPerMinute } : {}),
  };
  return {
    bucket,
    label: own?.name ?? (key === undefined ? 'anonymous' : `key ${bucket.slice(0, 8)}`),
    limit: perMinute,
  };
}

/** The charge the request's first attempt carries; undefined once charged (failover, retries). */
export function pendingCharge(trace: RequestTrace): RateCharge | undefined {
  const client = trace.rateClient;
  if (!client || trace.rateVerdict) return undefined;
  return { bucket: client.bucket, limit: client.limit, tokens: trace.admissionTokens ?? 0 };
}

/** Go-style durations as OpenAI writes them: `20ms`, `1s`, `6m0s`, `1.5s`. */
export function formatReset(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = Number(((whole % 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

export function rateHeaders(verdict: RateVerdict): Record<string, string> {
  const h: Record<string, string> = {};
  if (verdict.requests) {
    h['x-ratelimit-limit-requests'] = String(verdict.requests.limit);
    h['x-ratelimit-remaining-requests'] = String(verdict.requests.remaining);
    h['x-ratelimit-reset-requests'] = formatReset(verdict.requests.resetMs);
  }
  if (verdict.tokens) {
    h['x-ratelimit-limit-tokens'] = String(verdict.tokens.limit);
    h['x-ratelimit-remaining-tokens'] = String(verdict.tokens.remaining);
    h['x-ratelimit-reset-tokens'] = formatReset(verdict.tokens.resetMs);
  }
  return h;
}

/** Note the verdict on the trace and put its headers on whatever answer the request gets. */
export function noteVerdict(trace: RequestTrace, verdict: RateVerdict): void {
  trace.rateVerdict = verdict;
  trace.onRateHeaders?.(rateHeaders(verdict));
}

export function rateLimitedError(trace: RequestTrace, verdict: RateVerdict): HttpError {
  const client = trace.rateClient;
  const byRequests = verdict.requests !== undefined && verdict.requests.remaining < 1;
  const what = byRequests
    ? `requests per minute (limit ${verdict.requests?.limit})`
    : `tokens per minute (limit ${verdict.tokens?.limit}, this request ${trace.admissionTokens ?? 0})`;
  const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
  return new HttpError(
    429,
    `rate limit reached for ${client?.label ?? 'this key'} on ${what}; try again in ${formatReset(verdict.retryAfterMs)}`,
    {
      code: 'rate_limit_exceeded',
      type: byRequests ? 'requests' : 'tokens',
      headers: {
        ...rateHeaders(verdict),
        'retry-after': String(seconds),
        'retry-after-ms': String(Math.ceil(verdict.retryAfterMs)),
      },
    },
  );
}

/** Once the request is over: charge (or refund) the difference between estimate and real usage. */
export function settleUsage(ctx: GatewayContext, trace: RequestTrace, record: RequestRecord): void {
  const client = trace.rateClient;
  if (!client?.limit.tokensPerMinute || !trace.rateVerdict?.allowed) return;
  const used = (record.promptTokens ?? 0) + (record.completionTokens ?? 0);
  ctx.state.settle(client.bucket, client.limit, used - (trace.admissionTokens ?? 0));
}
