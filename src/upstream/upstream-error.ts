// Upstream failures of every dialect, classified once. Each attempt that fails becomes an
// UpstreamFailure with a stable cause ('connect_refused', 'ttft_timeout', 'context_length', …), the
// HTTP status when the server answered, the server's own message, and what may be done about it.
// The gateway's failover loop decides only from these fields, never from message strings.

export type FailureCause =
  | 'connect_refused'
  | 'connect_timeout'
  | 'connection_reset'
  | 'loopback_only'
  | 'ttft_timeout'
  | 'idle_timeout'
  | 'total_timeout'
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'upstream_auth'
  | 'model_not_found'
  | 'context_length'
  | 'invalid_request'
  | 'stream_cut'
  | 'stream_error'
  | 'malformed_chunk'
  | 'empty_answer'
  | 'queue_full'
  | 'circuit_open'
  | 'cancelled';

export interface UpstreamFailure {
  readonly cause: FailureCause;
  readonly endpoint: string;
  readonly status?: number;
  /** The real cause, as the server (or the socket) said it. */
  readonly message: string;
  /** Milliseconds the server asked us to wait (Retry-After), if it said. */
  readonly retryAfterMs?: number;
}

/** Causes where the same request may succeed elsewhere (or later). */
export function isRecoverable(cause: FailureCause): boolean {
  return cause !== 'invalid_request' && cause !== 'context_length' && cause !== 'cancelled';
}

/** Causes that say something about the endpoint's health (feed the breaker and the passive view). */
export function countsAgainstEndpoint(cause: FailureCause): boolean {
  return ![
    'invalid_request',
    'context_length',
    'cancelled',
    'queue_full',
    'circuit_open',
    'rate_limited',
  ].includes(cause);
}

/** Causes worth one more try on the same endpoint after a pause (transient by nature). */
export function isTransient(cause: FailureCause): boolean {
  return (
    cause === 'connection_reset' ||
    cause === 'rate_limited' ||
    cause === 'overloaded' ||
    cause === 'server_error'
  );
}

const CONTEXT_PATTERNS = [
  /maximum context length/i,
  /context length/i,
  /exceed_context_size/i,
  /context_length_exceeded/i,
  /exceeds? the (?:available )?context/i,
  /must have less than \d+ tokens/i,
  /too many tokens/i,
  /n_ctx/i,
];

/** Reads a message out of any of the error bodies the fleet's servers write (wire-formats §10.3). */
export function upstreamMessage(bodyText: string): { message: string; type?: string } {
  const text = bodyText.trim();
  if (text === '') return { message: '' };
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object') {
      const b = body as Record<string, unknown>;
      const err = b.error;
      if (err && typeof err === 'object') {
        const e = err as Record<string, unknown>;
        return {
          message: String(e.message ?? JSON.stringify(e)),
          type: typeof e.type === 'string' ? e.type : undefined,
        };
      }
      if (typeof err === 'string') {
        return { message: err, type: typeof b.error_type === 'string' ? b.error_type : undefined };
      }
      if (typeof b.message === 'string')
        return { message: b.message, type: typeof b.type === 'string' ? b.type : undefined };
      if (typeof b.detail === 'string') return { message: b.detail };
    }
  } catch {
    // Not JSON: plain text (mlx_lm's `Not Found`), kept as is.
  }
  return { message: text.slice(0, 500) };
}

/** Retry-After as seconds or an HTTP date; also the non-standard retry-after-ms. */
export function parseRetryAfterMs(
  retryAfter: string | string[] | undefined,
  retryAfterMs?: string | string[] | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const ms = Array.isArray(retryAfterMs) ? retryAfterMs[0] : retryAfterMs;
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const v = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (v === undefined) return undefined;
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const date = Date.parse(t);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** An HTTP error answer from an endpoint → failure with a cause. */
export function classifyHttpError(
  endpoint: string,
  status: number,
  bodyText: string,
  retryAfterMs?: number,
): UpstreamFailure {
  const { message: raw, type } = upstreamMessage(bodyText);
  const message = raw || `HTTP ${status} with an empty body`;
  const isContext =
    (status === 400 || status === 413 || status === 422) &&
    (CONTEXT_PATTERNS.some((p) => p.test(message)) || type === 'exceed_context_size_error');
  let cause: FailureCause;
  if (isContext) cause = 'context_length';
  else if (status === 429) cause = 'rate_limited';
  else if (status === 503) cause = 'overloaded';
  else if (status === 401 || status === 403) cause = 'upstream_auth';
  else if (status === 404) cause = 'model_not_found';
  else if (status >= 500 || status === 424 || status === 408) cause = 'server_error';
  else if (status >= 400) cause = 'invalid_request';
  else cause = 'server_error';
  return { cause, endpoint, status, message, retryAfterMs };
}

/** A socket-level error (undici or node) → failure with a cause. */
export function classifyNetworkError(endpoint: string, error: unknown): UpstreamFailure {
  const e = error as
    { code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code ?? '';
  const message = e?.message ?? String(error);
  if (code === 'loopback_only') return { cause: 'loopback_only', endpoint, message };
  if (code === 'ECONNREFUSED')
    return { cause: 'connect_refused', endpoint, message: `connection refused (${message})` };
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT')
    return { cause: 'connect_timeout', endpoint, message: `connect timeout (${message})` };
  return { cause: 'connection_reset', endpoint, message: `${code ? `${code}: ` : ''}${message}` };
}

/** The OpenAI error type a client expects for an HTTP status. */
export function openAiErrorType(status: number): string {
  if (status === 400 || status === 413 || status === 422) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  return 'api_error';
}
