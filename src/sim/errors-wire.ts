// Error responses as each server writes them (wire-formats.md §3.5, §4.3, §5.5, §6.5, §10.3).
import type { Dialect } from '../fleet/types.ts';
import { llamacppErrorBody } from './llamacpp.ts';
import { mlxErrorBody } from './mlx.ts';
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
}

/** The context-length error, or undefined for mlx_lm (it has no context check). */
export function contextError(dialect: Dialect, version: string, c: ContextOverflow): WireError | undefined {
  switch (dialect) {
    case 'vllm': {
      const suffix = c.chat ? vllmChatMessageSuffix(version) : '';
      const message =
        c.maxTokens === undefined
          ? `This model's maximum context length is ${c.contextWindowTokens} tokens. However, your request has ${c.promptTokens} input tokens. Please reduce the length of the input messages.${suffix}`
          : `'max_tokens' or 'max_completion_tokens' is too large: ${c.maxTokens}. This model's maximum context length is ${c.contextWindowTokens} tokens and your request has ${c.promptTokens} input tokens (${c.maxTokens} > ${c.contextWindowTokens} - ${c.promptTokens}).${suffix}`;
      return dialectError('vllm', version, 400, message, 'BadRequestError');
    }
    case 'llamacpp':
      return {
        status: 400,
        contentType: 'application/json; charset=utf-8',
        body: llamacppErrorBody(
          400,
          `request (${c.promptTokens} tokens) exceeds the available context size (${c.contextWindowTokens} tokens), try increasing it`,
          'exceed_context_size_error',
          { n_prompt_tokens: c.promptTokens, n_ctx: c.contextWindowTokens },
        ),
      };
    case 'tei':
      return dialectError(
        'tei',
        version,
        422,
        `\`inputs\` must have less than ${c.contextWindowTokens} tokens. Given: ${c.promptTokens}`,
        'Validation',
      );
    case 'mlx':
      return undefined;
  }
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
