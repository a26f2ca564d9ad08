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
  | 'closed_without_answer'
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
  /** The error body's own `type` and string `code` (e.g. content_policy_violation), passed on to clients. */
  readonly upstreamType?: string;
  readonly upstreamCode?: string;
}

/** Causes where the same request may succeed elsewhere (or later). */
export function isRecoverable(cause: FailureCause): boolean {
  return cause !== 'invalid_request' && cause !== 'context_length' && cause !== 'cancelled';
}

/**
 * Causes that say something about the endpoint's health (feed the breaker and the passive view).
 * A 401/403 (the gateway's upstream key is wrong) and a 404 (this server does not serve the model)
 * are answers: the server is up, and it is a configuration fault of the endpoint, not an outage.
 */
export function countsAgainstEndpoint(cause: FailureCause): boolean {
  return ![
    'invalid_request',
    'context_length',
    'upstream_auth',
    'model_not_found',
    'closed_without_answer',
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

// Every wording the fleet's servers use for "does not fit the window" (README: dialect notes).
const CONTEXT_PATTERNS = [
  // vLLM ≤ 0.9 "… you requested N tokens (P in the messages, C in the completion)", 0.10–0.2x
  // "… your request has N input tokens", 'max_tokens' … is too large", and the renderer's
  // "… your prompt contains at least N input tokens, for a total of at least T tokens".
  /maximum context length/i,
  /context length/i,
  // vLLM (VLLMValidationError): "max_tokens=N cannot be greater than max_model_len=…".
  /cannot be greater than max_model_len/i,
  /max_total_tokens/i,
  // llama.cpp: the error type, "request (N tokens) exceeds the available context size" and, for
  // embeddings, "input (N tokens) is larger than the max context size".
  /exceed_context_size/i,
  /exceeds? the (?:available )?context/i,
  /larger than the max context size/i,
  /context_length_exceeded/i,
  // TEI: "Input validation error: `inputs` must have less than N tokens|characters. Given: M".
  /must have less than \d+ (?:tokens|characters)/i,
  /too many tokens/i,
  /n_ctx/i,
];

/** Whether a server's error (its message and `type`) says the request does not fit the window. */
export function isContextLengthError(message: string, type?: string): boolean {
  return type === 'exceed_context_size_error' || CONTEXT_PATTERNS.some((p) => p.test(message));
}

/**
 * An error that arrives inside a 200 event stream before any token (llama.cpp before PR #16486
 * answered a context overflow this way): a context-length failure when it says so, otherwise a
 * stream error.
 */
export function classifyStreamError(endpoint: string, payload: string): UpstreamFailure {
  const { message: raw, type, code } = upstreamMessage(payload);
  const message = raw || payload;
  return {
    cause: isContextLengthError(message, type) ? 'context_length' : 'stream_error',
    endpoint,
    message,
    upstreamType: type,
    upstreamCode: code,
  };
}

/** Reads a message out of any of the error bodies the fleet's servers write (wire-formats §10.3). */
export function upstreamMessage(bodyText: string): { message: string; type?: string; code?: string } {
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
          // vLLM and llama.cpp put the HTTP status in `code`; only a string code says something.
          code: typeof e.code === 'string' ? e.code : undefined,
        };
      }
      if (typeof err === 'string') {
        return { message: err, type: typeof b.error_type === 'string' ? b.error_type : undefined };
      }
      if (typeof b.message === 'string')
        return {
          message: b.message,
          type: typeof b.type === 'string' ? b.type : undefined,
          code: typeof b.code === 'string' ? b.code : undefined,
        };
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
  const { message: raw, type, code } = upstreamMessage(bodyText);
  const message = raw || `HTTP ${status} with an empty body`;
  const isContext =
    (status === 400 || status === 413 || status === 422) && isContextLengthError(message, type);
  let cause: FailureCause;
  if (isContext) cause = 'context_length';
  else if (status === 429) cause = 'rate_limited';
  else if (status === 503) cause = 'overloaded';
  else if (status === 401 || status === 403) cause = 'upstream_auth';
  else if (status === 404) cause = 'model_not_found';
  else if (status >= 500 || status === 424 || status === 408) cause = 'server_error';
  else if (status >= 400) cause = 'invalid_request';
  else cause = 'server_error';
  return { cause, endpoint, status, message, retryAfterMs, upstreamType: type, upstreamCode: code };
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

/**
 * mlx_lm's refusal: it validates the request in the handler thread and raises outside any try
 * block, so the socket closes cleanly (FIN) after the body was read, with no response byte. Undici
 * reports that as UND_ERR_SOCKET "other side closed"; a reset (RST) is ECONNRESET and stays a reset.
 * Only an mlx endpoint, only before any header: a crash shows on the next connection as refused.
 */
export function silentClose(endpoint: string, dialect: string, error: unknown): UpstreamFailure | undefined {
  const e = error as { code?: string; message?: string } | undefined;
  if (dialect !== 'mlx' || e?.code !== 'UND_ERR_SOCKET' || !/other side closed/i.test(e.message ?? ''))
    return undefined;
  return {
    cause: 'closed_without_answer',
    endpoint,
    message:
      'closed the connection without an answer, as mlx_lm does when it refuses a value in the request ' +
      '(validate_model_parameters raises); not counted against the endpoint',
  };
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
