// mlx_lm.server on the wire (wire-formats.md §4): Python json.dumps spacing, no role-only chunk but
// `"role": "assistant"` in every delta, `: keepalive done/total` comments while the prompt is
// processed, a final chunk holding only the role, a usage chunk with object "chat.completion",
// and a mid-stream error that just closes the socket.
import type { ChatWire, SimUsage, StreamIds, TokenKind } from './wire.ts';
import { atLeast } from './version.ts';
import { DONE_EVENT, pythonJson, sseData } from './wire.ts';

/** mlx_lm's prefill step (prompt tokens processed between two keep-alive comments). */
export const MLX_PREFILL_STEP_TOKENS = 2048;
/** mlx_lm's default --max-tokens. */
export const MLX_DEFAULT_MAX_TOKENS = 512;

export function mlxFingerprint(version: string): string {
  return `${version}-0.29.3-macOS-15.6-arm64-applegpu_g14s`;
}

export function mlxWire(): ChatWire {
  const chunk = (ids: StreamIds, object: string, choices: unknown[], usage?: SimUsage): string =>
    pythonJson({
      id: ids.id,
      system_fingerprint: ids.fingerprint,
      object,
      model: ids.model,
      created: ids.created,
      choices,
      usage: usage ? usageObject(usage) : undefined,
    });
  const delta = (kind: TokenKind, text: string): Record<string, string> =>
    kind === 'content' ? { role: 'assistant', content: text } : { role: 'assistant', reasoning: text };
  return {
    headersBeforeFirstToken: true,
    streamContentType: 'text/event-stream',
    finishOnLastToken: false,
    roleEvent: () => undefined,
    tokenEvent: (ids, kind, text) =>
      sseData(
        chunk(ids, 'chat.completion.chunk', [{ index: 0, finish_reason: null, delta: delta(kind, text) }]),
      ),
    endEvents: (ids, finish, _sent, usage, includeUsage, _timings, withDone) => {
      let out = sseData(
        chunk(ids, 'chat.completion.chunk', [
          { index: 0, finish_reason: finish, delta: { role: 'assistant' } },
        ]),
      );
      if (includeUsage) out += sseData(chunk(ids, 'chat.completion', [], usage));
      if (withDone) out += DONE_EVENT;
      return out;
    },
    midStreamError: () => 'close',
    prefillComment: (done, total) => `: keepalive ${done}/${total}\n\n`,
    completionBody: (ids, reasoning, content, finish, usage) =>
      chunk(
        ids,
        'chat.completion',
        [
          {
            index: 0,
            finish_reason: finish,
            message: {
              role: 'assistant',
              content: content === '' ? null : content,
              reasoning: reasoning === '' ? undefined : reasoning,
            },
          },
        ],
        usage,
      ),
    textEvent: (ids, text, finish) =>
      sseData(chunk(ids, 'text_completion', [{ index: 0, finish_reason: finish, text }])),
    textUsageEvent: (ids, usage) => sseData(chunk(ids, 'text_completion', [], usage)),
    textBody: (ids, text, finish, usage) =>
      chunk(ids, 'text_completion', [{ index: 0, finish_reason: finish, text }], usage),
  };
}

function usageObject(u: SimUsage): Record<string, unknown> {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedPromptTokens },
  };
}

/** mlx_lm's error body: `{"error": "<text>"}` (json.dumps spacing). */
export function mlxErrorBody(message: string): string {
  return pythonJson({ error: message });
}

type Body = Record<string, unknown>;

/** Python's isinstance for JSON values: bool is an int, an integral JSON number arrives as int. */
function pyInt(v: unknown): boolean {
  return typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v));
}
function pyNumber(v: unknown): boolean {
  return typeof v === 'boolean' || typeof v === 'number';
}
function pyFloat(v: unknown): boolean {
  return typeof v === 'number' && !Number.isInteger(v);
}
function num(v: unknown): number {
  return typeof v === 'boolean' ? Number(v) : (v as number);
}

/**
 * mlx_lm's `validate_model_parameters` per version: the ValueError it raises (outside any try
 * block, so the server closes the connection without an answer), or undefined. Fields the body
 * leaves out take the server's defaults, which pass; an explicit `null` does not (Python's
 * `body.get(key, default)` returns None, which is no int).
 */
export function mlxRefusal(body: Body, version: string): string | undefined {
  const has = (k: string): boolean => k in body;
  const v = (k: string): unknown => body[k];
  const checks: [boolean, string][] = [];
  const int = (k: string, min: number): void => {
    if (has(k)) checks.push([!pyInt(v(k)) || num(v(k)) < min, `${k} must be a non-negative integer`]);
  };
  const number = (k: string, min?: number, max?: number): void => {
    if (!has(k)) return;
    const x = v(k);
    checks.push([
      !pyNumber(x) || (min !== undefined && num(x) < min) || (max !== undefined && num(x) > max),
      `${k} must be a number${min !== undefined ? ` of at least ${min}` : ''}${max !== undefined ? ` and at most ${max}` : ''}`,
    ]);
  };
  const float = (k: string, max: number): void => {
    if (!has(k)) return;
    const x = v(k);
    checks.push([!pyFloat(x) || num(x) < 0 || num(x) > max, `${k} must be a float between 0.00 and ${max}`]);
  };
  const latest = atLeast(version, '0.31.2');
  const boolLogprobs = atLeast(version, '0.30.6');
  if (has('stream')) checks.push([typeof v('stream') !== 'boolean', 'stream must be a boolean']);
  const maxKey = has('max_completion_tokens') ? 'max_completion_tokens' : 'max_tokens';
  if (has(maxKey))
    checks.push([!pyInt(v(maxKey)) || num(v(maxKey)) < 0, 'max_tokens must be a non-negative integer']);
  number('temperature', 0);
  number('top_p', 0, 1);
  int('top_k', 0);
  number('min_p', 0, 1);
  int('num_draft_tokens', 0);
  number('repetition_penalty', 0);
  int('repetition_context_size', 0);
  if (latest) {
    number('presence_penalty');
    int('presence_context_size', 0);
    number('frequency_penalty');
    int('frequency_context_size', 0);
  }
  if (boolLogprobs) {
    if (has('logprobs')) checks.push([typeof v('logprobs') !== 'boolean', 'logprobs must be a boolean']);
    if (has('top_logprobs')) {
      const t = v('top_logprobs');
      const [lo, hi] = latest ? [0, 11] : [1, 10];
      checks.push([
        !pyInt(t) || (num(t) !== -1 && (num(t) < lo || num(t) > hi)),
        `top_logprobs must be between ${lo} and ${hi}`,
      ]);
    }
  } else if (has('logprobs')) {
    const l = v('logprobs');
    checks.push([
      !pyInt(l) || (num(l) !== -1 && !(num(l) > 0 && num(l) <= 10)),
      'logprobs must be between 1 and 10',
    ]);
  }
  float('xtc_probability', 1);
  float('xtc_threshold', latest ? 1 : 0.5);
  if (has('model')) checks.push([typeof v('model') !== 'string', 'model must be a string']);
  if (has('adapters') && v('adapters') !== null)
    checks.push([typeof v('adapters') !== 'string', 'adapter must be a string']);
  if (has('seed') && v('seed') !== null) checks.push([!pyInt(v('seed')), 'seed must be an integer']);
  const bias = v('logit_bias');
  if (bias !== undefined && bias !== null) {
    const ok =
      typeof bias === 'object' &&
      !Array.isArray(bias) &&
      Object.entries(bias as Body).every(([k, b]) => /^-?\d+$/.test(k.trim()) && pyNumber(b));
    checks.push([!ok, 'logit_bias must be a dict of int to float']);
  }
  return checks.find(([refused]) => refused)?.[1];
}
