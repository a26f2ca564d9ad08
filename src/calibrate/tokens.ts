// Counting tokens the way the server does, for what calibrate must not assume: the real length of
// its synthetic prompt, and the completion length when the server sends no usage. The exact count
// is the server's own POST /tokenize (vLLM, llama.cpp) — the counter routing uses near a threshold;
// without one a count is only an estimate, and says so.
import type { Dialect } from '../fleet/index.ts';
import type { HttpTarget } from './http.ts';
import { timedRequest } from './http.ts';

/** Where a token count came from, best first. */
export type CountSource = 'usage' | 'tokenize' | 'chunks' | 'assumed';

export interface ServerTokenizer {
  /** Tokens in plain text (no chat template), or undefined when the server did not answer. */
  text(text: string): Promise<number | undefined>;
  /** Tokens of a chat prompt with the template applied where the server can (vLLM); else the text. */
  chat(messages: readonly { role: string; content: string }[]): Promise<number | undefined>;
  /** True once a /tokenize call failed: later counts are estimates. */
  readonly unavailable: boolean;
}

const TIMEOUT_MS = 10_000;

/** The server's /tokenize, for the dialects that have one; undefined otherwise (mlx_lm, TEI). */
export function serverTokenizer(
  target: HttpTarget,
  dialect: Dialect,
  model: string,
): ServerTokenizer | undefined {
  if (dialect !== 'vllm' && dialect !== 'llamacpp') return undefined;
  let failed = false;
  const ask = async (body: Record<string, unknown>): Promise<number | undefined> => {
    if (failed) return undefined;
    const r = await timedRequest(target, 'POST', '/tokenize', body, TIMEOUT_MS);
    if (!r.ok) {
      failed = true;
      return undefined;
    }
    try {
      const j = JSON.parse(r.text) as { count?: unknown; tokens?: unknown };
      if (typeof j.count === 'number') return j.count;
      if (Array.isArray(j.tokens)) return j.tokens.length;
    } catch {
      // fall through
    }
    failed = true;
    return undefined;
  };
  return {
    // vLLM: {prompt} → {count, tokens}; llama.cpp: {content} → {tokens}.
    text: (text) =>
      ask(dialect === 'vllm' ? { model, prompt: text, add_special_tokens: false } : { content: text }),
    chat: (messages) =>
      dialect === 'vllm'
        ? ask({ model, messages, add_generation_prompt: true })
        : ask({ content: messages.map((m) => m.content).join('\n') }),
    get unavailable() {
      return failed;
    },
  };
}
