// Request validation with OpenAI-shaped 400s that name the wrong field, before anything is sent
// upstream. Only what the gateway relies on is checked; other fields pass through untouched.
import { HttpError } from './http.ts';

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

function optionalPositiveInt(body: Json, field: string): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw bad(field, `'${field}' must be a positive integer, got ${JSON.stringify(v)}`);
  }
}

function optionalNumber(body: Json, field: string, min: number, max: number): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw bad(field, `'${field}' must be a number between ${min} and ${max}, got ${JSON.stringify(v)}`);
  }
}

function common(body: Json): void {
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
  optionalPositiveInt(body, 'max_tokens');
  optionalPositiveInt(body, 'max_completion_tokens');
  optionalPositiveInt(body, 'n');
  optionalNumber(body, 'temperature', 0, 2);
  optionalNumber(body, 'top_p', 0, 1);
}

export function validateChat(body: Json): void {
  common(body);
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
  common(body);
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
