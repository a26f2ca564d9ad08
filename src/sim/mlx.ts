// mlx_lm.server on the wire (wire-formats.md §4): Python json.dumps spacing, no role-only chunk but
// `"role": "assistant"` in every delta, `: keepalive done/total` comments while the prompt is
// processed, a final chunk holding only the role, a usage chunk with object "chat.completion",
// and a mid-stream error that just closes the socket.
import type { ChatWire, SimUsage, StreamIds, TokenKind } from './wire.ts';
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
