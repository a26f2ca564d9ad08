// What one SSE `data:` payload from any of the fleet's servers means (wire-formats §11): the end
// marker, an error frame, a usage-only chunk, or a delta that does or does not carry a token.
// Role-only and empty deltas carry no token: they must not stop the TTFT clock, and the gateway
// holds them back so a failure before the first token can still fail over.

export interface UsageCounts {
  readonly promptTokens?: number;
  readonly completionTokens?: number;
}

export type StreamChunk =
  | { readonly kind: 'done' }
  | { readonly kind: 'error'; readonly message: string; readonly status?: number }
  | { readonly kind: 'invalid'; readonly message: string }
  | {
      readonly kind: 'delta';
      /** Content text (chat `delta.content`, completions `text`) of choice 0. */
      readonly content: string;
      /** Reasoning text (`reasoning_content` or `reasoning`) of choice 0. */
      readonly reasoning: string;
      /** True when any choice carries content, reasoning or a tool call: this is a token. */
      readonly hasToken: boolean;
      readonly finishReason?: string;
      /**
       * Present on usage chunks (vLLM/mlx: `choices: []`) and on llama.cpp's final chunk; on every
       * chunk with vLLM's `continuous_usage_stats` and llama.cpp's `timings_per_token` (running
       * counts).
       */
      readonly usage?: UsageCounts;
      /** No choices at all: a usage-only chunk the client may not have asked for. */
      readonly usageOnly: boolean;
    };

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function parseStreamChunk(data: string): StreamChunk {
  if (data === '[DONE]') return { kind: 'done' };
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return { kind: 'invalid', message: `malformed chunk: ${data.slice(0, 120)}` };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { kind: 'invalid', message: `unexpected chunk: ${data.slice(0, 120)}` };
  }
  const b = body as Json;
  if (b.error !== undefined && b.error !== null) {
    const err = b.error;
    if (typeof err === 'string') return { kind: 'error', message: err };
    const e = err as Json;
    const code = typeof e.code === 'number' ? e.code : undefined;
    return { kind: 'error', message: str(e.message) || JSON.stringify(e), status: code };
  }
  const choices = Array.isArray(b.choices) ? (b.choices as Json[]) : undefined;
  if (!choices) return { kind: 'invalid', message: `chunk without choices: ${data.slice(0, 120)}` };
  let content = '';
  let reasoning = '';
  let hasToken = false;
  let finishReason: string | undefined;
  for (const choice of choices) {
    if (!choice || typeof choice !== 'object') continue;
    const delta = (choice.delta ?? undefined) as Json | undefined;
    const c = delta ? str(delta.content) : str(choice.text);
    const r = delta ? str(delta.reasoning_content) || str(delta.reasoning) : '';
    const tools = delta !== undefined && Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0;
    if (c !== '' || r !== '' || tools) hasToken = true;
    if ((choice.index ?? 0) === 0) {
      content = c;
      reasoning = r;
      if (typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
    }
  }
  let usage: UsageCounts | undefined;
  if (b.usage && typeof b.usage === 'object') {
    const u = b.usage as Json;
    usage = {
      promptTokens: typeof u.prompt_tokens === 'number' ? u.prompt_tokens : undefined,
      completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : undefined,
    };
  } else if (b.timings && typeof b.timings === 'object') {
    // llama.cpp with `timings_per_token`: running counts on every chunk (prompt = processed + cached).
    const t = b.timings as Json;
    const promptN = typeof t.prompt_n === 'number' ? t.prompt_n : undefined;
    const cacheN = typeof t.cache_n === 'number' ? t.cache_n : 0;
    usage = {
      promptTokens: promptN !== undefined ? promptN + cacheN : undefined,
      completionTokens: typeof t.predicted_n === 'number' ? t.predicted_n : undefined,
    };
  }
  return {
    kind: 'delta',
    content,
    reasoning,
    hasToken,
    finishReason,
    usage,
    usageOnly: choices.length === 0,
  };
}
