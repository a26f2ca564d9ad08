// What each server refuses beyond the OpenAI ranges the gateway checks for every request. The
// gateway asks before sending: a value one server refuses is answered with a 400 naming the field
// and that server's limit, instead of reaching a server that answers it badly — mlx_lm raises
// outside any try block and closes the connection without a response, which looks exactly like a
// crash and would otherwise be retried as a reset and counted against a healthy endpoint.
//
// Sources: mlx_lm/server.py `validate_model_parameters` (v0.31.2 and later: `_validate` with
// min/max per field; v0.31.0–0.31.1 top_logprobs 1..10; ≤ v0.30 `logprobs` was an integer),
// vLLM SamplingParams._verify_args and protocol validators, llama.cpp `oaicompat_chat_params_parse`.
import type { Dialect } from '../fleet/index.ts';

export interface RefusedParameter {
  /** The request field, as the client wrote it (OpenAI's `param`). */
  readonly param: string;
  /** The server's rule, in words: "an integer of at least 0". */
  readonly limit: string;
  /** Where the rule comes from (server and version), for the message. */
  readonly server: string;
}

type Body = Readonly<Record<string, unknown>>;
type Rule = (body: Body, operation: 'chat' | 'completion') => RefusedParameter | undefined;

const MLX = 'mlx_lm ≥ 0.31.2 (validate_model_parameters; it closes the connection without an answer)';
const VLLM = 'vLLM (SamplingParams)';
const LLAMACPP = 'llama.cpp llama-server';

function present(body: Body, field: string): boolean {
  return body[field] !== undefined && body[field] !== null;
}

function isInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Python's isinstance(v, int) for an mlx_lm field: JSON integers arrive as int, others as float. */
function intAtLeast(field: string, min: number): Rule {
  return (body) => {
    const v = body[field];
    if (!present(body, field)) return undefined;
    return isInt(v) && (v as number) >= min
      ? undefined
      : { param: field, limit: `an integer of at least ${min}`, server: MLX };
  };
}

/**
 * mlx_lm checks `isinstance(value, float)` for the XTC fields. The gateway re-encodes the body, and
 * JSON has no way to say 1.0 rather than 1: an integral value reaches Python as int and is refused.
 */
function floatBetween(field: string, min: number, max: number): Rule {
  return (body) => {
    const v = body[field];
    if (!present(body, field)) return undefined;
    return typeof v === 'number' && !Number.isInteger(v) && v >= min && v <= max
      ? undefined
      : {
          param: field,
          limit: `a non-integral number between ${min} and ${max} (a JSON integer such as 0 or 1 is refused)`,
          server: MLX,
        };
  };
}

const RULES: Record<Dialect, readonly Rule[]> = {
  mlx: [
    intAtLeast('top_k', 0),
    (body) =>
      present(body, 'top_logprobs') && (body.top_logprobs as number) > 11
        ? { param: 'top_logprobs', limit: 'at most 11', server: MLX }
        : undefined,
    (body) =>
      present(body, 'logprobs') && typeof body.logprobs !== 'boolean'
        ? { param: 'logprobs', limit: 'a boolean (also on /v1/completions)', server: MLX }
        : undefined,
    // Not refused but ignored: mlx_lm answers one choice whatever `n` says.
    (body) =>
      present(body, 'n') && body.n !== 1
        ? { param: 'n', limit: '1 (mlx_lm always answers with one choice)', server: 'mlx_lm' }
        : undefined,
    intAtLeast('num_draft_tokens', 0),
    intAtLeast('repetition_context_size', 0),
    intAtLeast('presence_context_size', 0),
    intAtLeast('frequency_context_size', 0),
    floatBetween('xtc_probability', 0, 1),
    floatBetween('xtc_threshold', 0, 1),
    (body) =>
      present(body, 'adapters') && typeof body.adapters !== 'string'
        ? { param: 'adapters', limit: 'a string (one adapter path)', server: MLX }
        : undefined,
  ],
  vllm: [
    (body) =>
      present(body, 'top_p') && (body.top_p as number) <= 0
        ? { param: 'top_p', limit: 'in (0, 1]', server: VLLM }
        : undefined,
    (body) =>
      present(body, 'repetition_penalty') && (body.repetition_penalty as number) <= 0
        ? { param: 'repetition_penalty', limit: 'greater than 0', server: VLLM }
        : undefined,
    (body) => {
      if (!present(body, 'min_tokens')) return undefined;
      const v = body.min_tokens;
      const max = body.max_completion_tokens ?? body.max_tokens;
      if (!isInt(v) || (v as number) < 0)
        return { param: 'min_tokens', limit: 'an integer of at least 0', server: VLLM };
      return typeof max === 'number' && (v as number) > max
        ? { param: 'min_tokens', limit: `at most max_tokens (${max})`, server: VLLM }
        : undefined;
    },
  ],
  llamacpp: [
    (body) =>
      present(body, 'n') && body.n !== 1
        ? { param: 'n', limit: '1 ("Only one completion choice is allowed")', server: LLAMACPP }
        : undefined,
  ],
  tei: [],
};

/** The first parameter of `body` the dialect's server refuses, or undefined when it takes them all. */
export function refusedParameter(
  dialect: Dialect,
  body: Body,
  operation: 'chat' | 'completion',
): RefusedParameter | undefined {
  for (const rule of RULES[dialect]) {
    const refused = rule(body, operation);
    if (refused) return refused;
  }
  return undefined;
}
