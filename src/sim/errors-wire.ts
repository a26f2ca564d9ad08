// Error responses as each server writes them (wire-formats.md §3.5, §4.3, §5.5, §6.5, §10.3).
import type { Dialect } from '../fleet/types.ts';
import { llamacppErrorBody } from './llamacpp.ts';
import { mlxErrorBody } from './mlx.ts';
import { atLeast } from './version.ts';
import { vllmChatMessageSuffix, vllmErrorBody } from './vllm.ts';

export interface WireError {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const JSON_TYPE = 'application/json';

/** vLLM's `type` per status (ErrorResponse), as llm-d-inference-sim derives it too. */
const VLLM_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  404: 'NotFoundError',
  422: 'UnprocessableEntityError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};
const LLAMACPP_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'not_found_error',
  429: 'unavailable_error',
  500: 'server_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};
const TEI_TYPES: Record<number, string> = {
  400: 'Empty',
  413: 'PayloadTooLarge',
  422: 'Validation',
  424: 'Backend',
  429: 'Overloaded',
  503: 'Unhealthy',
};

/** A generic error of the given status in the dialect's shape. */
export function dialectError(
  dialect: Dialect,
  version: string,
  status: number,
  message: string,
  type?: string,
): WireError {
  switch (dialect) {
    case 'vllm':
      return {
        status,
        contentType: JSON_TYPE,
        body: vllmErrorBody(version, message, type ?? VLLM_TYPES[status] ?? 'InternalServerError', status),
      };
    case 'llamacpp':
      return {
        status,
        contentType: 'application/json; charset=utf-8',
        body: llamacppErrorBody(status, message, type ?? LLAMACPP_TYPES[status] ?? 'server_error'),
      };
    case 'mlx':
      return { status, contentType: JSON_TYPE, body: mlxErrorBody(message) };
    case 'tei':
      return {
        status,
        contentType: JSON_TYPE,
        body: JSON.stringify({ message, code: status, type: type ?? TEI_TYPES[status] ?? 'Backend' }),
      };
  }
}

/** An injected 500/503/429, optionally with Retry-After. */
export function injectedStatusError(
  dialect: Dialect,
  version: string,
  status: number,
  retryAfterSeconds?: number,
): WireError {
  const message =
    status === 429
      ? dialect === 'tei'
        ? 'Model is overloaded'
        : 'Rate limit exceeded (simulated)'
      : status === 503
        ? dialect === 'llamacpp'
          ? 'Service unavailable (simulated)'
          : 'The server is overloaded or not ready yet.'
        : 'Internal server error (simulated)';
  const e = dialectError(dialect, version, status, message);
  return retryAfterSeconds === undefined
    ? e
    : { ...e, headers: { 'retry-after': String(retryAfterSeconds) } };
}

export interface ContextOverflow {
  readonly promptTokens: number;
  readonly contextWindowTokens: number;
  /** Set when the prompt fits but prompt + max_tokens does not (vLLM's second message). */
  readonly maxTokens?: number;
  readonly chat: boolean;
  /** TEI: the input's length in characters (its first check, before tokenising). */
  readonly characters?: number;
  /** llama.cpp embeddings word it differently from completions. */
  readonly embeddings?: boolean;
}

/**
 * vLLM from this version words overflows as its renderer does (`vllm/renderers/params.py`). Not
 * verified at a tag: a public vLLM log dated 2026-06-19 (before v0.24.0, 2026-07-01) already shows
 * it, so the real first release is probably earlier; the gateway recognises every wording anyway.
 */
export const VLLM_RENDERER_WORDING = '0.25.0';
/** vLLM before this worded them "you requested N tokens (P in the messages, C in the completion)". */
export const VLLM_REQUEST_HAS_WORDING = '0.10.0';
/** llama.cpp PR #16486 (2025-10-10): from here a first-result error is an HTTP status, not a stream event. */
export const LLAMACPP_HTTP_FIRST_ERROR = 'b6715';
/** TEI's first check: at most max_input_length × 250 characters (core/src/tokenization.rs). */
export const TEI_MAX_CHAR_MULTIPLIER = 250;

function vllmContextMessage(version: string, c: ContextOverflow): string {
  const n = c.contextWindowTokens;
  const p = c.promptTokens;
  if (!atLeast(version, VLLM_REQUEST_HAS_WORDING)) {
    return c.maxTokens === undefined
      ? `This model's maximum context length is ${n} tokens. However, you requested ${p} tokens in the messages, Please reduce the length of the messages.`
      : `This model's maximum context length is ${n} tokens. However, you requested ${p + c.maxTokens} tokens (${p} in the messages, ${c.maxTokens} in the completion). Please reduce the length of the messages or completion.`;
  }
  if (atLeast(version, VLLM_RENDERER_WORDING)) {
    const out = c.maxTokens ?? 0;
    if (out > n)
      return `max_tokens=${out} cannot be greater than max_model_len=max_total_tokens=${n}. Please request fewer output tokens.`;
    // The renderer tokenises at most the window's worth of the prompt: past it, it knows "at least".
    if (p + out > n && p >= n) {
      const seen = n - out + 1;
      return `This model's maximum context length is ${n} tokens. However, you requested ${out} output tokens and your prompt contains at least ${seen} input tokens, for a total of at least ${seen + out} tokens. Please reduce the length of the input prompt or the number of requested output tokens.`;
    }
    return `This model's maximum context length is ${n} tokens. However, you requested ${out} output tokens and your prompt contains ${p} input tokens, for a total of ${p + out} tokens. Please reduce the length of the input prompt or the number of requested output tokens.`;
  }
  const suffix = c.chat ? vllmChatMessageSuffix(version) : '';
  return c.maxTokens === undefined
    ? `This model's maximum context length is ${n} tokens. However, your request has ${p} input tokens. Please reduce the length of the input messages.${suffix}`
    : `'max_tokens' or 'max_completion_tokens' is too large: ${c.maxTokens}. This model's maximum context length is ${n} tokens and your request has ${p} input tokens (${c.maxTokens} > ${n} - ${p}).${suffix}`;
}

/** The context-length error, or undefined for mlx_lm (it has no context check). */
export function contextError(dialect: Dialect, version: string, c: ContextOverflow): WireError | undefined {
  switch (dialect) {
    case 'vllm':
      return dialectError('vllm', version, 400, vllmContextMessage(version, c), 'BadRequestError');
    case 'llamacpp':
      return {
        status: 400,
        contentType: 'application/json; charset=utf-8',
        body: c.embeddings
          ? llamacppErrorBody(
              400,
              `input (${c.promptTokens} tokens) is larger than the max context size (${c.contextWindowTokens} tokens). skipping`,
              'exceed_context_size_error',
            )
          : llamacppErrorBody(
              400,
              `request (${c.promptTokens} tokens) exceeds the available context size (${c.contextWindowTokens} tokens), try increasing it`,
              'exceed_context_size_error',
              { n_prompt_tokens: c.promptTokens, n_ctx: c.contextWindowTokens },
            ),
      };
    case 'tei': {
      // TextEmbeddingsError::Validation displays as "Input validation error: …".
      const limit = c.contextWindowTokens * TEI_MAX_CHAR_MULTIPLIER;
      const message =
        c.characters !== undefined && c.characters > limit
          ? `Input validation error: \`inputs\` must have less than ${limit} characters. Given: ${c.characters}`
          : `Input validation error: \`inputs\` must have less than ${c.contextWindowTokens} tokens. Given: ${c.promptTokens}`;
      return dialectError('tei', version, 422, message, 'Validation');
    }
    case 'mlx':
      return undefined;
  }
}

/**
 * llama.cpp before PR #16486 answered a streaming request whose first result was an error with
 * status 200, a non-standard `error:` field line and `[DONE]` (wire-formats §5.4).
 */
export function llamacppLegacyStreamError(error: WireError): string {
  return `error: ${error.body}\n\ndata: [DONE]\n\n`;
}

/** What an unknown route answers. */
export function notFound(dialect: Dialect): WireError {
  switch (dialect) {
    case 'vllm':
      return { status: 404, contentType: JSON_TYPE, body: '{"detail":"Not Found"}' };
    case 'mlx':
      return { status: 404, contentType: 'text/plain', body: 'Not Found' };
    case 'llamacpp':
      return {
        status: 404,
        contentType: 'application/json; charset=utf-8',
        body: llamacppErrorBody(404, 'File Not Found', 'not_found_error'),
      };
    case 'tei':
      return { status: 404, contentType: 'text/plain', body: '' };
  }
}
