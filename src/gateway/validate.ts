// Request validation with OpenAI-shaped 400s that name the wrong field, before anything is sent
// upstream: the fields the gateway relies on and every sampling parameter the OpenAI API and the
// fleet's servers accept. What one server refuses beyond these is in upstream/dialect-params.ts.
// Unknown fields pass through untouched.
import { refusedParameter } from '../upstream/dialect-params.ts';
import { HttpError } from './http.ts';
import type { RoutedRequest } from './route-request.ts';

export type Json = Record<string, unknown>;

function bad(param: string, message: string): HttpError {
  return new HttpError(400, message, { param, code: 'invalid_value' });
}

export function parseJsonBody(raw: Buffer): Json {
  if (raw.length === 0)
    throw new HttpError(400, 'the request body is empty; send a JSON object', { code: 'invalid_json' });
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `the request body is not valid JSON (${(e as Error).message})`, {
      code: 'invalid_json',
    });
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object', { code: 'invalid_json' });
  }
  return body as Json;
}

function optionalPositiveInt(body: Json, field: string, max?: number): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || (max !== undefined && v > max)) {
    throw bad(
      field,
      `'${field}' must be a positive integer${max !== undefined ? ` of at most ${max}` : ''}, got ${JSON.stringify(v)}`,
    );
  }
}

function optionalInt(body: Json, field: string, min: number, max: number): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER
        ? `of at least ${min}`
        : min === Number.MIN_SAFE_INTEGER
          ? `of at most ${max}`
          : `between ${min} and ${max}`;
    throw bad(field, `'${field}' must be an integer ${range}, got ${JSON.stringify(v)}`);
  }
}

function optionalNumber(body: Json, field: string, min: number, max: number): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    const range = max === Number.POSITIVE_INFINITY ? `of at least ${min}` : `between ${min} and ${max}`;
    throw bad(field, `'${field}' must be a number ${range}, got ${JSON.stringify(v)}`);
  }
}

/** `stop`: a string or an array of strings (OpenAI allows 4; the servers take more). */
function optionalStop(body: Json): void {
  const v = body.stop;
  if (v === undefined || v === null || typeof v === 'string') return;
  if (!Array.isArray(v)) throw bad('stop', `'stop' must be a string or an array of strings`);
  v.forEach((s: unknown, i) => {
    if (typeof s !== 'string')
      throw bad(`stop[${i}]`, `'stop[${i}]' must be a string, got ${JSON.stringify(s)}`);
  });
}

/** `logit_bias`: token id (as a string of digits) → bias between -100 and 100. */
function optionalLogitBias(body: Json): void {
  const v = body.logit_bias;
  if (v === undefined || v === null) return;
  if (typeof v !== 'object' || Array.isArray(v))
    throw bad(
      'logit_bias',
      `'logit_bias' must be an object mapping token ids to a bias between -100 and 100`,
    );
  for (const [key, bias] of Object.entries(v as Json)) {
    if (!/^\d+$/.test(key))
      throw bad(
        'logit_bias',
        `'logit_bias' keys must be token ids (non-negative integers), got ${JSON.stringify(key)}`,
      );
    if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100)
      throw bad(
        'logit_bias',
        `'logit_bias[${key}]' must be a number between -100 and 100, got ${JSON.stringify(bias)}`,
      );
  }
}

/** OpenAI's ranges, widened where every server of the fleet accepts more (top_k, min_p, penalties). */
function sampling(body: Json, operation: 'chat' | 'completion'): void {
  optionalPositiveInt(body, 'max_tokens');
  optionalPositiveInt(body, 'max_completion_tokens');
  optionalPositiveInt(body, 'n', 128);
  optionalNumber(body, 'temperature', 0, 2);
  optionalNumber(body, 'top_p', 0, 1);
  // -1 and 0 disable top-k on vLLM and llama.cpp; mlx_lm refuses -1 (see the dialect limits).
  optionalInt(body, 'top_k', -1, Number.MAX_SAFE_INTEGER);
  optionalNumber(body, 'min_p', 0, 1);
  optionalNumber(body, 'presence_penalty', -2, 2);
  optionalNumber(body, 'frequency_penalty', -2, 2);
  optionalNumber(body, 'repetition_penalty', 0, Number.POSITIVE_INFINITY);
  optionalInt(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  optionalLogitBias(body);
  optionalStop(body);
  if (operation === 'chat') {
    if (body.logprobs !== undefined && body.logprobs !== null && typeof body.logprobs !== 'boolean')
      throw bad('logprobs', `'logprobs' must be a boolean, got ${JSON.stringify(body.logprobs)}`);
    optionalInt(body, 'top_logprobs', 0, 20);
    if (body.top_logprobs !== undefined && body.top_logprobs !== null && body.logprobs !== true)
      throw bad('top_logprobs', `'top_logprobs' needs 'logprobs' set to true`);
  } else {
    // The legacy completions API: logprobs is the number of top tokens per position.
    optionalInt(body, 'logprobs', 0, 20);
  }
}

function common(body: Json, operation: 'chat' | 'completion'): void {
  if (body.model !== undefined && (typeof body.model !== 'string' || body.model.trim() === '')) {
    throw bad(
      'model',
      `'model' must be a non-empty string (an endpoint, a model id or a route such as 'auto')`,
    );
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw bad('stream', `'stream' must be a boolean, got ${JSON.stringify(body.stream)}`);
  }
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (typeof body.stream_options !== 'object' || Array.isArray(body.stream_options)) {
      throw bad('stream_options', `'stream_options' must be an object`);
    }
    if (body.stream !== true)
      throw bad('stream_options', `'stream_options' is only allowed when 'stream' is true`);
  }
  sampling(body, operation);
}

export function validateChat(body: Json): void {
  common(body, 'chat');
  const messages = body.messages;
  if (!Array.isArray(messages))
    throw bad('messages', `'messages' is required and must be an array of messages`);
  if (messages.length === 0) throw bad('messages', `'messages' must contain at least one message`);
  messages.forEach((m: unknown, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m))
      throw bad(`messages[${i}]`, `'messages[${i}]' must be an object`);
    const role = (m as Json).role;
    if (
      typeof role !== 'string' ||
      !['system', 'user', 'assistant', 'tool', 'developer', 'function'].includes(role)
    ) {
      throw bad(
        `messages[${i}].role`,
        `'messages[${i}].role' must be one of system, user, assistant, tool, developer; got ${JSON.stringify(role)}`,
      );
    }
    const content = (m as Json).content;
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      throw bad(
        `messages[${i}].content`,
        `'messages[${i}].content' must be a string or an array of content parts`,
      );
    }
  });
}

export function validateCompletion(body: Json): void {
  common(body, 'completion');
  const p = body.prompt;
  const ok =
    typeof p === 'string' ||
    (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string' || typeof x === 'number'));
  if (!ok) throw bad('prompt', `'prompt' is required and must be a string or an array of strings`);
}

export function validateEmbeddings(body: Json): void {
  if (body.model !== undefined && (typeof body.model !== 'string' || body.model.trim() === '')) {
    throw bad('model', `'model' must be a non-empty string`);
  }
  const input = body.input;
  const isTokens = (x: unknown): boolean =>
    Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t));
  const ok =
    (typeof input === 'string' && input.length > 0) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      (input.every((x) => typeof x === 'string') ||
        input.every((x) => Number.isInteger(x)) ||
        input.every(isTokens)));
  if (!ok) {
    throw bad('input', `'input' is required: a non-empty string, an array of strings, or token arrays`);
  }
  if (
    body.encoding_format !== undefined &&
    body.encoding_format !== 'float' &&
    body.encoding_format !== 'base64'
  ) {
    throw bad('encoding_format', `'encoding_format' must be 'float' or 'base64'`);
  }
  optionalPositiveInt(body, 'dimensions');
}

const NULLABLE_SAMPLING = [
  'max_tokens',
  'max_completion_tokens',
  'n',
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'presence_penalty',
  'frequency_penalty',
  'repetition_penalty',
  'logprobs',
  'top_logprobs',
  'seed',
  'logit_bias',
  'stop',
  // mlx_lm's own fields: None is no int or float there either.
  'num_draft_tokens',
  'repetition_context_size',
  'presence_context_size',
  'frequency_context_size',
  'xtc_probability',
  'xtc_threshold',
] as const;

/**
 * What the routed endpoints' servers refuse (upstream/dialect-params.ts): a value the first
 * candidate refuses is the client's mistake, answered here with the field and that server's limit;
 * a later candidate that would refuse it is dropped from the failover order instead.
 */
export function admitParameters(
  routed: RoutedRequest,
  body: Json,
  operation: 'chat' | 'completion',
): RoutedRequest {
  // `null` means "the default" in the OpenAI API; mlx_lm reads it as a value and refuses it.
  for (const field of NULLABLE_SAMPLING) if (body[field] === null) delete body[field];
  // mlx_lm wants XTC values as floats and JSON writes 0.0 as 0; 0 is its default, so it is left out.
  for (const field of ['xtc_probability', 'xtc_threshold']) if (body[field] === 0) delete body[field];
  const first = routed.candidates[0];
  if (!first) return routed;
  const refused = refusedParameter(first.dialect, body, operation);
  if (refused) {
    throw new HttpError(
      400,
      `'${refused.param}' = ${JSON.stringify(body[refused.param])} is refused by ${first.name}: ${refused.server} takes ${refused.limit}`,
      { param: refused.param, code: 'unsupported_value' },
    );
  }
  const candidates = routed.candidates.filter(
    (e) => refusedParameter(e.dialect, body, operation) === undefined,
  );
  return candidates.length === routed.candidates.length ? routed : { ...routed, candidates };
}
